// The FUSE kernel protocol (7.x) as far as strata's native loop speaks it.
// Written out here instead of taken from <linux/fuse.h> because the
// distribution's header (Debian 12: 7.38) predates passthrough (7.40); the
// layouts are the kernel ABI and never change for a given minor version.
#ifndef STRATA_FUSE_PROTO_H
#define STRATA_FUSE_PROTO_H
#include <stdint.h>
#include <sys/ioctl.h>

enum fuse_opcode {
  FUSE_LOOKUP = 1, FUSE_FORGET = 2, FUSE_GETATTR = 3, FUSE_SETATTR = 4,
  FUSE_READLINK = 5, FUSE_SYMLINK = 6, FUSE_MKNOD = 8, FUSE_MKDIR = 9,
  FUSE_UNLINK = 10, FUSE_RMDIR = 11, FUSE_RENAME = 12, FUSE_LINK = 13,
  FUSE_OPEN = 14, FUSE_READ = 15, FUSE_WRITE = 16, FUSE_STATFS = 17,
  FUSE_RELEASE = 18, FUSE_FSYNC = 20, FUSE_SETXATTR = 21, FUSE_GETXATTR = 22,
  FUSE_LISTXATTR = 23, FUSE_REMOVEXATTR = 24, FUSE_FLUSH = 25, FUSE_INIT = 26,
  FUSE_OPENDIR = 27, FUSE_READDIR = 28, FUSE_RELEASEDIR = 29, FUSE_FSYNCDIR = 30,
  FUSE_GETLK = 31, FUSE_SETLK = 32, FUSE_SETLKW = 33, FUSE_ACCESS = 34,
  FUSE_CREATE = 35, FUSE_INTERRUPT = 36, FUSE_BMAP = 37, FUSE_DESTROY = 38,
  FUSE_IOCTL = 39, FUSE_POLL = 40, FUSE_NOTIFY_REPLY = 41, FUSE_BATCH_FORGET = 42,
  FUSE_FALLOCATE = 43, FUSE_READDIRPLUS = 44, FUSE_RENAME2 = 45, FUSE_LSEEK = 46,
  FUSE_COPY_FILE_RANGE = 47, FUSE_SYNCFS = 50, FUSE_TMPFILE = 51, FUSE_STATX = 52,
  FUSE_OPCODE_MAX = 64
};

// FUSE_INIT flags (flags | (uint64_t)flags2 << 32).
#define FUSE_ASYNC_READ (1ULL << 0)
#define FUSE_ATOMIC_O_TRUNC (1ULL << 3)
#define FUSE_BIG_WRITES (1ULL << 5)
#define FUSE_DO_READDIRPLUS (1ULL << 13)
#define FUSE_READDIRPLUS_AUTO (1ULL << 14)
#define FUSE_ASYNC_DIO (1ULL << 15)
#define FUSE_PARALLEL_DIROPS (1ULL << 18)
#define FUSE_MAX_PAGES (1ULL << 22)
#define FUSE_CACHE_SYMLINKS (1ULL << 23)
#define FUSE_NO_OPENDIR_SUPPORT (1ULL << 24)
#define FUSE_HANDLE_KILLPRIV_V2 (1ULL << 28)
#define FUSE_INIT_EXT (1ULL << 30)
#define FUSE_DIRECT_IO_ALLOW_MMAP (1ULL << 36)
#define FUSE_PASSTHROUGH (1ULL << 37)

// fuse_open_out.open_flags
#define FOPEN_DIRECT_IO (1u << 0)
#define FOPEN_KEEP_CACHE (1u << 1)
#define FOPEN_CACHE_DIR (1u << 3)
#define FOPEN_PASSTHROUGH (1u << 7)

struct fuse_in_header {
  uint32_t len, opcode;
  uint64_t unique, nodeid;
  uint32_t uid, gid, pid;
  uint16_t total_extlen, padding;
};

struct fuse_out_header {
  uint32_t len;
  int32_t error;
  uint64_t unique;
};

struct fuse_init_in {
  uint32_t major, minor, max_readahead, flags, flags2;
  uint32_t unused[11];
};

struct fuse_init_out {
  uint32_t major, minor, max_readahead, flags;
  uint16_t max_background, congestion_threshold;
  uint32_t max_write, time_gran;
  uint16_t max_pages, map_alignment;
  uint32_t flags2, max_stack_depth;
  uint16_t request_timeout;
  uint16_t unused[11];
};

struct fuse_read_in {
  uint64_t fh, offset;
  uint32_t size, read_flags;
  uint64_t lock_owner;
  uint32_t flags, padding;
};

struct fuse_write_in {
  uint64_t fh, offset;
  uint32_t size, write_flags;
  uint64_t lock_owner;
  uint32_t flags, padding;
};

struct fuse_write_out {
  uint32_t size, padding;
};

struct fuse_fsync_in {
  uint64_t fh;
  uint32_t fsync_flags, padding;
};

struct fuse_fallocate_in {
  uint64_t fh, offset, length;
  uint32_t mode, padding;
};

struct fuse_setattr_in {
  uint32_t valid, padding;
  uint64_t fh, size, lock_owner;
  uint64_t atime, mtime, ctime;
  uint32_t atimensec, mtimensec, ctimensec, mode, unused4, uid, gid, unused5;
};

// fuse_setattr_in.valid
#define FATTR_MODE (1u << 0)
#define FATTR_UID (1u << 1)
#define FATTR_GID (1u << 2)
#define FATTR_SIZE (1u << 3)
#define FATTR_ATIME (1u << 4)
#define FATTR_MTIME (1u << 5)
#define FATTR_FH (1u << 6)
#define FATTR_ATIME_NOW (1u << 7)
#define FATTR_MTIME_NOW (1u << 8)
#define FATTR_LOCKOWNER (1u << 9)
#define FATTR_CTIME (1u << 10)
#define FATTR_KILL_SUIDGID (1u << 11)

// fuse_write_in.write_flags
#define FUSE_WRITE_KILL_SUIDGID (1u << 2)

// Notifications (fuse_out_header.error, unique 0)
#define FUSE_NOTIFY_INVAL_INODE 2
struct fuse_notify_inval_inode_out {
  uint64_t ino;
  int64_t off, len;
};

struct fuse_forget_in {
  uint64_t nlookup;
};

// FUSE_CREATE: this, then the new name (NUL-terminated).
struct fuse_create_in {
  uint32_t flags;
  uint32_t mode;
  uint32_t umask;
  uint32_t open_flags;
};

struct fuse_forget_one {
  uint64_t nodeid;
  uint64_t nlookup;
};

struct fuse_batch_forget_in {
  uint32_t count;
  uint32_t dummy;
};

struct fuse_attr {
  uint64_t ino, size, blocks, atime, mtime, ctime;
  uint32_t atimensec, mtimensec, ctimensec, mode, nlink, uid, gid, rdev, blksize, flags;
};

// GETATTR and SETATTR replies.
struct fuse_attr_out {
  uint64_t attr_valid;
  uint32_t attr_valid_nsec, dummy;
  struct fuse_attr attr;
};

// LOOKUP, CREATE, MKDIR... replies; node id 0 with no attributes is a cacheable "no such entry".
struct fuse_entry_out {
  uint64_t nodeid, generation, entry_valid, attr_valid;
  uint32_t entry_valid_nsec, attr_valid_nsec;
  struct fuse_attr attr;
};

struct fuse_open_out {
  uint64_t fh;
  uint32_t open_flags;
  int32_t backing_id;
};

struct fuse_release_in {
  uint64_t fh;
  uint32_t flags, release_flags;
  uint64_t lock_owner;
};

struct fuse_backing_map {
  int32_t fd;
  uint32_t flags;
  uint64_t padding;
};

#define FUSE_DEV_IOC_MAGIC 229
#define FUSE_DEV_IOC_BACKING_OPEN _IOW(FUSE_DEV_IOC_MAGIC, 1, struct fuse_backing_map)
#define FUSE_DEV_IOC_BACKING_CLOSE _IOW(FUSE_DEV_IOC_MAGIC, 2, uint32_t)

#define FUSE_KERNEL_VERSION 7
// The newest minor whose layouts this loop knows.
#define FUSE_KNOWN_MINOR 45

#endif
