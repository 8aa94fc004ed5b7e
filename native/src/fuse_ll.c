// strata's native FUSE loop: speaks /dev/fuse (the low-level protocol)
// directly, so file data can bypass user space (FUSE passthrough) and
// directory walks get readdirplus and the kernel's directory cache.
//
// Lifecycle: mount() opens /dev/fuse and mounts it (root: mount(2)); start()
// makes a session for that fd and watches it from Node's own event loop
// (uv_poll, non-blocking reads, a batch per wake-up), so a request reaches
// JavaScript with no thread hop at all: the kernel wakes the JavaScript
// thread directly. The loop answers INIT and the data-path requests itself
// (READ/WRITE of page-cached files, FLUSH, FSYNC, FALLOCATE, OPENDIR and
// RELEASEDIR (directory handles carry nothing), the per-write capability
// query, unsupported opcodes) and calls
// JavaScript for every namespace request with the body copied into a
// Buffer; JavaScript answers with reply(). A session ends when the kernel
// says the filesystem is gone (read() -> ENODEV) or sends DESTROY:
// JavaScript gets an "end" event and the fd is closed. A process may serve
// several sessions (the builder's mount worker does); every other call
// names its session by the fd that start() was given.
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <node_api.h>
#include <uv.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <linux/capability.h>
#include <sys/stat.h>
#include <sched.h>
#include <sys/uio.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>
#include "fuse_proto.h"
#include "colocate.h"
#include "prefault.h"
#include "background.h"
#include "dircache.h"
#include "prefetch.h"

#define MAX_WRITE (1u << 20)
#define MAX_PAGES (MAX_WRITE / 4096)
#define IN_BUF (MAX_WRITE + 8192)

enum item_kind { ITEM_REQUEST, ITEM_INIT, ITEM_END, ITEM_LOOKUPS, ITEM_CREATED, ITEM_UNLINKED, ITEM_RELEASED, ITEM_LISTED, ITEM_ENDED };

// One bit per node id (node ids are merged inode numbers, dense from 1).
struct idbits {
  uint8_t *bits;
  size_t bytes;
};

// JavaScript's map of host files (dev, ino) to merged inode numbers, as the
// loop keeps a copy of it (see ldir): open addressing, linear probing.
struct ino_ent {
  uint64_t dev, ino, n; // n 0: a free slot
};

struct ino_map {
  struct ino_ent *t;
  size_t cap, count; // cap a power of two
};

// What the loop hands JavaScript.
struct item {
  enum item_kind kind;
  struct fuse_in_header h;
  int32_t err;        // ITEM_END: why the loop ended (0 = unmounted)
  uint64_t flags;     // ITEM_INIT: negotiated flags
  uint32_t minor;     // ITEM_INIT: kernel protocol minor
  uint32_t len;       // body length
  char body[];
};

#define LDIR_SLOTS 4096 // directories the loop lists itself at most (see struct ldir)
struct session {
  int fd;
  int passthrough;
  int ended;
  napi_env env;
  napi_ref cb;
  napi_async_context actx;
  uv_poll_t poller;
  uint64_t counts[FUSE_OPCODE_MAX + 1];
  // Node ids known to carry no security.capability xattr. The kernel asks
  // for it before a write(2) (file_remove_privs), passthrough or not, until
  // it has marked the inode S_NOSEC (FUSE_HANDLE_KILLPRIV_V2; again after
  // every change of its attributes) and before a chown; answering here
  // keeps those from waiting on JavaScript. JavaScript sets
  // a bit when it answered ENODATA for a node and clears it when the node's
  // xattrs change or its id is forgotten. One bit per node id: node ids are
  // merged inode numbers, dense from 1.
  struct idbits nocaps;
  // The kernel opens directories without asking (FUSE_NO_OPENDIR_SUPPORT):
  // a walk over directories it has cached costs no round trip at all.
  int no_opendir;
  // GETATTR replies JavaScript declared stable (see attr_put), by node id.
  struct attr_slot *attrs;
  uint64_t attr_gen;
  // Entries JavaScript prepared for LOOKUP (see prep_put), and the node ids
  // the loop has handed out from them since it last told JavaScript.
  struct prep **prep, *prep_all;
  size_t prep_count;
  uint64_t prep_gen;
  uint64_t *looked;
  size_t looked_count;
  // FORGETs not yet told to JavaScript: they need no reply, so they go in
  // one batch with the next request it gets (see flush_forgets).
  struct fuse_forget_one *forgets;
  size_t forget_count;
  // RELEASEs answered here whose handles JavaScript has yet to close (see
  // flush_released): u64 file handles.
  char *released;
  size_t released_len, released_count;
  // Directories whose every name the loop knows (see cdir), by node id.
  struct cdir *cdirs;
  size_t cdir_names;
  // Files the loop created itself (see try_create): node ids JavaScript set
  // aside for it, and the records of files JavaScript has not yet been told of.
  uint64_t ids_next, ids_end;
  char *created;
  size_t created_len, created_count;
  // Upper directories and files open for writing, answered by fstat (see fd_slot).
  struct fd_slot *dirs, *files;
  // Directories whose lower files the loop may white out itself (see udir),
  // the shared whiteout it links, and the names JavaScript has not yet been told of.
  struct udir *udirs;
  char *whiteout;
  char *unlinked;
  size_t unlinked_len, unlinked_count;
  // Directories the loop lists itself (see ldir), JavaScript's map of host
  // files to inode numbers, the entries it has not yet been told of, and
  // the timeouts of the entries and attributes given.
  struct ldir *ldirs;
  uint64_t ldir_live[LDIR_SLOTS / 64]; // which slots hold a directory (ldirs_drop_all walks these only)
  uint64_t ldir_stamp;
  struct ino_map inos;
  struct idbits held; // node ids listed here that the kernel has not forgotten since
  char *listed;
  size_t listed_len, listed_count;
  // Directories whose listing was handed out to its end since the loops were
  // last quiet (u64 node ids, see note_ended and on_quiet).
  char *finished;
  size_t finished_len, finished_count;
  uint64_t list_entry, list_attr;
  uint32_t list_entry_ns, list_attr_ns;
  int list_no_links; // files of several links are JavaScript's to list (see listLinks)
  struct dircache *dc; // lower directories' names as read before (see dirCache), or NULL
  uint64_t dirs_kept, dirs_read; // host directories the loop listed from the cache, and from the disk
  struct session *next;
};

// Attributes that cannot change until a request changes the tree: those of
// directories still only in lower layers (lower layers do not change while
// mounted; only a copy-up can make such a directory different, and only a
// changing request copies up). The kernel forgets a directory's atime after
// every listing and asks again, so a walk that comes back (find, warm) sends
// one GETATTR per directory: answered here, with no trip to JavaScript.
// Every request not known to leave the tree alone empties the table (one
// generation step) before JavaScript sees it. Direct-mapped by node id.
#define ATTR_OUT_SIZE 104 // struct fuse_attr_out
_Static_assert(sizeof(struct fuse_attr_out) == ATTR_OUT_SIZE, "fuse_attr_out");
static void send_reply(struct session *s, uint64_t unique, int err, const void *data, size_t len);
static int kill_suidgid(int fd, uint32_t caller_gid);
#define ATTR_SLOTS 8192
struct attr_slot {
  uint64_t nodeid;
  uint64_t gen;
  char out[ATTR_OUT_SIZE];
};

static struct attr_slot *attr_slot_for(struct session *s, uint64_t id) {
  return s->attrs ? &s->attrs[id & (ATTR_SLOTS - 1)] : NULL;
}

static void attr_put(struct session *s, uint64_t id, const void *out) {
  if (!s->attrs && !(s->attrs = calloc(ATTR_SLOTS, sizeof *s->attrs))) return;
  struct attr_slot *a = attr_slot_for(s, id);
  a->nodeid = id;
  a->gen = s->attr_gen + 1; // generation 0 is never valid: calloc'd slots are empty
  memcpy(a->out, out, ATTR_OUT_SIZE);
}

static const char *attr_get(struct session *s, uint64_t id) {
  struct attr_slot *a = attr_slot_for(s, id);
  return a && a->nodeid == id && a->gen == s->attr_gen + 1 ? a->out : NULL;
}

static void attr_forget(struct session *s, uint64_t id) {
  struct attr_slot *a = attr_slot_for(s, id);
  if (a && a->nodeid == id) a->gen = 0;
}

// Nodes whose GETATTR the loop answers with an fstat of a descriptor it
// holds (a dup it owns), direct-mapped by node id; a colliding node evicts
// the older one, which JavaScript then answers again.
//
// Directories of the upper layer (s->dirs): every create or unlink inside
// changes them, and the kernel (default_permissions) asks for their
// attributes again before the next one. JavaScript hands the loop a
// descriptor of the upper directory the first time it answers. A descriptor
// follows the directory's inode, which stays the merged directory's until
// the directory is removed or replaced (RMDIR, RENAME and RENAME2 drop them
// all) or the kernel forgets the node id.
//
// Files open for writing in the upper layer (s->files): a program that
// writes a file and then sets its mode, owner and times (tar, cp -p,
// install) sends SETATTRs and a GETATTR for it. The loop does those through
// the descriptor, as JavaScript would through the writer's fd. JavaScript
// registers a file when it opens it for writing (one name, one link, no
// other inode behind the node id) and drops it with that writer.
#define FD_SLOTS 256 // descriptors held at most: the loop shares the process's fd limit with open files
struct fd_slot {
  uint64_t nodeid; // 0: empty
  int fd;
  int merged;      // a directory with lower parts too: link count 1, as JavaScript reports it
  uint64_t ino;    // the inode number the kernel was told
  uint64_t valid;
  uint32_t valid_nsec;
};

static void slot_drop(struct fd_slot *d) {
  if (!d->nodeid) return;
  close(d->fd);
  d->nodeid = 0;
}

static void slot_put(struct fd_slot **table, const struct fd_slot *v) {
  if (!*table && !(*table = calloc(FD_SLOTS, sizeof **table))) {
    close(v->fd);
    return;
  }
  struct fd_slot *d = &(*table)[v->nodeid & (FD_SLOTS - 1)];
  slot_drop(d);
  *d = *v;
}

static struct fd_slot *slot_of(struct fd_slot *table, uint64_t id) {
  struct fd_slot *d = table ? &table[id & (FD_SLOTS - 1)] : NULL;
  return d && d->nodeid == id ? d : NULL;
}

static void slot_forget(struct fd_slot *table, uint64_t id) {
  struct fd_slot *d = slot_of(table, id);
  if (d) slot_drop(d);
}

static void slots_drop_all(struct fd_slot *table) {
  if (table)
    for (int i = 0; i < FD_SLOTS; i++) slot_drop(&table[i]);
}

// The kernel forgot node id `id`: nothing is answered for it here any more.
static void cdir_drop_id(struct session *s, uint64_t id);
static void udir_drop_id(struct session *s, uint64_t id);
static void ldir_drop_id(struct session *s, uint64_t id);
static void idbits_set(struct idbits *b, uint64_t id, int on);
static int idbits_has(const struct idbits *b, uint64_t id);
static void node_forgotten(struct session *s, uint64_t id) {
  cdir_drop_id(s, id);
  ldir_drop_id(s, id);
  idbits_set(&s->held, id, 0);
  udir_drop_id(s, id);
  attr_forget(s, id);
  slot_forget(s->dirs, id);
  slot_forget(s->files, id);
}

// Host file `st` as the kernel is told it: under node id `ino`, with link count `nlink`.
static struct fuse_attr attr_of(const struct stat *st, uint64_t ino, uint32_t nlink) {
  return (struct fuse_attr){
    ino, (uint64_t)st->st_size, (uint64_t)st->st_blocks,
    (uint64_t)st->st_atim.tv_sec, (uint64_t)st->st_mtim.tv_sec, (uint64_t)st->st_ctim.tv_sec,
    (uint32_t)st->st_atim.tv_nsec, (uint32_t)st->st_mtim.tv_nsec, (uint32_t)st->st_ctim.tv_nsec,
    st->st_mode, nlink, st->st_uid, st->st_gid, (uint32_t)st->st_rdev, (uint32_t)st->st_blksize, 0,
  };
}

// GETATTR (or a SETATTR's reply) from the slot's descriptor: 1 if answered.
static int slot_getattr(struct session *s, const struct fd_slot *d, uint64_t unique) {
  struct stat st;
  if (!d || fstat(d->fd, &st) < 0) return 0;
  struct fuse_attr_out out = {d->valid, d->valid_nsec, 0, attr_of(&st, d->ino, d->merged ? 1 : (uint32_t)st.st_nlink)};
  send_reply(s, unique, 0, &out, sizeof out);
  return 1;
}

// One time of a SETATTR: now, the given one, or left alone.
static struct timespec setattr_time(uint32_t valid, uint32_t set, uint32_t now, uint64_t sec, uint32_t nsec) {
  if (valid & now) return (struct timespec){0, UTIME_NOW};
  if (valid & set) return (struct timespec){(time_t)(int64_t)sec, (long)nsec};
  return (struct timespec){0, UTIME_OMIT};
}

// SETATTR of a registered writer's file, or of a directory of the upper
// layer with no lower parts (an untar sets each directory's owner, mode and
// times once it is full: 3 of every 4 requests JavaScript still got there):
// mode, owner and times through the descriptor the loop holds, in
// JavaScript's order; 1 if answered. Nothing else changes for either: the
// directory is only in the upper layer, and JavaScript stats it afresh. A
// size change (and anything else, and set-ID bits) goes to JavaScript.
static int slot_setattr(struct session *s, const struct fuse_in_header *h, const char *body, size_t len) {
  const struct fuse_setattr_in *in = (const void *)body;
  struct fd_slot *f = slot_of(s->files, h->nodeid);
  if (!f && len >= sizeof *in && !(in->valid & FATTR_KILL_SUIDGID)) {
    f = slot_of(s->dirs, h->nodeid);
    if (f && f->merged) f = NULL;
  }
  const uint32_t here = FATTR_MODE | FATTR_UID | FATTR_GID | FATTR_ATIME | FATTR_MTIME | FATTR_FH | FATTR_ATIME_NOW |
                        FATTR_MTIME_NOW | FATTR_LOCKOWNER | FATTR_CTIME | FATTR_KILL_SUIDGID;
  // Set-ID bits: JavaScript decides how long the kernel may keep them (see killedMode there).
  if (!f || len < sizeof *in || (in->valid & ~here) || ((in->valid & FATTR_MODE) && (in->mode & 06000))) return 0;
  uint32_t v = in->valid;
  int r = 0;
  if (v & FATTR_MODE) r = fchmod(f->fd, in->mode & 07777);
  if (r == 0 && (v & (FATTR_UID | FATTR_GID)))
    r = fchown(f->fd, v & FATTR_UID ? in->uid : (uid_t)-1, v & FATTR_GID ? in->gid : (gid_t)-1);
  if (r == 0 && (v & FATTR_KILL_SUIDGID)) r = kill_suidgid(f->fd, h->gid) < 0 ? -1 : 0;
  if (r == 0 && (v & (FATTR_ATIME | FATTR_MTIME | FATTR_ATIME_NOW | FATTR_MTIME_NOW))) {
    struct timespec ts[2] = {setattr_time(v, FATTR_ATIME, FATTR_ATIME_NOW, in->atime, in->atimensec),
                             setattr_time(v, FATTR_MTIME, FATTR_MTIME_NOW, in->mtime, in->mtimensec)};
    r = futimens(f->fd, ts);
  }
  if (r < 0 || !slot_getattr(s, f, h->unique)) send_reply(s, h->unique, -errno, NULL, 0);
  return 1;
}

// Files of directories still only in lower layers, looked up one by one
// (stat, git status, a compiler's include search): at the first such lookup
// in a directory (the second in a big one), JavaScript hands the loop the
// entries of all its files
// (node id, attributes: what it would answer), and the loop answers their
// LOOKUPs itself, until a request that may change the tree arrives (the
// generation of stable attributes, attr_gen). Each answer is a kernel
// reference JavaScript must count: the node ids go to it in one batch
// (ITEM_LOOKUPS) before any request it handles, FORGET included.
#define ENTRY_OUT_SIZE 128 // struct fuse_entry_out
_Static_assert(sizeof(struct fuse_entry_out) == ENTRY_OUT_SIZE, "fuse_entry_out");
#define PREP_BUCKETS 65536
#define PREP_MAX 131072 // entries held at most
#define LOOKED_MAX 4096
#define FORGETS_MAX 1024
struct prep {
  struct prep *next;     // in its bucket
  struct prep *all_next; // in the session's list of all entries (prep_clear)
  uint32_t bucket;
  uint64_t parent;
  uint16_t len;
  char out[ENTRY_OUT_SIZE];
  char name[];
};

static uint32_t prep_hash(uint64_t parent, const char *name, size_t len) {
  return fnv1a((uint32_t)(parent * 0x9e3779b97f4a7c15ull >> 32), name, len) & (PREP_BUCKETS - 1);
}

// Drops every entry: a walk of the entries, not of the 64k buckets (a
// change after a few prepared lookups is common, a build's write among its
// header lookups).
static void prep_clear(struct session *s) {
  for (struct prep *e = s->prep_all, *n; e; e = n) {
    n = e->all_next;
    s->prep[e->bucket] = NULL;
    free(e);
  }
  s->prep_all = NULL;
  s->prep_count = 0;
}

// The table holds entries of the current generation only.
static int prep_valid(struct session *s) {
  if (s->prep_count && s->prep_gen != s->attr_gen) prep_clear(s);
  return s->prep_count > 0;
}

static void prep_put(struct session *s, uint64_t parent, const char *name, size_t len, const char *out) {
  if (!s->prep && !(s->prep = calloc(PREP_BUCKETS, sizeof *s->prep))) return;
  prep_valid(s);
  if (s->prep_count >= PREP_MAX) return; // JavaScript answers the rest
  s->prep_gen = s->attr_gen;
  uint32_t b = prep_hash(parent, name, len);
  for (struct prep *e = s->prep[b]; e; e = e->next) {
    if (e->parent == parent && e->len == len && memcmp(e->name, name, len) == 0) {
      memcpy(e->out, out, ENTRY_OUT_SIZE);
      return;
    }
  }
  struct prep *e = malloc(sizeof *e + len);
  if (!e) return;
  e->bucket = b;
  e->parent = parent;
  e->len = (uint16_t)len;
  memcpy(e->out, out, ENTRY_OUT_SIZE);
  memcpy(e->name, name, len);
  e->next = s->prep[b];
  s->prep[b] = e;
  e->all_next = s->prep_all;
  s->prep_all = e;
  s->prep_count++;
}

// Directories with no lower parts (made through the mount, or opaque)
// whose names JavaScript handed the loop: a LOOKUP of a name such a
// directory does not have is answered "no such entry" here. A program
// filling a directory (tar, cp -r, a package manager, a compiler writing
// its outputs) looks up every name before it creates it; without this each
// lookup was a trip to JavaScript. The loop keeps each set a superset of
// the directory's names: every request that may add a name to a directory
// (CREATE, MKNOD, MKDIR, SYMLINK, LINK, RENAME, RENAME2) adds it here before
// JavaScript sees it, and a name removed stays (its LOOKUPs go to
// JavaScript, which knows). A directory with no lower parts never gains
// one: lower layers do not change while mounted, and one moved where they
// have entries is made opaque. So a name missing from the set is missing
// from the directory. Sets hold 32-bit hashes of the names: a collision
// only sends that LOOKUP to JavaScript. Direct-mapped by node id; a
// colliding directory, or one past CDIR_NAMES_MAX names, loses its set.
#define CDIR_SLOTS 4096
#define CDIR_NAMES_MAX (1u << 20)      // names in one directory's set
#define CDIR_SESSION_MAX (1u << 23)    // names in all sets of a session (32 MiB of hashes at most)
struct cdir {
  uint64_t nodeid; // 0: empty
  uint64_t valid;  // entry timeout of the negative answers
  uint32_t valid_nsec;
  int creatable;   // the loop may create files here itself (see try_create)
  uint32_t count, cap; // names in the set; slots in `hashes` (a power of two, or 0)
  uint32_t *hashes;    // open addressing; 0 is an empty slot
};

static uint32_t name_hash(const char *name, size_t len) {
  uint32_t h = fnv1a(0, name, len);
  return h ? h : 1; // 0 marks an empty slot
}

static struct cdir *cdir_of(struct session *s, uint64_t id) {
  struct cdir *d = s->cdirs ? &s->cdirs[id & (CDIR_SLOTS - 1)] : NULL;
  return d && d->nodeid == id ? d : NULL;
}

static void cdir_drop(struct session *s, struct cdir *d) {
  if (!d || !d->nodeid) return;
  s->cdir_names -= d->count;
  free(d->hashes);
  memset(d, 0, sizeof *d);
}

static int cdir_has(const struct cdir *d, uint32_t h) {
  if (!d->cap) return 0;
  for (uint32_t i = h & (d->cap - 1);; i = (i + 1) & (d->cap - 1)) {
    if (d->hashes[i] == h) return 1;
    if (!d->hashes[i]) return 0;
  }
}

// Adds name hash h; 0 if the set could not take it (then the caller drops the set).
static int cdir_add(struct session *s, struct cdir *d, uint32_t h) {
  if (cdir_has(d, h)) return 1;
  if (d->count >= CDIR_NAMES_MAX || s->cdir_names >= CDIR_SESSION_MAX) return 0;
  if ((d->count + 1) * 2 > d->cap) {
    uint32_t cap = d->cap ? d->cap * 2 : 16;
    uint32_t *t = calloc(cap, sizeof *t);
    if (!t) return 0;
    for (uint32_t i = 0; i < d->cap; i++) {
      uint32_t v = d->hashes[i];
      if (!v) continue;
      uint32_t j = v & (cap - 1);
      while (t[j]) j = (j + 1) & (cap - 1);
      t[j] = v;
    }
    free(d->hashes);
    d->hashes = t;
    d->cap = cap;
  }
  uint32_t i = h & (d->cap - 1);
  while (d->hashes[i]) i = (i + 1) & (d->cap - 1);
  d->hashes[i] = h;
  d->count++;
  s->cdir_names++;
  return 1;
}

// A request may add `name` (NUL-terminated within `end`) to the directory of set `d`.
static void cdir_note(struct session *s, struct cdir *d, const char *name, const char *end) {
  size_t n = name < end ? strnlen(name, (size_t)(end - name)) : 0;
  // A malformed request: JavaScript will refuse it; the set goes, to be safe.
  if (n == 0 || name + n == end || !cdir_add(s, d, name_hash(name, n))) cdir_drop(s, d);
}

// LOOKUP of a name a known directory does not have: 1 if answered.
static int cdir_lookup(struct session *s, const struct fuse_in_header *h, const char *body, size_t len) {
  struct cdir *d = cdir_of(s, h->nodeid);
  if (!d || len < 2 || body[len - 1] != '\0' || len - 1 > 255) return 0;
  if (cdir_has(d, name_hash(body, len - 1))) return 0;
  struct fuse_entry_out out = {.entry_valid = d->valid, .entry_valid_nsec = d->valid_nsec};
  send_reply(s, h->unique, 0, &out, sizeof out);
  return 1;
}

static void cdir_drop_id(struct session *s, uint64_t id) {
  cdir_drop(s, cdir_of(s, id));
}

// Files made here: a program filling a new directory (tar, cp -r, a
// compiler's outputs, a package manager) creates file after file, and each
// CREATE was a trip to JavaScript of 30-50 us beyond the host's own
// open(2) (10k creates: JavaScript's CREATE took 93 us a file, open(2) 45
// of them). Measured here, upper on a tmpfs, alternating: 10k creates 1.87
// -> 1.60 s (median of 8, 8 of 8 pairs faster), the 235 MiB untar 3.05 ->
// 2.75 s (median of 6). Where nothing can make the create anything but an
// open(O_CREAT|O_EXCL) in the upper directory, the loop does it: a
// directory with no lower parts and no whiteouts whose names it knows
// (cdir, `creatable`), whose upper directory it holds (s->dirs), a name it
// does not have, a regular file without set-ID bits, opened for writing by
// root (anyone else's file is chowned by JavaScript), passed through. The
// node id comes from a block JavaScript set aside (reserveIds). JavaScript
// learns of each file (ITEM_CREATED) before anything else it is given, so
// its tree, handles and backings are whole whenever it answers a request:
// the record carries what its own CREATE would have kept. Anything
// unexpected (the name exists on the host, say) undoes what was done and
// hands the request to JavaScript. STRATA_FUSE_C_CREATE=0 turns it off.
#define CREATED_MAX 256 // records held before JavaScript is told
struct created_rec {
  uint64_t parent, id, dev, ino;
  int32_t fd, backing; // the host file, open read-write; its passthrough backing
  uint16_t len;         // then the name
} __attribute__((packed));
_Static_assert(sizeof(struct created_rec) == 42, "CREATED_REC in lowlevel.ts");
static int c_create = 1;
static int backing_open(int dev, struct fuse_backing_map *map);
static void flush_created(struct session *s);
static void nocaps_set(struct session *s, uint64_t id, int on);

static int try_create(struct session *s, const struct fuse_in_header *h, const char *body, size_t len) {
  const struct fuse_create_in *in = (const void *)body;
  if (!c_create || !s->passthrough || s->ids_next >= s->ids_end || h->uid != 0 || h->gid != 0 || len <= sizeof *in) return 0;
  struct cdir *d = cdir_of(s, h->nodeid);
  struct fd_slot *dir = slot_of(s->dirs, h->nodeid);
  if (!d || !d->creatable || !dir || dir->merged) return 0;
  const char *name = body + sizeof *in, *end = body + len;
  size_t n = strnlen(name, (size_t)(end - name));
  if (n == 0 || n > 255 || name + n == end || strcmp(name, ".") == 0 || strcmp(name, "..") == 0) return 0;
  if (!S_ISREG(in->mode) || (in->mode & (S_ISUID | S_ISGID)) || (in->flags & O_ACCMODE) == O_RDONLY) return 0;
  if (cdir_has(d, name_hash(name, n))) return 0;
  // Room for the record first: past this point only the host can say no.
  if (s->created_count >= CREATED_MAX) flush_created(s);
  char *buf = realloc(s->created, s->created_len + sizeof(struct created_rec) + n);
  if (!buf) return 0;
  s->created = buf;
  // As JavaScript opens it (hostFlags): read-write, so the fd can back later readers too.
  int flags = (int)(in->flags & ~(uint32_t)(O_ACCMODE | O_TRUNC)) | O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC;
  int fd = openat(dir->fd, name, flags, in->mode & 07777);
  if (fd < 0) return 0;
  struct stat st;
  struct fuse_backing_map map = {fd, 0, 0};
  int bid = -1;
  if (fstat(fd, &st) < 0 || (bid = backing_open(s->fd, &map)) < 0) {
    unlinkat(dir->fd, name, 0);
    close(fd);
    return 0;
  }
  struct created_rec rec = {h->nodeid, s->ids_next, (uint64_t)st.st_dev, (uint64_t)st.st_ino, fd, bid, (uint16_t)n};
  memcpy(buf + s->created_len, &rec, sizeof rec);
  memcpy(buf + s->created_len + sizeof rec, name, n);
  s->created_len += sizeof rec + n;
  s->created_count++;
  uint64_t id = s->ids_next++;
  s->attr_gen++;
  nocaps_set(s, id, 1); // a new file has no security.capability
  int own = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (own >= 0) {
    struct fd_slot f = {id, own, 0, id, dir->valid, dir->valid_nsec};
    slot_put(&s->files, &f);
  }
  struct {
    struct fuse_entry_out entry;
    struct fuse_open_out open;
  } out = {
    {id, 0, d->valid, dir->valid, d->valid_nsec, dir->valid_nsec, attr_of(&st, id, (uint32_t)st.st_nlink)},
    {(uint64_t)fd, FOPEN_PASSTHROUGH, bid},
  };
  cdir_note(s, d, name, end); // (after the last use of d: a set that cannot take the name is dropped)
  send_reply(s, h->unique, 0, &out, sizeof out);
  return 1;
}

// Lower files removed one by one (rm -rf of a lower tree, a package
// manager's or a build step's cleanup): each UNLINK of a file only in lower
// layers is a whiteout in the upper directory and nothing else, and each was
// a trip to JavaScript (30 us of server time a file in an rm -rf of 5k
// files, half of it the link(2) of the whiteout). After it has removed one
// such file in a directory, JavaScript hands the loop the names of the
// others there (files only in lower layers, in a tree with no hard-link
// bookkeeping), a descriptor of the upper directory and the path of the
// work area's shared whiteout inode; the loop then links the whiteout for
// an UNLINK of any of those names itself. The set holds for the generation
// it was made in (a request JavaScript sees that may change the tree ends
// it), and each name goes from it when used. JavaScript learns of each
// name (ITEM_UNLINKED) before anything else it is given but the files made
// here and the lookups answered here, so its tree is whole whenever it
// answers a request. Anything unexpected (the link fails: the shared inode
// is full, or gone) hands the request to JavaScript, which knows what to do.
#define UDIR_SLOTS 64 // directories at once (each holds a descriptor)
#define UNLINKED_MAX 1024 // records held before JavaScript is told
struct udir {
  uint64_t nodeid; // 0: empty
  uint64_t gen;    // valid while the session's attr_gen is this
  int fd;          // the upper directory
  uint32_t cap;    // slots, a power of two
  uint32_t *slots; // open addressing by name hash: offset + 1 into names (0: empty)
  char *names;     // [u16 length][name] each, as JavaScript sent them; length 0: removed
};
struct unlinked_rec {
  uint64_t parent;
  uint16_t len; // then the name
} __attribute__((packed));
_Static_assert(sizeof(struct unlinked_rec) == 10, "UNLINKED_REC in lowlevel.ts");

static struct udir *udir_of(struct session *s, uint64_t id) {
  struct udir *u = s->udirs ? &s->udirs[id & (UDIR_SLOTS - 1)] : NULL;
  return u && u->nodeid == id ? u : NULL;
}

static void udir_drop(struct udir *u) {
  if (!u || !u->nodeid) return;
  close(u->fd);
  free(u->slots);
  free(u->names);
  memset(u, 0, sizeof *u);
}

// The slot of `name` (n bytes) in u's set, or NULL.
static uint32_t *udir_find(struct udir *u, const char *name, size_t n) {
  for (uint32_t i = name_hash(name, n) & (u->cap - 1);; i = (i + 1) & (u->cap - 1)) {
    if (!u->slots[i]) return NULL;
    const char *rec = u->names + u->slots[i] - 1;
    uint16_t len;
    memcpy(&len, rec, 2);
    if (len == n && memcmp(rec + 2, name, n) == 0) return &u->slots[i];
  }
}

static void flush_unlinked(struct session *s);

static void udir_drop_id(struct session *s, uint64_t id) {
  udir_drop(udir_of(s, id));
}

static void prep_drop(struct session *s, uint64_t parent, const char *name, size_t n);

static int try_unlink(struct session *s, const struct fuse_in_header *h, const char *body, size_t len) {
  struct udir *u = udir_of(s, h->nodeid);
  if (!u || u->gen != s->attr_gen || !s->whiteout || len < 2 || len - 1 > 255 || body[len - 1] != '\0') return 0;
  size_t n = len - 1;
  uint32_t *slot = udir_find(u, body, n);
  if (!slot) return 0;
  if (s->unlinked_count >= UNLINKED_MAX) flush_unlinked(s);
  char *buf = realloc(s->unlinked, s->unlinked_len + sizeof(struct unlinked_rec) + n);
  if (!buf) return 0;
  s->unlinked = buf;
  if (linkat(AT_FDCWD, s->whiteout, u->fd, body, 0) < 0) return 0;
  char *rec = u->names + *slot - 1;
  memset(rec, 0, 2); // used: an UNLINK of the name again is JavaScript's (ENOENT)
  struct unlinked_rec r = {h->nodeid, (uint16_t)n};
  memcpy(buf + s->unlinked_len, &r, sizeof r);
  memcpy(buf + s->unlinked_len + sizeof r, body, n);
  s->unlinked_len += sizeof r + n;
  s->unlinked_count++;
  // No prepared entry answers for the name now, nor is the directory's
  // stable (it is an upper one; its slot, if any, goes). Only those: a new
  // generation would end every other prepared answer too, and a program
  // removing a directory's files looks each up before it removes it.
  prep_drop(s, h->nodeid, body, n);
  attr_forget(s, h->nodeid);
  send_reply(s, h->unique, 0, NULL, 0);
  return 1;
}

static void flush_looked(struct session *s);
static void flush_forgets(struct session *s);

// The prepared entry of `name` in `parent` answers no more (it stays in
// the table, unmatchable, until the table is cleared).
static void prep_drop(struct session *s, uint64_t parent, const char *name, size_t n) {
  if (!prep_valid(s)) return;
  for (struct prep *e = s->prep[prep_hash(parent, name, n)]; e; e = e->next)
    if (e->parent == parent && e->len == n && memcmp(e->name, name, n) == 0) e->parent = 0;
}

// A file's last close (RELEASE): the kernel sends it on its own and waits
// for nobody but the answer, but the request is read in line with the
// program's next ones (an untar's LOOKUP of its next file waits behind the
// one before's RELEASE), and each was a call into JavaScript of 14 us of a
// 30 us file. The loop answers it at once and tells JavaScript the handles
// in one batch (ITEM_RELEASED) before anything else it is given but the
// files made here, the lookups answered here and the files whited out here,
// and before the forgets: JavaScript closes the host file then. Until it
// has, the handle's host file stays open, so its number cannot be handed out
// again in between.
#define RELEASED_MAX 1024 // handles held before JavaScript is told
static void flush_released(struct session *s);

static int try_release(struct session *s, const struct fuse_in_header *h, const char *body, size_t len) {
  const struct fuse_release_in *in = (const void *)body;
  if (len < sizeof *in) return 0;
  if (s->released_count >= RELEASED_MAX) flush_released(s);
  char *buf = realloc(s->released, s->released_len + sizeof in->fh);
  if (!buf) return 0;
  s->released = buf;
  memcpy(buf + s->released_len, &in->fh, sizeof in->fh);
  s->released_len += sizeof in->fh;
  s->released_count++;
  send_reply(s, h->unique, 0, NULL, 0);
  return 1;
}

// LOOKUP from the prepared entries: 1 if answered.
static int prep_lookup(struct session *s, const struct fuse_in_header *h, const char *body, size_t len) {
  if (!prep_valid(s) || len < 2 || body[len - 1] != '\0') return 0;
  size_t n = len - 1;
  for (struct prep *e = s->prep[prep_hash(h->nodeid, body, n)]; e; e = e->next) {
    if (e->parent != h->nodeid || e->len != n || memcmp(e->name, body, n) != 0) continue;
    if (s->looked_count == LOOKED_MAX) flush_looked(s);
    if (!s->looked && !(s->looked = malloc(LOOKED_MAX * sizeof *s->looked))) return 0;
    uint64_t id;
    memcpy(&id, e->out, sizeof id);
    s->looked[s->looked_count++] = id;
    send_reply(s, h->unique, 0, e->out, ENTRY_OUT_SIZE);
    return 1;
  }
  return 0;
}

// ---- Listings answered here --------------------------------------------------
//
// A cold walk (find, du, a stat of every file) lists every directory once,
// and each READDIRPLUS was a trip to JavaScript that merged the layers'
// entries and stat'ed each one there: 10-20 us an entry, most of a cold
// walk's time. A directory still only in lower layers changes only by being
// copied up, which JavaScript does and tells the loop of, so its merged
// listing is a function of its layers' host directories alone. JavaScript
// offers such directories (listable: their host directories, top first),
// and the loop lists them itself: getdents of each host directory, merged
// as the engine's Tree.children merges them (ldir_read), an fstatat of the
// entries that get attributes, inode numbers from the map below. Each
// subdirectory it hands out is listable in turn (its own host directories:
// its name in each layer where it is a directory), so a walk below one
// offered directory stays here. Offsets are the same cookies JavaScript
// gives (entry i of the merged order is i + 3), so either side can go on
// with a listing the other began.
//
// The loop numbers the files it hands out as JavaScript would: it keeps a
// copy of JavaScript's map of host files to merged inode numbers (inoMap,
// told of every change) and takes new numbers from the block JavaScript set
// aside (reserveIds). JavaScript learns of every entry given out (ITEM_LISTED:
// the kernel now holds a reference) before any request it answers.
//
// Left to JavaScript: subdirectories an overlay redirect points elsewhere
// (only looked for when layers lie below), and anything the host refuses.
// A file of several links is listed too (JavaScript learns a second name
// of an inode as if the kernel had looked it up), until one is copied up:
// its other names are then served from the copy, which only JavaScript
// knows of (listLinks).
//
// A directory stays listable until JavaScript copies it up (it drops it
// then, with listable(..., "")): nothing else can change what a directory
// only in lower layers lists (a change inside, a rename or a removal of it
// copies it up first; a change elsewhere leaves it alone). A rename drops
// them all anyway, as it drops the upper directories.

static size_t ino_slot(const struct ino_map *m, uint64_t dev, uint64_t ino) {
  uint64_t h = (ino ^ (dev << 40) ^ (dev >> 24)) * 0x9e3779b97f4a7c15ull;
  return (size_t)(h >> 20) & (m->cap - 1);
}

static uint64_t ino_get(const struct ino_map *m, uint64_t dev, uint64_t ino) {
  if (!m->cap) return 0;
  for (size_t i = ino_slot(m, dev, ino);; i = (i + 1) & (m->cap - 1)) {
    const struct ino_ent *e = &m->t[i];
    if (!e->n) return 0;
    if (e->ino == ino && e->dev == dev) return e->n;
  }
}

static int ino_put(struct ino_map *m, uint64_t dev, uint64_t ino, uint64_t n) {
  if ((m->count + 1) * 2 > m->cap) {
    size_t cap = m->cap ? m->cap * 2 : 1u << 14;
    struct ino_ent *t = calloc(cap, sizeof *t);
    if (!t) return 0;
    struct ino_map grown = {t, cap, 0};
    for (size_t i = 0; i < m->cap; i++) {
      const struct ino_ent *e = &m->t[i];
      if (!e->n) continue;
      size_t j = ino_slot(&grown, e->dev, e->ino);
      while (t[j].n) j = (j + 1) & (cap - 1);
      t[j] = *e;
      grown.count++;
    }
    free(m->t);
    *m = grown;
  }
  size_t i = ino_slot(m, dev, ino);
  while (m->t[i].n && !(m->t[i].ino == ino && m->t[i].dev == dev)) i = (i + 1) & (m->cap - 1);
  if (!m->t[i].n) m->count++;
  m->t[i] = (struct ino_ent){dev, ino, n};
  return 1;
}

// Linear probing's delete: the entries after the hole that would not be
// found past it move back into it.
static void ino_del(struct ino_map *m, uint64_t dev, uint64_t ino) {
  if (!m->cap) return;
  size_t mask = m->cap - 1, i = ino_slot(m, dev, ino);
  while (m->t[i].n && !(m->t[i].ino == ino && m->t[i].dev == dev)) i = (i + 1) & mask;
  if (!m->t[i].n) return;
  m->t[i].n = 0;
  m->count--;
  for (size_t j = (i + 1) & mask; m->t[j].n; j = (j + 1) & mask) {
    size_t home = ino_slot(m, m->t[j].dev, m->t[j].ino);
    // Entry j stays if its home lies cyclically in (i, j].
    if (i <= j ? (home > i && home <= j) : (home > i || home <= j)) continue;
    m->t[i] = m->t[j];
    m->t[j].n = 0;
    i = j;
  }
}

#define LDIR_FILES 1       // files get attributes in its READDIRPLUS replies
#define LDIR_CHILD_FILES 2 // and in those of its subdirectories
#define LDIR_MARKS 4       // its last layer is not the bottom one: overlay xattrs there count too
#define LDIR_SOURCES 64    // layers a directory may merge here (a mask each)
#define LISTED_MAX 4096    // records held before JavaScript is told

// One name of a listing: where its name is, and what serves it.
struct lent {
  uint32_t at;   // in the listing's names
  uint8_t type;  // DT_* of the topmost one
  uint8_t src;   // the source that serves it (its topmost)
  uint8_t stop;  // no more sources below for it (an opaque copy, a non-directory below)
  uint8_t redirect; // a copy carries an overlay redirect: JavaScript merges it
  uint64_t ino;  // d_ino of the topmost one
  uint64_t dirs; // the sources where it is a directory (its own sources, if one)
};

struct ldir {
  uint64_t nodeid, parent;
  uint32_t flags;
  // Its host directories, top first, each NUL-terminated, back to back.
  char *paths;
  size_t paths_len;
  uint32_t npaths;
  // The merged entries, whiteouts left out, in the order JavaScript gives
  // them cookies (each source's new names in its order, top first): read at
  // the first request of a listing and kept for the rest of it.
  char *names;
  struct lent *ents;
  uint64_t *devs; // each source's device (set once it is read: the listing is there)
  uint32_t count;
  uint64_t stamp; // when it was put (the oldest of a full set goes first)
  uint64_t end;   // the last cookie of the last listing handed out to its end
};

// One entry handed out (the kernel holds it now), followed by its name.
struct listed_rec {
  uint64_t parent, id;
  uint64_t dev, ino; // the host file; `fresh`: numbered here (JavaScript maps it too)
  uint8_t fresh, dir;
  uint16_t len;
} __attribute__((packed));
_Static_assert(sizeof(struct listed_rec) == 36, "LISTED_REC in lowlevel.ts");

static void flush_listed(struct session *s);

static void ldir_forget_listing(struct ldir *d) {
  free(d->names);
  free(d->ents);
  free(d->devs);
  d->names = NULL;
  d->ents = NULL;
  d->devs = NULL;
  d->count = 0;
}

static void ldir_drop(struct session *s, struct ldir *d) {
  size_t i = (size_t)(d - s->ldirs);
  s->ldir_live[i / 64] &= ~(1ull << (i % 64));
  ldir_forget_listing(d);
  free(d->paths);
  d->paths = NULL;
  d->nodeid = 0;
  d->end = 0;
}

// The table is 4-way set associative: a directory listed and the
// subdirectories it offers get numbers far apart (JavaScript's, then the
// loop's block), and direct-mapped they pushed each other out: 10 of the
// 211 directories of a `find` tree were listed by JavaScript for that.
#define LDIR_WAYS 4
static struct ldir *ldir_set(struct session *s, uint64_t id) {
  return &s->ldirs[((id * 0x9e3779b97f4a7c15ull) >> 40 & (LDIR_SLOTS / LDIR_WAYS - 1)) * LDIR_WAYS];
}

static struct ldir *ldir_of(struct session *s, uint64_t id) {
  if (!s->ldirs) return NULL;
  struct ldir *set = ldir_set(s, id);
  for (int w = 0; w < LDIR_WAYS; w++)
    if (set[w].nodeid == id && set[w].paths) return &set[w];
  return NULL;
}

static void ldir_drop_id(struct session *s, uint64_t id) {
  struct ldir *d = ldir_of(s, id);
  if (d) ldir_drop(s, d);
}

// Directory `id` (child of `parent`) lists as the merge of host directories
// `paths` (len bytes: each NUL-terminated, top first). Flags only add up:
// whose files get attributes only ever widens. Takes a free way of its set,
// else the one put there longest ago, but never `keep` (a listing under way).
static void ldir_put(struct session *s, uint64_t id, uint64_t parent, const char *paths, size_t len, uint32_t flags, const struct ldir *keep) {
  uint32_t n = 0;
  for (size_t i = 0; i < len; i++) n += paths[i] == '\0';
  if (n == 0 || n > LDIR_SOURCES || paths[len - 1] != '\0') return;
  if (!s->ldirs && !(s->ldirs = calloc(LDIR_SLOTS, sizeof *s->ldirs))) return;
  struct ldir *d = ldir_of(s, id);
  if (d && d == keep) return;
  if (d && d->paths_len == len && memcmp(d->paths, paths, len) == 0) {
    flags |= d->flags;
  } else {
    if (!d) {
      struct ldir *set = ldir_set(s, id);
      for (int w = 0; w < LDIR_WAYS; w++) {
        struct ldir *x = &set[w];
        if (x == keep) continue;
        if (!x->paths) {
          d = x;
          break;
        }
        if (!d || x->stamp < d->stamp) d = x;
      }
      if (!d) return;
    }
    char *p = malloc(len);
    if (!p) return;
    memcpy(p, paths, len);
    ldir_drop(s, d);
    d->paths = p;
    size_t i = (size_t)(d - s->ldirs);
    s->ldir_live[i / 64] |= 1ull << (i % 64);
    d->paths_len = len;
    d->npaths = n;
  }
  d->nodeid = id;
  d->parent = parent;
  d->flags = flags;
  d->stamp = ++s->ldir_stamp;
}

// Only the slots in use are touched: the table is 376 KiB, and on this VM
// the first touch of each of its pages costs a page fault of 13-22 us, a
// read as much as a write (the zero page is mapped in). Walking it whole,
// a mount's first rename faulted 94 times (1.3-2 ms of a 5-6 ms rename,
// perf record -e page-faults); writing it, 10 ms.
static void ldirs_drop_all(struct session *s) {
  for (int w = 0; w < LDIR_SLOTS / 64; w++)
    while (s->ldir_live[w]) ldir_drop(s, &s->ldirs[w * 64 + __builtin_ctzll(s->ldir_live[w])]);
}

// Source i's path in d.
static const char *ldir_path(const struct ldir *d, uint32_t i) {
  const char *p = d->paths;
  while (i--) p += strlen(p) + 1;
  return p;
}

static int is_whiteout_name(const char *name) {
  return strncmp(name, ".wh.", 4) == 0; // aufs whiteouts and markers: never shown
}

// Overlay xattrs of a directory, by fd if fd >= 0, else by path: 1 opaque,
// 2 a redirect (3 both); in doubt, a redirect.
static int xattr_marks(int fd, const char *path) {
  char list[4096];
  ssize_t n = fd >= 0 ? flistxattr(fd, list, sizeof list) : llistxattr(path, list, sizeof list);
  if (n < 0) return errno == ERANGE ? 2 : 0;
  int marks = 0;
  for (ssize_t i = 0; i < n; i += (ssize_t)strlen(list + i) + 1) {
    if (strcmp(list + i, "trusted.overlay.redirect") == 0 || strcmp(list + i, "user.overlay.redirect") == 0) marks |= 2;
    else if (strcmp(list + i, "trusted.overlay.opaque") == 0 || strcmp(list + i, "user.overlay.opaque") == 0) {
      char v[2];
      if ((fd >= 0 ? fgetxattr(fd, list + i, v, sizeof v) : lgetxattr(path, list + i, v, sizeof v)) == 1 && v[0] == 'y') marks |= 1;
    }
  }
  return marks;
}

// Overlay xattrs of directory `name` in host directory `dir` (see
// xattr_marks): as the cache keeps them when it is unchanged. *dirfd: an
// O_PATH descriptor of `dir`, opened here at first need (one path walk, not
// one per name), for the caller to close.
static int dir_marks(struct dircache *c, const char *dir, const char *name, int *dirfd) {
  char path[PATH_MAX];
  if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path) return 2;
  if (!c) return xattr_marks(-1, path);
  if (*dirfd < 0) *dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
  const struct dc_dir *k = *dirfd >= 0 ? dc_get_at(c, path, *dirfd, name) : dc_get(c, path);
  if (k && k->marks >= 0) return k->marks;
  int m = xattr_marks(-1, path);
  if (k) dc_set_marks(c, path, m);
  return m;
}

// A set of names (as offsets into a buffer the caller keeps), open addressing.
struct nset {
  uint32_t *slot; // index + 1 into the caller's entries; 0 free
  uint32_t cap;
};

static uint32_t *nset_find(struct nset *h, const char *base, const uint32_t *at, size_t stride, const char *name, size_t n) {
  for (uint32_t i = fnv1a(0, name, n) & (h->cap - 1);; i = (i + 1) & (h->cap - 1)) {
    uint32_t v = h->slot[i];
    if (!v) return &h->slot[i];
    const char *s = base + *(const uint32_t *)((const char *)at + (size_t)(v - 1) * stride);
    if (strncmp(s, name, n) == 0 && s[n] == '\0') return &h->slot[i];
  }
}

// Doubles the set when half full (rehashing what it holds): 0 when out of memory.
static int nset_room(struct nset *h, uint32_t count, const char *base, const uint32_t *at, size_t stride) {
  if ((count + 1) * 2 <= h->cap) return 1;
  uint32_t cap = h->cap ? h->cap * 2 : 256;
  struct nset g = {calloc(cap, sizeof(uint32_t)), cap};
  if (!g.slot) return 0;
  for (uint32_t i = 0; i < h->cap; i++) {
    uint32_t v = h->slot[i];
    if (!v) continue;
    const char *s = base + *(const uint32_t *)((const char *)at + (size_t)(v - 1) * stride);
    *nset_find(&g, base, at, stride, s, strlen(s)) = v;
  }
  free(h->slot);
  *h = g;
  return 1;
}

static int grow(void **p, size_t *cap, size_t need, size_t size) {
  if (need <= *cap) return 1;
  size_t c = *cap ? *cap : 64;
  while (c < need) c *= 2;
  void *q = realloc(*p, c * size);
  if (!q) return 0;
  *p = q;
  *cap = c;
  return 1;
}

#define READ_AHEAD_MAX 4096 // host directories one listing queues at most

// A walk lists the subdirectories of what it lists next: their host
// directories are read on the read-ahead threads now (prefetch.c), so that
// the disk works on several at once and the loop's own reads find them
// cached. Not those whose names the cache holds: the loop reads only their
// inodes then (reading those ahead too, even a level further down, made no
// difference to a cold find over 32 layers).
static void read_ahead_subdirs(struct session *s, const struct ldir *d) {
  char **paths = NULL;
  uint32_t n = 0;
  for (uint32_t k = 0; k < d->count && n < READ_AHEAD_MAX; k++) {
    const struct lent *x = &d->ents[k];
    if (x->type != DT_DIR || x->redirect) continue;
    for (uint32_t i = 0; i < d->npaths && n < READ_AHEAD_MAX; i++) {
      if (!(x->dirs >> i & 1)) continue;
      if (!paths && !(paths = malloc(READ_AHEAD_MAX * sizeof *paths))) return;
      char sub[PATH_MAX];
      if (snprintf(sub, sizeof sub, "%s/%s", ldir_path(d, i), d->names + x->at) >= (int)sizeof sub) continue;
      if (s->dc && dc_peek(s->dc, sub)) continue;
      if (!(paths[n] = strdup(sub))) break;
      n++;
    }
  }
  if (n) prefetch_take(paths, n);
  free(paths);
}

// One source's entries as read from the disk (dircache.c's format), reused from one to the next.
static char *src_ents;
static size_t src_cap;

// Reads host directory fd into src_ents (*len bytes): each entry with its
// d_type, a device or an unknown type looked up (a 0/0 device is a
// whiteout), entries gone meanwhile left out. 0, or -errno.
static int read_source(int fd, size_t *len) {
  char buf[32768];
  *len = 0;
  for (;;) {
    long n = syscall(SYS_getdents64, fd, buf, sizeof buf);
    if (n < 0) return -errno;
    if (n == 0) return 0;
    for (long off = 0; off < n;) {
      struct linux_dirent64 *e = (void *)(buf + off);
      off += e->d_reclen;
      const char *name = e->d_name;
      if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0) continue;
      uint8_t type = e->d_type;
      if (!is_whiteout_name(name) && (type == DT_CHR || type == DT_UNKNOWN)) {
        struct stat st;
        if (fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) continue; // gone: as the engine skips it
        type = S_ISCHR(st.st_mode) && st.st_rdev == 0 ? DC_WHITEOUT : (uint8_t)((st.st_mode & S_IFMT) >> 12);
      }
      int r = dc_append(&src_ents, len, &src_cap, e->d_ino, type, name, strlen(name));
      if (r) return r;
    }
  }
}

// Reads and merges d's host directories, as the engine's Tree.children
// does for a directory with no upper part: names hidden by a whiteout
// (.wh.NAME or a 0/0 device) in one layer are left out of those below, an
// aufs opaque marker ends the merge after its layer, a name already seen
// keeps its topmost copy, and a subdirectory gathers the layers below where
// it is a directory too, until one is opaque or holds something else.
// 0, or -errno.
static int ldir_read(struct session *s, struct ldir *d) {
  char *names = NULL, *hidden = NULL;
  size_t names_len = 0, names_cap = 0, hidden_len = 0, hidden_cap = 0, ents_cap = 0, hat_cap = 0;
  struct lent *ents = NULL;
  uint32_t *hat = NULL, count = 0, hcount = 0;
  struct nset seen = {0}, hid = {0};
  uint64_t *devs = calloc(d->npaths, sizeof *devs);
  int err = devs ? 0 : -ENOMEM;
  const char *path = d->paths;
  for (uint32_t si = 0; si < d->npaths && !err; si++, path += strlen(path) + 1) {
    // Marks count where layers lie below: in every source but the last, and in the last unless it is the bottom layer.
    int marks_matter = si + 1 < d->npaths || (d->flags & LDIR_MARKS);
    // Its names as read before if it has not changed since (dircache.c),
    // else read from the disk now.
    const struct dc_dir *kept = s->dc ? dc_get(s->dc, path) : NULL;
    const char *src;
    size_t elen = 0;
    if (kept) {
      src = kept->ents;
      elen = kept->len;
      devs[si] = kept->dev;
      s->dirs_kept++;
    } else {
      int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (fd < 0) continue; // a lower directory that vanished or is unreadable merges as empty (as the engine)
      struct stat dst;
      if (fstat(fd, &dst) < 0) {
        close(fd);
        continue;
      }
      err = read_source(fd, &elen);
      s->dirs_read++;
      if (!err && s->dc) dc_put(s->dc, path, &dst, src_ents, elen, xattr_marks(fd, path));
      close(fd);
      src = src_ents;
      devs[si] = (uint64_t)dst.st_dev;
    }
    uint32_t hidden_before = hcount; // names hidden by this layer count from the next one on
    int opaque_marker = 0;
    int pfd = -1; // (see dir_marks)
    for (size_t at = 0; at < elen && !err;) {
      uint64_t d_ino;
      uint16_t n16;
      memcpy(&d_ino, src + at, 8);
      uint8_t type = (uint8_t)src[at + 8];
      memcpy(&n16, src + at + 9, 2);
      const char *name = src + at + DC_ENT_HEAD;
      size_t len = n16;
      at += DC_ENT_HEAD + len + 1;
      {
        const char *gone = NULL; // a name this entry whites out
        if (is_whiteout_name(name)) {
          if (strcmp(name, ".wh..wh..opq") == 0) opaque_marker = 1;
          else gone = name + 4;
        } else if (type == DC_WHITEOUT) {
          gone = name; // an overlay whiteout
        }
        if (gone) {
          size_t gl = strlen(gone);
          if (!grow((void **)&hidden, &hidden_cap, hidden_len + gl + 1, 1) || !grow((void **)&hat, &hat_cap, hcount + 1, sizeof *hat)) {
            err = -ENOMEM;
            break;
          }
          memcpy(hidden + hidden_len, gone, gl + 1);
          hat[hcount++] = (uint32_t)hidden_len;
          hidden_len += gl + 1;
          continue;
        }
        if (is_whiteout_name(name)) continue;
        if (hid.cap && *nset_find(&hid, hidden, hat, sizeof *hat, name, len)) continue; // hidden from above
        uint32_t *slot = seen.cap ? nset_find(&seen, names, &ents[0].at, sizeof *ents, name, len) : NULL;
        if (slot && *slot) {
          struct lent *x = &ents[*slot - 1];
          if (x->stop) continue;
          if (x->type == DT_DIR && type == DT_DIR) {
            x->dirs |= 1ull << si;
            if (marks_matter) {
              int m = dir_marks(s->dc, path, name, &pfd);
              if (m & 2) x->redirect = 1;
              if (m) x->stop = 1;
            }
          } else {
            x->stop = 1;
          }
          continue;
        }
        if (!grow((void **)&names, &names_cap, names_len + len + 1, 1) || !grow((void **)&ents, &ents_cap, count + 1, sizeof *ents)) {
          err = -ENOMEM;
          break;
        }
        struct lent x = {(uint32_t)names_len, type, (uint8_t)si, 0, 0, d_ino, 0};
        if (type == DT_DIR) {
          x.dirs = 1ull << si;
          if (marks_matter) {
            int m = dir_marks(s->dc, path, name, &pfd);
            if (m & 2) x.redirect = 1;
            if (m) x.stop = 1;
          }
        } else {
          x.stop = 1;
        }
        memcpy(names + names_len, name, len + 1);
        names_len += len + 1;
        ents[count++] = x;
        if (!nset_room(&seen, count, names, &ents[0].at, sizeof *ents)) {
          err = -ENOMEM;
          break;
        }
        *nset_find(&seen, names, &ents[0].at, sizeof *ents, name, len) = count;
      }
    }
    if (pfd >= 0) close(pfd);
    if (!err && hcount > hidden_before) {
      for (uint32_t i = hidden_before; i < hcount && !err; i++) {
        if (!nset_room(&hid, i + 1, hidden, hat, sizeof *hat)) err = -ENOMEM;
        else {
          uint32_t *h = nset_find(&hid, hidden, hat, sizeof *hat, hidden + hat[i], strlen(hidden + hat[i]));
          if (!*h) *h = i + 1;
        }
      }
    }
    if (opaque_marker) break; // what lies below does not belong to this directory
  }
  free(hidden);
  free(hat);
  free(seen.slot);
  free(hid.slot);
  if (err) {
    free(names);
    free(ents);
    free(devs);
    return err;
  }
  ldir_forget_listing(d);
  d->names = names;
  d->ents = ents;
  d->devs = devs;
  d->count = count;
  read_ahead_subdirs(s, d);
  return 0;
}

// Notes entry `name` of directory `parent`, node id `id`, as handed out.
static void note_listed(struct session *s, uint64_t parent, uint64_t id, const struct stat *st, int fresh, const char *name, size_t n) {
  char *buf = realloc(s->listed, s->listed_len + sizeof(struct listed_rec) + n);
  if (!buf) return; // (then JavaScript undercounts the node, as with a lost ITEM_LOOKUPS)
  s->listed = buf;
  struct listed_rec rec = {parent, id, (uint64_t)st->st_dev, (uint64_t)st->st_ino, (uint8_t)fresh, (uint8_t)S_ISDIR(st->st_mode), (uint16_t)n};
  memcpy(buf + s->listed_len, &rec, sizeof rec);
  memcpy(buf + s->listed_len + sizeof rec, name, n);
  s->listed_len += sizeof rec + n;
  s->listed_count++;
}

// The kernel marks a directory's atime stale after every listing it asks
// for (fuse_invalidate_atime), so its next stat of the directory (find's of
// each directory it enters, ls -l, du) is a GETATTR round trip: a second
// find over 212 directories sent 211. JavaScript is told of each directory
// whose listing ended here (ITEM_ENDED) once the loops are quiet (on_quiet),
// and has its attributes fetched again then (refresh.c).
#define ENDED_MAX 4096 // node ids held at most; more are dropped (a refresh is a hint)
static void flush_ended(struct session *s);
static void note_ended(struct session *s, uint64_t id) {
  if (s->finished_count >= ENDED_MAX) return;
  char *buf = realloc(s->finished, s->finished_len + sizeof id);
  if (!buf) return;
  s->finished = buf;
  memcpy(buf + s->finished_len, &id, sizeof id);
  s->finished_len += sizeof id;
  s->finished_count++;
}

static char *list_out;
static size_t list_out_cap;

// READDIR / READDIRPLUS of a directory the loop may list: 1 if answered.
static int try_readdir(struct session *s, const struct fuse_in_header *h, const char *body, size_t len, int plus) {
  const struct fuse_read_in *in = (const void *)body;
  struct ldir *d = ldir_of(s, h->nodeid);
  if (!d || len < sizeof *in) return 0;
  // JavaScript takes in what was listed before the records pile up, or the
  // numbers run out (it sets more aside then): never in the middle of a reply.
  if (s->listed_count >= LISTED_MAX || (plus && s->ids_end - s->ids_next < 1024 && s->listed_count)) {
    flush_listed(s);
    if (!(d = ldir_of(s, h->nodeid))) return 0;
  }
  // A listing handed out to its end is forgotten (the kernel caches it):
  // the read past its end that follows gets nothing, not a second merge.
  if (!d->devs && in->offset != 0 && in->offset == d->end) {
    send_reply(s, h->unique, 0, NULL, 0);
    note_ended(s, h->nodeid);
    return 1;
  }
  if (!d->devs || in->offset == 0) {
    if (ldir_read(s, d) < 0) return 0; // JavaScript says what is wrong
  }
  size_t size = in->size;
  if (size > list_out_cap) {
    char *p = realloc(list_out, size);
    if (!p) return 0;
    list_out = p;
    list_out_cap = size;
  }
  const struct ldir *parent = ldir_of(s, d->parent);
  int files = (d->flags & LDIR_FILES) || (parent && (parent->flags & LDIR_CHILD_FILES));
  uint32_t child_files = (d->flags & LDIR_CHILD_FILES) ? LDIR_FILES : 0;
  // A subdirectory registered below must not take d's slot (it is skipped then).
  uint64_t self = d->nodeid, up = d->parent;
  int fds[LDIR_SOURCES];
  for (uint32_t i = 0; i < d->npaths; i++) fds[i] = -1;
  size_t pos = 0;
  // "." and ".." have cookies 1 and 2; entry i of the listing i + 3.
  for (uint64_t cookie = in->offset + 1; cookie <= (uint64_t)d->count + 2; cookie++) {
    const struct lent *x = cookie > 2 ? &d->ents[cookie - 3] : NULL;
    const char *name = cookie == 1 ? "." : cookie == 2 ? ".." : d->names + x->at;
    size_t n = strlen(name);
    size_t dirent = (sizeof(uint64_t) * 2 + sizeof(uint32_t) * 2 + n + 7) & ~(size_t)7;
    size_t rec = plus ? ENTRY_OUT_SIZE + dirent : dirent;
    if (pos + rec > size) break;
    uint64_t ino = cookie == 1 ? self : cookie == 2 ? up : 0;
    uint32_t type = DT_DIR;
    struct fuse_entry_out eo;
    memset(&eo, 0, sizeof eo);
    if (x) {
      type = x->type;
      struct stat st;
      // The number the engine gave its topmost copy, by that copy's d_ino, if any.
      uint64_t by_dino = ino_get(&s->inos, d->devs[x->src], x->ino);
      // A file the kernel holds from an earlier listing here: it keeps its
      // dentry (see below), and needs no fstatat to tell (rm -rf lists each
      // directory twice; the second listing of 100 files spent about 150 us
      // in them).
      if (plus && !x->redirect && x->type != DT_DIR && files && by_dino && idbits_has(&s->held, by_dino)) {
        ino = by_dino;
      } else if (plus && !x->redirect && (x->type == DT_DIR || files)) {
        int *fd = &fds[x->src];
        if (*fd < 0) *fd = open(ldir_path(d, x->src), O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (*fd >= 0 && fstatat(*fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && (uint32_t)((st.st_mode & S_IFMT) >> 12) == x->type &&
            !(s->list_no_links && S_ISREG(st.st_mode) && st.st_nlink > 1)) {
          uint64_t id = ino_get(&s->inos, (uint64_t)st.st_dev, (uint64_t)st.st_ino);
          int fresh = 0;
          // A file the kernel holds from an earlier listing here: it keeps its dentry (no attributes, node
          // id 0), as with JavaScript's held() (rm -rf lists each directory twice).
          if (id && !S_ISDIR(st.st_mode) && idbits_has(&s->held, id)) {
            ino = id;
            id = 0;
          } else if (!id && s->ids_next < s->ids_end && ino_put(&s->inos, (uint64_t)st.st_dev, (uint64_t)st.st_ino, s->ids_next)) {
            id = s->ids_next++;
            fresh = 1;
          }
          if (id) {
            int merged = S_ISDIR(st.st_mode) && (x->dirs & (x->dirs - 1));
            // A merged directory's link count is unknowable cheaply: 1, as the engine says.
            eo = (struct fuse_entry_out){id, 0, s->list_entry, s->list_attr, s->list_entry_ns, s->list_attr_ns,
                                         attr_of(&st, id, merged ? 1 : (uint32_t)st.st_nlink)};
            ino = id;
            note_listed(s, self, id, &st, fresh, name, n);
            idbits_set(&s->held, id, 1);
            if (S_ISDIR(st.st_mode)) {
              struct fuse_attr_out ao = {s->list_attr, s->list_attr_ns, 0, eo.attr};
              attr_put(s, id, &ao);
              { // (ldir_put leaves d, whose entries this loop reads, in place)
                // Its sources: its own path in each source where it is a directory.
                char paths[LDIR_SOURCES * 256], *p = paths;
                uint32_t last = 0;
                int fits = 1;
                for (uint32_t i = 0; i < d->npaths && fits; i++) {
                  if (!(x->dirs >> i & 1)) continue;
                  int w = snprintf(p, sizeof paths - (size_t)(p - paths), "%s/%s", ldir_path(d, i), name);
                  if (w < 0 || (size_t)w >= sizeof paths - (size_t)(p - paths)) fits = 0;
                  else p += w + 1;
                  last = i;
                }
                // Its last source above d's: layers lie below it, marks there count.
                uint32_t marks = (last + 1 < d->npaths || (d->flags & LDIR_MARKS)) ? LDIR_MARKS : 0;
                if (fits) ldir_put(s, id, self, paths, (size_t)(p - paths), marks | child_files, d);
              }
            }
          }
        }
      }
      // No attributes: the number the engine gave it, if it gave one.
      if (!ino) ino = by_dino;
      if (!ino) ino = 0xffffffffu; // FUSE_UNKNOWN_INO
    }
    char *o = list_out + pos;
    if (plus) {
      memcpy(o, &eo, sizeof eo);
      o += sizeof eo;
    }
    struct {
      uint64_t ino, off;
      uint32_t namelen, type;
    } de = {ino, cookie, (uint32_t)n, type};
    memcpy(o, &de, sizeof de);
    memcpy(o + sizeof de, name, n);
    memset(o + sizeof de + n, 0, dirent - sizeof de - n);
    pos += rec;
    if (cookie == (uint64_t)d->count + 2) {
      ldir_forget_listing(d); // all given: the kernel caches it
      d->end = cookie;
    }
  }
  for (uint32_t i = 0; i < d->npaths; i++)
    if (fds[i] >= 0) close(fds[i]);
  send_reply(s, h->unique, 0, list_out, pos);
  return 1;
}

// GETATTR of a directory still only in lower layers that the loop lists
// (the stable answer its parent's listing left is gone once anything in the
// tree changed): a stat of its top host directory, as the engine answers
// (a merged one has one link), until JavaScript drops it (copied up,
// removed). An rm -rf reads each directory (the kernel then asks for its
// attributes again) after removing the one before: each was a call into
// JavaScript, 0.25 ms with the listing's records it took in first.
static int ldir_getattr(struct session *s, uint64_t id, uint64_t unique) {
  struct ldir *d = ldir_of(s, id);
  struct stat st;
  if (!d || d->npaths == 0 || lstat(ldir_path(d, 0), &st) != 0 || !S_ISDIR(st.st_mode)) return 0;
  struct fuse_attr_out out = {s->list_attr, s->list_attr_ns, 0, attr_of(&st, id, d->npaths > 1 ? 1 : (uint32_t)st.st_nlink)};
  send_reply(s, unique, 0, &out, sizeof out);
  return 1;
}

static struct session *sessions;
// Shared by all sessions: requests are handled one at a time on this thread.
// Both are placed so that file data lands on a page boundary (a WRITE's
// payload in in_buf, a READ's reply data in read_buf): a handle the program
// opened with O_DIRECT is open with O_DIRECT on the host too, and the host
// file system takes only aligned buffers then (EINVAL otherwise, which made
// `dd iflag=direct` of a page-cached file fail through the mount).
#define DATA_ALIGN 4096
#define WRITE_DATA_OFF (sizeof(struct fuse_in_header) + sizeof(struct fuse_write_in))
static char *in_buf, *read_buf;

// A buffer of `size` bytes whose byte `data_off` sits on a DATA_ALIGN boundary; never freed (one per process).
static char *aligned_at(size_t data_off, size_t size) {
  void *p;
  size_t pad = (DATA_ALIGN - data_off % DATA_ALIGN) % DATA_ALIGN;
  if (posix_memalign(&p, DATA_ALIGN, pad + size) != 0) return NULL;
  return (char *)p + pad;
}

static struct session *session_of(int fd) {
  for (struct session *s = sessions; s; s = s->next)
    if (s->fd == fd && !s->ended) return s;
  return NULL;
}

static void deliver(struct session *s, struct item *it);

static int idbits_has(const struct idbits *b, uint64_t id) {
  return id / 8 < b->bytes && (b->bits[id / 8] >> (id % 8)) & 1;
}

static int nocaps_has(struct session *s, uint64_t id) {
  return idbits_has(&s->nocaps, id);
}

static void idbits_set(struct idbits *b, uint64_t id, int on) {
  if (id / 8 >= b->bytes) {
    if (!on || id >= (1ULL << 32)) return;
    size_t n = b->bytes ? b->bytes : 4096;
    while (n <= id / 8) n *= 2;
    uint8_t *p = realloc(b->bits, n);
    if (!p) return;
    memset(p + b->bytes, 0, n - b->bytes);
    b->bits = p;
    b->bytes = n;
  }
  if (on) b->bits[id / 8] |= (uint8_t)(1u << (id % 8));
  else b->bits[id / 8] &= (uint8_t)~(1u << (id % 8));
}

static void nocaps_set(struct session *s, uint64_t id, int on) {
  idbits_set(&s->nocaps, id, on);
}

static napi_value throw_errno(napi_env env, int e, const char *what) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(e));
  napi_value m, err, v;
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &m);
  napi_create_error(env, NULL, m, &err);
  napi_create_int32(env, -e, &v);
  napi_set_named_property(env, err, "errno", v);
  napi_create_string_utf8(env, strerrorname_np(e) ? strerrorname_np(e) : "EUNKNOWN", NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, err, "code", v);
  napi_throw(env, err);
  return NULL;
}

static napi_value undef(napi_env env) {
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

// ---- requests answered here --------------------------------------------------

static void send_reply(struct session *s, uint64_t unique, int err, const void *data, size_t len) {
  struct fuse_out_header out = {(uint32_t)(sizeof out + len), err, unique};
  struct iovec iov[2] = {{&out, sizeof out}, {(void *)data, len}};
  // ENOENT: the request was interrupted meanwhile; nothing to do.
  if (writev(s->fd, iov, len ? 2 : 1) < 0 && errno != ENOENT) perror("strata fuse: reply");
}

static void do_init(struct session *s, const struct fuse_in_header *h, const char *body) {
  const struct fuse_init_in *in = (const void *)body;
  struct fuse_init_out out;
  memset(&out, 0, sizeof out);
  out.major = FUSE_KERNEL_VERSION;
  if (in->major != FUSE_KERNEL_VERSION) {
    // An older or newer major: tell the kernel ours and let it decide.
    send_reply(s, h->unique, 0, &out, 8);
    return;
  }
  uint64_t offered = in->flags;
  if (in->flags & FUSE_INIT_EXT) offered |= (uint64_t)in->flags2 << 32;
  uint64_t want = FUSE_ASYNC_READ | FUSE_ATOMIC_O_TRUNC | FUSE_BIG_WRITES | FUSE_DO_READDIRPLUS |
                  FUSE_READDIRPLUS_AUTO | FUSE_ASYNC_DIO | FUSE_PARALLEL_DIROPS | FUSE_MAX_PAGES |
                  FUSE_CACHE_SYMLINKS | FUSE_NO_OPENDIR_SUPPORT | FUSE_INIT_EXT | FUSE_DIRECT_IO_ALLOW_MMAP;
  // Killing set-user-ID, set-group-ID and capabilities on write, truncate
  // and chown is ours (kill_suidgid, and JavaScript for truncation), so the
  // kernel may mark a checked inode S_NOSEC and stop asking for its
  // security.capability before every write(2): 4.5 round trips per file of
  // an untar, 1 now. Passed-through writes never reach us; see backing_open.
  want |= FUSE_HANDLE_KILLPRIV_V2;
  if (s->passthrough) want |= FUSE_PASSTHROUGH;
  uint64_t flags = offered & want;
  s->no_opendir = (flags & FUSE_NO_OPENDIR_SUPPORT) != 0;
  out.minor = in->minor < FUSE_KNOWN_MINOR ? in->minor : FUSE_KNOWN_MINOR;
  out.max_readahead = in->max_readahead;
  out.flags = (uint32_t)flags;
  out.flags2 = (uint32_t)(flags >> 32);
  out.max_background = 64;
  out.congestion_threshold = 48;
  out.max_write = MAX_WRITE;
  out.time_gran = 1;
  out.max_pages = MAX_PAGES;
  // Backing files live on ordinary filesystems (depth 0); 1 leaves room for
  // an overlayfs to stack on a strata mount.
  if (flags & FUSE_PASSTHROUGH) out.max_stack_depth = 1;
  send_reply(s, h->unique, 0, &out, sizeof out);

  struct item *it = calloc(1, sizeof *it);
  it->kind = ITEM_INIT;
  it->flags = flags;
  it->minor = in->minor;
  deliver(s, it);
}

// What the kernel leaves to us with FUSE_HANDLE_KILLPRIV_V2 when a caller
// without CAP_FSETID writes or truncates (it sends a flag): set-user-ID
// goes, and set-group-ID where group execute is on, or where the caller is
// not of the file's group (only its primary group is known here; the kernel
// counts supplementary ones too). The host file system drops
// security.capability by itself on a write. 1 if the mode changed.
static int kill_suidgid(int fd, uint32_t caller_gid) {
  struct stat st;
  if (fstat(fd, &st) < 0) return -1;
  mode_t keep = st.st_mode & 07777 & ~(mode_t)S_ISUID;
  if ((st.st_mode & S_IXGRP) || st.st_gid != caller_gid) keep &= ~(mode_t)S_ISGID;
  if (keep == (st.st_mode & 07777)) return 0;
  return fchmod(fd, keep) < 0 ? -1 : 1;
}

// Tells the kernel that a node's attributes changed behind its back (a
// write that killed set-ID bits: the kernel does not expect a write to
// change the mode). Attributes only; the page cache stays.
static void notify_inval_attrs(struct session *s, uint64_t nodeid) {
  struct fuse_notify_inval_inode_out arg = {nodeid, -1, 0};
  struct fuse_out_header out = {(uint32_t)(sizeof out + sizeof arg), FUSE_NOTIFY_INVAL_INODE, 0};
  struct iovec iov[2] = {{&out, sizeof out}, {&arg, sizeof arg}};
  if (writev(s->fd, iov, 2) < 0 && errno != ENOENT) perror("strata fuse: notify");
}

static void do_read(struct session *s, const struct fuse_in_header *h, const char *body) {
  const struct fuse_read_in *in = (const void *)body;
  size_t size = in->size > MAX_WRITE ? MAX_WRITE : in->size;
  ssize_t n = pread((int)in->fh, read_buf + sizeof(struct fuse_out_header), size, (off_t)in->offset);
  struct fuse_out_header *out = (void *)read_buf;
  if (n < 0) {
    send_reply(s, h->unique, -errno, NULL, 0);
    return;
  }
  out->len = (uint32_t)(sizeof *out + n);
  out->error = 0;
  out->unique = h->unique;
  if (write(s->fd, read_buf, out->len) < 0 && errno != ENOENT) perror("strata fuse: read reply");
}

static void do_write(struct session *s, const struct fuse_in_header *h, const char *body) {
  const struct fuse_write_in *in = (const void *)body;
  const char *data = body + sizeof *in;
  size_t done = 0;
  if (in->write_flags & FUSE_WRITE_KILL_SUIDGID) {
    int k = kill_suidgid((int)in->fh, h->gid);
    if (k < 0) {
      send_reply(s, h->unique, -errno, NULL, 0);
      return;
    }
    if (k > 0) notify_inval_attrs(s, h->nodeid);
  }
  while (done < in->size) {
    ssize_t n = pwrite((int)in->fh, data + done, in->size - done, (off_t)(in->offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      send_reply(s, h->unique, -errno, NULL, 0);
      return;
    }
    done += (size_t)n;
  }
  struct fuse_write_out out = {(uint32_t)done, 0};
  send_reply(s, h->unique, 0, &out, sizeof out);
}

static void forward(struct session *s, const struct fuse_in_header *h, const char *body, size_t len) {
  struct item *it = malloc(sizeof *it + len);
  if (!it) {
    send_reply(s, h->unique, -ENOMEM, NULL, 0);
    return;
  }
  it->kind = ITEM_REQUEST;
  it->h = *h;
  it->len = (uint32_t)len;
  memcpy(it->body, body, len);
  deliver(s, it);
}

static void on_closed(uv_handle_t *handle) {
  struct session *s = handle->data;
  for (struct session **p = &sessions; *p; p = &(*p)->next) {
    if (*p == s) {
      *p = s->next;
      break;
    }
  }
  napi_delete_reference(s->env, s->cb);
  napi_async_destroy(s->env, s->actx);
  close(s->fd);
  free(s->nocaps.bits);
  free(s->held.bits);
  free(s->attrs);
  slots_drop_all(s->dirs);
  slots_drop_all(s->files);
  prep_clear(s);
  free(s->prep);
  free(s->looked);
  free(s->forgets);
  free(s->released);
  free(s->created);
  if (s->udirs)
    for (int i = 0; i < UDIR_SLOTS; i++) udir_drop(&s->udirs[i]);
  free(s->udirs);
  free(s->whiteout);
  free(s->unlinked);
  if (s->cdirs)
    for (int i = 0; i < CDIR_SLOTS; i++) free(s->cdirs[i].hashes);
  free(s->cdirs);
  ldirs_drop_all(s);
  free(s->ldirs);
  free(s->inos.t);
  free(s->listed);
  free(s->finished);
  dc_close(s->dc);
  free(s->dirs);
  free(s->files);
  free(s);
}

static void end_session(struct session *s, int err) {
  if (s->ended) return;
  s->ended = 1;
  colo_forget(s->fd);
  uv_poll_stop(&s->poller);
  // Written now: JavaScript may end the process when it hears of the end.
  dc_close(s->dc);
  s->dc = NULL;
  struct item *it = calloc(1, sizeof *it);
  if (it) {
    it->kind = ITEM_END;
    it->err = err;
    deliver(s, it);
  }
  uv_close((uv_handle_t *)&s->poller, on_closed);
}

// The name a CREATE, MKNOD, MKDIR, SYMLINK or LINK gives in directory h->nodeid.
static void cdir_note_new(struct session *s, const struct fuse_in_header *h, const char *body, size_t len) {
  size_t skip;
  switch (h->opcode) {
    case FUSE_CREATE: skip = 16; break;  // fuse_create_in
    case FUSE_MKNOD: skip = 16; break;   // fuse_mknod_in
    case FUSE_MKDIR: skip = 8; break;    // fuse_mkdir_in
    case FUSE_LINK: skip = 8; break;     // fuse_link_in
    case FUSE_SYMLINK: skip = 0; break;  // name, then the link's target
    default: return;                     // UNLINK, xattrs: no new name
  }
  struct cdir *d = cdir_of(s, h->nodeid);
  if (!d) return;
  if (len < skip) cdir_drop(s, d);
  else cdir_note(s, d, body + skip, body + len);
}

// The new name a RENAME or RENAME2 gives in its target directory.
static void cdir_note_rename(struct session *s, const struct fuse_in_header *h, const char *body, size_t len) {
  size_t skip = h->opcode == FUSE_RENAME2 ? 16 : 8; // fuse_rename2_in / fuse_rename_in
  uint64_t newdir;
  if (len < skip) return;
  memcpy(&newdir, body, sizeof newdir);
  struct cdir *d = cdir_of(s, newdir);
  if (!d) return;
  const char *end = body + len, *old = body + skip;
  size_t n = strnlen(old, (size_t)(end - old));
  if (old + n >= end) cdir_drop(s, d);
  else cdir_note(s, d, old + n + 1, end);
}

// One request: answered here, or handed to JavaScript.
static void dispatch(struct session *s, const char *buf, size_t n) {
  const struct fuse_in_header *h = (const void *)buf;
  const char *body = buf + sizeof *h;
  size_t len = n - sizeof *h;
  if (h->opcode <= FUSE_OPCODE_MAX) s->counts[h->opcode]++;
  switch (h->opcode) {
    case FUSE_INIT:
      do_init(s, h, body);
      break;
    case FUSE_DESTROY:
      send_reply(s, h->unique, 0, NULL, 0);
      end_session(s, 0);
      break;
    case FUSE_INTERRUPT:
    case FUSE_NOTIFY_REPLY:
      break; // no reply: every request is answered promptly anyway
    case FUSE_READ:
      do_read(s, h, body);
      break;
    case FUSE_WRITE:
      do_write(s, h, body);
      break;
    case FUSE_FLUSH:
      // Nothing is buffered here (data is in the host files) and locks are
      // the kernel's: ENOSYS once, and close(2) stops costing a round trip.
      send_reply(s, h->unique, -ENOSYS, NULL, 0);
      break;
    case FUSE_FSYNCDIR:
      send_reply(s, h->unique, 0, NULL, 0);
      break;
    case FUSE_FSYNC: {
      const struct fuse_fsync_in *in = (const void *)body;
      int r = (in->fsync_flags & 1) ? fdatasync((int)in->fh) : fsync((int)in->fh);
      send_reply(s, h->unique, r < 0 ? -errno : 0, NULL, 0);
      break;
    }
    case FUSE_FALLOCATE: {
      const struct fuse_fallocate_in *in = (const void *)body;
      int r = fallocate((int)in->fh, (int)in->mode, (off_t)in->offset, (off_t)in->length);
      send_reply(s, h->unique, r < 0 ? -errno : 0, NULL, 0);
      break;
    }
    case FUSE_OPENDIR: {
      // Directory handles carry nothing: listings are by node id (offsets
      // are stable cookies), cached by the kernel. ENOSYS once, and the
      // kernel stops sending OPENDIR and RELEASEDIR.
      struct fuse_open_out out = {0, FOPEN_CACHE_DIR | FOPEN_KEEP_CACHE, 0};
      if (s->no_opendir) send_reply(s, h->unique, -ENOSYS, NULL, 0);
      else send_reply(s, h->unique, 0, &out, sizeof out);
      break;
    }
    case FUSE_RELEASEDIR:
      send_reply(s, h->unique, 0, NULL, 0);
      break;
    case FUSE_GETXATTR:
      if (len > 8 && strcmp(body + 8, "security.capability") == 0 && nocaps_has(s, h->nodeid)) {
        send_reply(s, h->unique, -ENODATA, NULL, 0);
        break;
      }
      forward(s, h, body, len);
      break;
    case FUSE_GETATTR: {
      const char *a = attr_get(s, h->nodeid);
      if (a) send_reply(s, h->unique, 0, a, ATTR_OUT_SIZE);
      else if (!slot_getattr(s, slot_of(s->dirs, h->nodeid), h->unique) &&
               !slot_getattr(s, slot_of(s->files, h->nodeid), h->unique) && !ldir_getattr(s, h->nodeid, h->unique))
        forward(s, h, body, len);
      break;
    }
    case FUSE_FORGET: {
      // A walk that evicts inodes sends one per file (rm -rf: one per
      // unlink); each cost a call into JavaScript. They wait for the next
      // one instead, as one BATCH_FORGET.
      node_forgotten(s, h->nodeid);
      const struct fuse_forget_in *in = (const void *)body;
      if (len < sizeof *in) break;
      if (s->forget_count == FORGETS_MAX) flush_forgets(s);
      if (!s->forgets && !(s->forgets = malloc(FORGETS_MAX * sizeof *s->forgets))) {
        forward(s, h, body, len);
        break;
      }
      s->forgets[s->forget_count].nodeid = h->nodeid;
      s->forgets[s->forget_count].nlookup = in->nlookup;
      s->forget_count++;
      break;
    }
    case FUSE_BATCH_FORGET: {
      const struct fuse_batch_forget_in *in = (const void *)body;
      const struct fuse_forget_one *one = (const void *)(in + 1);
      for (uint32_t i = 0; i < in->count && (const char *)(one + i + 1) <= body + len; i++) node_forgotten(s, one[i].nodeid);
      forward(s, h, body, len);
      break;
    }
    // Requests that leave the tree as it is.
    case FUSE_LOOKUP:
      if (!prep_lookup(s, h, body, len) && !cdir_lookup(s, h, body, len)) forward(s, h, body, len);
      break;
    case FUSE_RELEASE:
      if (!try_release(s, h, body, len)) forward(s, h, body, len);
      break;
    case FUSE_READDIR: case FUSE_READDIRPLUS:
      if (!try_readdir(s, h, body, len, h->opcode == FUSE_READDIRPLUS)) forward(s, h, body, len);
      break;
    case FUSE_READLINK: case FUSE_STATFS: case FUSE_LISTXATTR:
      forward(s, h, body, len);
      break;
    // Requests that remove or may replace a directory. The loop cannot tell
    // which one goes: for an RMDIR JavaScript lets go of that one's
    // descriptor itself (upperDir with -1), so the others stay (an rm -rf
    // asks for the parent's attributes after each); a rename may replace
    // any, so it drops them all.
    case FUSE_RMDIR: case FUSE_RENAME: case FUSE_RENAME2:
      if (h->opcode != FUSE_RMDIR) {
        cdir_note_rename(s, h, body, len);
        slots_drop_all(s->dirs);
        ldirs_drop_all(s);
      }
      s->attr_gen++;
      forward(s, h, body, len);
      break;
    // A file's own attributes: the tree stays as it is.
    case FUSE_SETATTR:
      if (slot_setattr(s, h, body, len)) break;
      s->attr_gen++;
      forward(s, h, body, len);
      break;
    case FUSE_OPEN: {
      // A write open copies up (and O_TRUNC writes); a read-only one leaves the tree alone.
      const struct { uint32_t flags, open_flags; } *in = (const void *)body;
      if (len < sizeof *in || (in->flags & O_ACCMODE) != O_RDONLY || (in->flags & O_TRUNC)) s->attr_gen++;
      forward(s, h, body, len);
      break;
    }
    // Requests that may change it.
    case FUSE_CREATE:
      if (try_create(s, h, body, len)) break;
      // fall through
    case FUSE_UNLINK: // (and CREATE, falling through)
      if (h->opcode == FUSE_UNLINK && try_unlink(s, h, body, len)) break;
      // fall through
    case FUSE_SYMLINK: case FUSE_MKNOD: case FUSE_MKDIR:
    case FUSE_LINK:
    case FUSE_SETXATTR: case FUSE_REMOVEXATTR:
      cdir_note_new(s, h, body, len);
      s->attr_gen++;
      forward(s, h, body, len);
      break;
    default:
      // ACCESS, locks, ioctl, poll, lseek, copy_file_range, statx...: the
      // kernel falls back to its own handling and stops asking.
      send_reply(s, h->unique, -ENOSYS, NULL, 0);
  }
}

// How long the loop keeps polling /dev/fuse after a request before it goes
// back to sleep in the event loop (STRATA_FUSE_SPIN_US; 0: never polls).
// A program walking or changing a tree sends its next request soon after
// our reply, and on a VM waking a thread whose CPU went idle costs tens of
// microseconds, more than most requests take to answer. Measured here (2
// vCPUs, 10k cold lstats through the mount, fsops stat): 0.95-1.07 s
// without polling, 0.53-0.65 s polling 200 us; a pipe ping-pong: 41 us
// round trip blocking, 10 us with one side polling. Bounded, so an idle
// mount costs nothing. While requests keep coming, colocate.c keeps the
// loop on its caller's CPU.
static uint64_t spin_ns = 200000;

// Whether a loop is draining requests, and since when all have slept (for
// the remover, which waits for a quiet moment: see remover.c).
static struct loop_activity activity;
static napi_ref activity_ref;

// (refresh.c reads it.)
const struct loop_activity *loop_activity(void) {
  return &activity;
}

void refresh_when_quiet(uv_loop_t *loop);

// The fd is readable: drain requests, polling a little for the next one
// before letting the event loop breathe.
static void on_readable(uv_poll_t *p, int status, int events) {
  struct session *s = p->data;
  (void)events;
  if (s->ended) return;
  if (status < 0) {
    end_session(s, EIO);
    return;
  }
  __atomic_add_fetch(&activity.busy, 1, __ATOMIC_RELAXED);
  uint64_t idle_since = 0;
  for (int i = 0; i < 4096 && !s->ended;) {
    ssize_t n = read(s->fd, in_buf, IN_BUF);
    if (n < 0) {
      if (errno == EAGAIN) {
        if (!spin_ns) break;
        uint64_t t = now_ns();
        if (!idle_since) idle_since = t;
        else if (t - idle_since >= spin_ns) break;
        sched_yield(); // a runnable thread on this CPU goes first: polling only fills idle time
        continue;
      }
      if (errno == EINTR || errno == ENOENT) continue;
      end_session(s, errno == ENODEV ? 0 : errno);
      break;
    }
    idle_since = 0;
    i++;
    __atomic_add_fetch(&activity.served, 1, __ATOMIC_RELAXED);
    if ((size_t)n < sizeof(struct fuse_in_header)) continue;
    colo_request(s->fd, ((const struct fuse_in_header *)in_buf)->pid);
    uint32_t opcode = ((const struct fuse_in_header *)in_buf)->opcode;
    if (opcode == FUSE_FORGET || opcode == FUSE_BATCH_FORGET) colo_oneway();
    dispatch(s, in_buf, (size_t)n);
    colo_done();
  }
  colo_rest();
  // Going back to sleep: JavaScript learns of the files made here and lets go of what the kernel forgot
  // now, not at the next request.
  if (!s->ended) {
    flush_created(s);
    flush_listed(s);
    flush_unlinked(s);
    flush_released(s);
    flush_forgets(s);
  }
  __atomic_store_n(&activity.idle_since_ns, now_ns(), __ATOMIC_RELAXED);
  __atomic_sub_fetch(&activity.busy, 1, __ATOMIC_RELEASE);
  refresh_when_quiet(p->loop);
}

// Directories whose listing ended (ITEM_ENDED) go to JavaScript, and their
// attributes are fetched again (refresh.c), once the loops have slept
// QUIET_MS: a timer of the event loop, pushed back each time a loop goes to
// sleep, so that nothing of it runs between the requests of a walk (handing
// JavaScript each sleep's few directories then cost a cold find over 212
// directories about 6 ms in 16 alternating pairs).
#define QUIET_MS 5
int refresh_pending(void); // refresh.c
void refresh_go(void);     // refresh.c
static uv_timer_t quiet_timer;
static int quiet_timer_ready;

static void on_quiet(uv_timer_t *t) {
  (void)t;
  for (struct session *s = sessions; s; s = s->next)
    if (!s->ended) flush_ended(s); // (JavaScript hands refresh.c the paths at once)
  refresh_go();
}

// A loop of `loop` went to sleep, or paths were queued: on_quiet in
// QUIET_MS, unless a loop wakes first and pushes it back.
void refresh_when_quiet(uv_loop_t *loop) {
  int any = refresh_pending();
  for (struct session *s = sessions; s && !any; s = s->next) any = s->finished_count != 0;
  if (!any) return;
  if (!quiet_timer_ready) {
    if (uv_timer_init(loop, &quiet_timer) != 0) return;
    uv_unref((uv_handle_t *)&quiet_timer); // (it does not keep the process alive)
    quiet_timer_ready = 1;
  }
  if (quiet_timer.loop != loop) return;
  uv_update_time(loop); // (the loop's clock stands still while a callback drains requests)
  uv_timer_start(&quiet_timer, on_quiet, QUIET_MS, 0);
}

// Calls JavaScript: callback(kind, op, unique, nodeid, uid, gid, pid, body | info). Frees `it`.
static void deliver(struct session *s, struct item *it) {
  // In the kernel's order: files made here, then lookups the loop answered, then the lower files it
  // whited out (by parent and name: JavaScript must still know the parent), then the forgets that may
  // count any of them down, all before anything else (each flush empties its list before it delivers, so the
  // nested call does nothing).
  if (it->kind != ITEM_CREATED) flush_created(s);
  if (it->kind != ITEM_LOOKUPS && it->kind != ITEM_CREATED && it->kind != ITEM_UNLINKED && it->kind != ITEM_RELEASED && it->kind != ITEM_LISTED &&
      it->kind != ITEM_ENDED) {
    flush_listed(s);
    flush_looked(s);
    flush_unlinked(s);
    flush_released(s);
    flush_forgets(s);
  }
  napi_env env = s->env;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value argv[8], global, cb, result;
  napi_get_global(env, &global);
  napi_get_reference_value(env, s->cb, &cb);
  napi_create_int32(env, it->kind, &argv[0]);
  napi_create_int32(env, (int32_t)it->h.opcode, &argv[1]);
  napi_create_double(env, (double)it->h.unique, &argv[2]);
  napi_create_double(env, (double)it->h.nodeid, &argv[3]);
  napi_create_uint32(env, it->h.uid, &argv[4]);
  napi_create_uint32(env, it->h.gid, &argv[5]);
  napi_create_uint32(env, it->h.pid, &argv[6]);
  if (it->kind == ITEM_REQUEST || it->kind == ITEM_LOOKUPS || it->kind == ITEM_CREATED || it->kind == ITEM_UNLINKED || it->kind == ITEM_RELEASED || it->kind == ITEM_LISTED ||
      it->kind == ITEM_ENDED) {
    void *p;
    napi_create_buffer_copy(env, it->len, it->body, &p, &argv[7]);
  } else if (it->kind == ITEM_INIT) {
    napi_create_double(env, (double)it->flags, &argv[7]);
    napi_create_uint32(env, it->minor, &argv[1]);
  } else {
    napi_create_int32(env, it->err, &argv[7]);
  }
  free(it);
  // make_callback: runs microtasks afterwards and reports a throw as uncaught.
  if (napi_make_callback(env, s->actx, global, cb, 8, argv, &result) == napi_pending_exception) {
    napi_value err;
    napi_get_and_clear_last_exception(env, &err);
    napi_fatal_exception(env, err);
  }
  napi_close_handle_scope(env, scope);
}

// Tells JavaScript which node ids the loop handed out from prepared entries.
static void flush_looked(struct session *s) {
  if (!s->looked_count) return;
  size_t bytes = s->looked_count * sizeof *s->looked;
  struct item *it = malloc(sizeof *it + bytes);
  if (!it) return; // (then JavaScript undercounts: a node it drops may come back as ESTALE; memory is gone anyway)
  memset(it, 0, sizeof *it);
  it->kind = ITEM_LOOKUPS;
  it->len = (uint32_t)bytes;
  memcpy(it->body, s->looked, bytes);
  s->looked_count = 0;
  deliver(s, it);
}

// Hands JavaScript the records held in buf (len bytes, count records) as one item of `kind`, and empties them.
static void flush_records(struct session *s, enum item_kind kind, const char *buf, size_t *len, size_t *count) {
  if (!*count) return;
  struct item *it = malloc(sizeof *it + *len);
  if (!it) return; // (then the next call tries again)
  memset(it, 0, sizeof *it);
  it->kind = kind;
  it->len = (uint32_t)*len;
  memcpy(it->body, buf, *len);
  *len = 0;
  *count = 0;
  deliver(s, it);
}

// Tells JavaScript of the files made here (records as struct created_rec, each followed by its name).
static void flush_created(struct session *s) {
  flush_records(s, ITEM_CREATED, s->created, &s->created_len, &s->created_count);
}

// Tells JavaScript of the lower files whited out here (records as struct unlinked_rec, each followed by its name).
static void flush_unlinked(struct session *s) {
  flush_records(s, ITEM_UNLINKED, s->unlinked, &s->unlinked_len, &s->unlinked_count);
}

// Tells JavaScript of the entries listed here (records as struct listed_rec, each followed by its name).
static void flush_listed(struct session *s) {
  flush_records(s, ITEM_LISTED, s->listed, &s->listed_len, &s->listed_count);
}

// Tells JavaScript of the directories whose listing ended here (u64 node ids).
static void flush_ended(struct session *s) {
  flush_records(s, ITEM_ENDED, s->finished, &s->finished_len, &s->finished_count);
}

// Tells JavaScript of the RELEASEs answered here (u64 file handles).
static void flush_released(struct session *s) {
  flush_records(s, ITEM_RELEASED, s->released, &s->released_len, &s->released_count);
}

// Tells JavaScript of the FORGETs held back, as one BATCH_FORGET (unique 0: no reply).
static void flush_forgets(struct session *s) {
  if (!s->forget_count) return;
  size_t bytes = sizeof(struct fuse_batch_forget_in) + s->forget_count * sizeof *s->forgets;
  struct item *it = malloc(sizeof *it + bytes);
  if (!it) return; // (then JavaScript keeps those nodes: memory is gone anyway)
  memset(it, 0, sizeof *it);
  it->kind = ITEM_REQUEST;
  it->h.opcode = FUSE_BATCH_FORGET;
  it->h.len = (uint32_t)(sizeof it->h + bytes);
  it->len = (uint32_t)bytes;
  struct fuse_batch_forget_in in = {(uint32_t)s->forget_count, 0};
  memcpy(it->body, &in, sizeof in);
  memcpy(it->body + sizeof in, s->forgets, s->forget_count * sizeof *s->forgets);
  s->forget_count = 0;
  deliver(s, it);
}

// ---- JavaScript API ---------------------------------------------------------

static int arg_i64(napi_env env, napi_value v, int64_t *out) {
  napi_valuetype t;
  napi_typeof(env, v, &t);
  if (t == napi_bigint) {
    bool lossless;
    return napi_get_value_bigint_int64(env, v, out, &lossless) == napi_ok;
  }
  return napi_get_value_int64(env, v, out) == napi_ok;
}

// mount(mountpoint, source, fstype, mountFlags, extraOptions) -> fd of /dev/fuse.
static napi_value js_mount(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 5) return throw_errno(env, EINVAL, "mount: arguments");
  char mp[4096], source[256], fstype[64], extra[1024];
  size_t l;
  int64_t mflags;
  if (napi_get_value_string_utf8(env, argv[0], mp, sizeof mp, &l) != napi_ok ||
      napi_get_value_string_utf8(env, argv[1], source, sizeof source, &l) != napi_ok ||
      napi_get_value_string_utf8(env, argv[2], fstype, sizeof fstype, &l) != napi_ok ||
      !arg_i64(env, argv[3], &mflags) ||
      napi_get_value_string_utf8(env, argv[4], extra, sizeof extra, &l) != napi_ok)
    return throw_errno(env, EINVAL, "mount: arguments");
  int fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
  if (fd < 0) return throw_errno(env, errno, "open /dev/fuse");
  char data[1200];
  snprintf(data, sizeof data, "fd=%d,rootmode=40000,user_id=%u,group_id=%u%s%s", fd, getuid(), getgid(),
           extra[0] ? "," : "", extra);
  if (mount(source, mp, fstype, (unsigned long)mflags, data) != 0) {
    int e = errno;
    close(fd);
    return throw_errno(env, e, "mount");
  }
  napi_value r;
  napi_create_int32(env, fd, &r);
  return r;
}

// start(fd, callback, passthrough): serves the session on fd from this thread's event loop.
static napi_value js_start(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3], name;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd;
  bool pt = false;
  if (argc < 3 || napi_get_value_int32(env, argv[0], &fd) != napi_ok) return throw_errno(env, EINVAL, "start: arguments");
  if (session_of(fd)) return throw_errno(env, EBUSY, "start: a session is running on this fd");
  napi_get_value_bool(env, argv[2], &pt);
  uv_loop_t *loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) return throw_errno(env, EINVAL, "start: event loop");
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) return throw_errno(env, errno, "start: O_NONBLOCK");
  const char *spin = getenv("STRATA_FUSE_SPIN_US");
  if (spin && *spin) spin_ns = strtoull(spin, NULL, 10) * 1000u;
  const char *cc = getenv("STRATA_FUSE_C_CREATE");
  c_create = !(cc && strcmp(cc, "0") == 0);
  colo_init();
  if (!in_buf) in_buf = aligned_at(WRITE_DATA_OFF, IN_BUF);
  if (!read_buf) read_buf = aligned_at(sizeof(struct fuse_out_header), MAX_WRITE + sizeof(struct fuse_out_header));
  struct session *s = calloc(1, sizeof *s);
  if (!in_buf || !read_buf || !s) {
    free(s);
    return throw_errno(env, ENOMEM, "start: buffers");
  }
  s->fd = fd;
  s->passthrough = pt;
  s->env = env;
  int e = uv_poll_init(loop, &s->poller, fd);
  if (e) {
    free(s);
    return throw_errno(env, -e, "start: uv_poll_init");
  }
  s->poller.data = s;
  napi_create_reference(env, argv[1], 1, &s->cb);
  napi_create_string_utf8(env, "strata-fuse", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, NULL, name, &s->actx);
  s->next = sessions;
  sessions = s;
  e = uv_poll_start(&s->poller, UV_READABLE, on_readable);
  if (e) {
    s->ended = 1;
    uv_close((uv_handle_t *)&s->poller, on_closed);
    return throw_errno(env, -e, "start: uv_poll_start");
  }
  return undef(env);
}

// The session named by argv[0] (its fd), or NULL (ended: the call is a no-op).
static struct session *arg_session(napi_env env, napi_value v) {
  int32_t fd;
  if (napi_get_value_int32(env, v, &fd) != napi_ok) return NULL;
  return session_of(fd);
}

// reply(fd, unique, error, data?): error is 0 or a negative errno.
static napi_value js_reply(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int64_t unique;
  int32_t err;
  if (argc < 3 || !arg_i64(env, argv[1], &unique) || napi_get_value_int32(env, argv[2], &err) != napi_ok)
    return throw_errno(env, EINVAL, "reply: arguments");
  struct session *s = arg_session(env, argv[0]);
  if (!s) return undef(env);
  void *data = NULL;
  size_t len = 0;
  if (argc > 3) {
    bool isbuf = false;
    napi_is_buffer(env, argv[3], &isbuf);
    if (isbuf) napi_get_buffer_info(env, argv[3], &data, &len);
  }
  send_reply(s, (uint64_t)unique, err, data, len);
  return undef(env);
}

// The kernel writes a passed-through file with the credentials the backing
// was registered with, and the host file system then kills set-user-ID
// and set-group-ID only if those lack CAP_FSETID. Registered with it
// dropped, a write through the backing kills them as an unprivileged
// caller's would (the kernel asks us nothing: FUSE_HANDLE_KILLPRIV_V2). A
// file that has them when opened is not passed through (JavaScript), so a
// privileged writer keeps them, as on any file system; only if they are
// set while a passed-through writer is open does a privileged write drop
// them too. Capabilities are per thread: the others never see the change.
// If CAP_FSETID cannot be dropped, there is no backing (EPERM): the file is
// then page cached, its writes through the loop.
static int backing_open(int dev, struct fuse_backing_map *map) {
  struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct caps[2], without[2];
  if (syscall(SYS_capget, &hdr, caps) != 0) return -1;
  int have = (caps[0].effective & (1u << CAP_FSETID)) != 0;
  if (have) {
    memcpy(without, caps, sizeof caps);
    without[0].effective &= ~(1u << CAP_FSETID);
    if (syscall(SYS_capset, &hdr, without) != 0) {
      errno = EPERM;
      return -1;
    }
  }
  int id = ioctl(dev, FUSE_DEV_IOC_BACKING_OPEN, map);
  int e = errno;
  if (have && syscall(SYS_capset, &hdr, caps) != 0) perror("strata fuse: restoring CAP_FSETID");
  errno = e;
  return id;
}

// backingOpen(fd, hostFd) -> backing id for FOPEN_PASSTHROUGH.
static napi_value js_backing_open(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], r;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t host;
  if (argc < 2 || napi_get_value_int32(env, argv[1], &host) != napi_ok) return throw_errno(env, EINVAL, "backingOpen: arguments");
  struct session *s = arg_session(env, argv[0]);
  if (!s) return throw_errno(env, ENOTCONN, "backingOpen: session ended");
  struct fuse_backing_map map = {host, 0, 0};
  int id = backing_open(s->fd, &map);
  if (id < 0) return throw_errno(env, errno, "FUSE_DEV_IOC_BACKING_OPEN");
  napi_create_int32(env, id, &r);
  return r;
}

// backingClose(fd, id): the kernel keeps the backing file for files still open.
static napi_value js_backing_close(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t id;
  if (argc < 2 || napi_get_value_int32(env, argv[1], &id) != napi_ok) return throw_errno(env, EINVAL, "backingClose: arguments");
  struct session *s = arg_session(env, argv[0]);
  if (!s) return undef(env); // gone with the session
  uint32_t bid = (uint32_t)id;
  if (ioctl(s->fd, FUSE_DEV_IOC_BACKING_CLOSE, &bid) < 0) return throw_errno(env, errno, "FUSE_DEV_IOC_BACKING_CLOSE");
  return undef(env);
}

// activity() -> an ArrayBuffer over this process's struct loop_activity
// (always the same one: V8 allows one ArrayBuffer per external memory).
static napi_value js_activity(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value ab = NULL;
  if (activity_ref && napi_get_reference_value(env, activity_ref, &ab) == napi_ok && ab) return ab;
  if (napi_create_external_arraybuffer(env, &activity, sizeof activity, NULL, NULL, &ab) != napi_ok)
    return throw_errno(env, ENOMEM, "activity: external ArrayBuffer");
  napi_create_reference(env, ab, 1, &activity_ref);
  return ab;
}

// counts(fd) -> requests received per opcode (index = opcode), including those answered in C.
static napi_value js_counts(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], arr, v;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  struct session *s = argc > 0 ? arg_session(env, argv[0]) : NULL;
  napi_create_array_with_length(env, FUSE_OPCODE_MAX + 1, &arr);
  for (uint32_t i = 0; i <= FUSE_OPCODE_MAX; i++) {
    napi_create_double(env, s ? (double)s->counts[i] : 0, &v);
    napi_set_element(env, arr, i, v);
  }
  return arr;
}

// dirCacheCounts(fd) -> [kept, read, ahead]: host directories the loop listed from the cache (dirCache), and from
// the disk; of the cache's checks, how many the checker threads had made already.
static napi_value js_dir_cache_counts(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], arr, v;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  struct session *s = argc > 0 ? arg_session(env, argv[0]) : NULL;
  double counts[3] = {s ? (double)s->dirs_kept : 0, s ? (double)s->dirs_read : 0, s ? (double)dc_checked_ahead(s->dc) : 0};
  napi_create_array_with_length(env, 3, &arr);
  for (uint32_t i = 0; i < 3; i++) {
    napi_create_double(env, counts[i], &v);
    napi_set_element(env, arr, i, v);
  }
  return arr;
}

// colocation() -> { enabled, bursts, moves, rescues, looks, starved, declines }: the loop's CPU placement (colocate.c).
static napi_value js_colocation(napi_env env, napi_callback_info info) {
  (void)info;
  struct colo_stats st;
  colo_stats(&st);
  napi_value o, v;
  napi_create_object(env, &o);
  napi_get_boolean(env, st.enabled, &v);
  napi_set_named_property(env, o, "enabled", v);
  const struct { const char *name; uint64_t n; } counts[] = {
    {"bursts", st.bursts}, {"moves", st.moves}, {"rescues", st.rescues}, {"looks", st.looks}, {"starved", st.starved}, {"declines", st.declines},
  };
  for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
    napi_create_double(env, (double)counts[i].n, &v);
    napi_set_named_property(env, o, counts[i].name, v);
  }
  return o;
}

// The arguments of a call about one node: (fd, nodeid, ...rest).
struct node_args {
  napi_value argv[6];
  struct session *s; // NULL once the session has ended: the call does nothing
  uint64_t id;
};

// Reads `want` arguments into *a; 0 after throwing (naming `what`).
static int node_call(napi_env env, napi_callback_info info, size_t want, struct node_args *a, const char *what) {
  size_t argc = want;
  int64_t v;
  napi_get_cb_info(env, info, &argc, a->argv, NULL, NULL);
  if (argc < want || !arg_i64(env, a->argv[1], &v)) {
    throw_errno(env, EINVAL, what);
    return 0;
  }
  a->s = arg_session(env, a->argv[0]);
  a->id = (uint64_t)v;
  return 1;
}

// noCaps(fd, nodeid, on): whether the loop may answer "no security.capability" for nodeid itself.
static napi_value js_no_caps(napi_env env, napi_callback_info info) {
  struct node_args a;
  bool on = false;
  if (!node_call(env, info, 3, &a, "noCaps: arguments")) return NULL;
  if (napi_get_value_bool(env, a.argv[2], &on) != napi_ok) return throw_errno(env, EINVAL, "noCaps: arguments");
  if (a.s) nocaps_set(a.s, a.id, on);
  return undef(env);
}

// stableAttr(fd, nodeid, attrOut): answer GETATTR for nodeid with these
// fuse_attr_out bytes until a request may have changed the tree.
static napi_value js_stable_attr(napi_env env, napi_callback_info info) {
  struct node_args a;
  void *data = NULL;
  size_t len = 0;
  bool isbuf = false;
  if (!node_call(env, info, 3, &a, "stableAttr: arguments")) return NULL;
  if (napi_is_buffer(env, a.argv[2], &isbuf) != napi_ok || !isbuf) return throw_errno(env, EINVAL, "stableAttr: arguments");
  napi_get_buffer_info(env, a.argv[2], &data, &len);
  if (len != ATTR_OUT_SIZE) return throw_errno(env, EINVAL, "stableAttr: not a fuse_attr_out");
  if (a.s) attr_put(a.s, a.id, data);
  return undef(env);
}

// upperDir(fd, nodeid, dirFd, merged, validSec, validNsec): answer GETATTR
// for nodeid with an fstat of dirFd (the loop owns it from now on); dirFd -1
// drops the node's registration.
static napi_value js_upper_dir(napi_env env, napi_callback_info info) {
  struct node_args a;
  int64_t valid;
  int32_t dfd;
  uint32_t nsec;
  bool merged;
  if (!node_call(env, info, 6, &a, "upperDir: arguments")) return NULL;
  if (napi_get_value_int32(env, a.argv[2], &dfd) != napi_ok || napi_get_value_bool(env, a.argv[3], &merged) != napi_ok ||
      !arg_i64(env, a.argv[4], &valid) || napi_get_value_uint32(env, a.argv[5], &nsec) != napi_ok)
    return throw_errno(env, EINVAL, "upperDir: arguments");
  if (dfd < 0) {
    if (a.s) slot_forget(a.s->dirs, a.id);
    return undef(env);
  }
  struct fd_slot d = {a.id, dfd, merged, a.id, (uint64_t)valid, nsec};
  if (a.s) slot_put(&a.s->dirs, &d);
  else close(dfd);
  return undef(env);
}

// writerFile(fd, nodeid, hostFd, ino, validSec, validNsec): answer GETATTR
// and SETATTR (mode, owner, times) of nodeid through a dup of hostFd;
// hostFd -1 drops the node's registration.
static napi_value js_writer_file(napi_env env, napi_callback_info info) {
  struct node_args a;
  int64_t ino, valid;
  int32_t hfd;
  uint32_t nsec;
  if (!node_call(env, info, 6, &a, "writerFile: arguments")) return NULL;
  if (napi_get_value_int32(env, a.argv[2], &hfd) != napi_ok || !arg_i64(env, a.argv[3], &ino) ||
      !arg_i64(env, a.argv[4], &valid) || napi_get_value_uint32(env, a.argv[5], &nsec) != napi_ok)
    return throw_errno(env, EINVAL, "writerFile: arguments");
  if (!a.s) return undef(env);
  slot_forget(a.s->files, a.id);
  if (hfd < 0) return undef(env);
  int own = fcntl(hfd, F_DUPFD_CLOEXEC, 0);
  if (own < 0) return undef(env); // JavaScript goes on answering for it
  struct fd_slot f = {a.id, own, 0, (uint64_t)ino, (uint64_t)valid, nsec};
  slot_put(&a.s->files, &f);
  return undef(env);
}

// prepareEntries(fd, parent, entries): LOOKUP answers for names in
// directory `parent`, each [u16 name length][name][fuse_entry_out], valid
// until the tree may change (see prep_put).
static napi_value js_prepare_entries(napi_env env, napi_callback_info info) {
  struct node_args a;
  const char *data = NULL;
  size_t len = 0;
  bool isbuf = false;
  if (!node_call(env, info, 3, &a, "prepareEntries: arguments")) return NULL;
  if (napi_is_buffer(env, a.argv[2], &isbuf) != napi_ok || !isbuf) return throw_errno(env, EINVAL, "prepareEntries: arguments");
  napi_get_buffer_info(env, a.argv[2], (void **)&data, &len);
  if (!a.s) return undef(env);
  for (size_t off = 0; off + 2 <= len;) {
    uint16_t n;
    memcpy(&n, data + off, 2);
    if (n == 0 || off + 2 + n + ENTRY_OUT_SIZE > len) return throw_errno(env, EINVAL, "prepareEntries: malformed");
    prep_put(a.s, a.id, data + off + 2, n, data + off + 2 + n);
    off += 2 + n + ENTRY_OUT_SIZE;
  }
  return undef(env);
}

// completeDir(fd, nodeid, names, validSec, validNsec, creatable): directory
// nodeid has no lower parts and exactly these names ([u16 length][name]
// each); the loop answers LOOKUPs of other names "no such entry" (see cdir),
// and if `creatable` (no whiteouts either) makes files there (try_create).
static napi_value js_complete_dir(napi_env env, napi_callback_info info) {
  struct node_args a;
  const char *data = NULL;
  size_t len = 0;
  bool isbuf = false;
  int64_t valid;
  uint32_t nsec;
  bool creatable = false;
  if (!node_call(env, info, 6, &a, "completeDir: arguments")) return NULL;
  napi_get_value_bool(env, a.argv[5], &creatable);
  if (napi_is_buffer(env, a.argv[2], &isbuf) != napi_ok || !isbuf || !arg_i64(env, a.argv[3], &valid) ||
      napi_get_value_uint32(env, a.argv[4], &nsec) != napi_ok)
    return throw_errno(env, EINVAL, "completeDir: arguments");
  napi_get_buffer_info(env, a.argv[2], (void **)&data, &len);
  if (!a.s || a.id == 0) return undef(env);
  struct session *s = a.s;
  if (!s->cdirs && !(s->cdirs = calloc(CDIR_SLOTS, sizeof *s->cdirs))) return undef(env);
  struct cdir *d = &s->cdirs[a.id & (CDIR_SLOTS - 1)];
  cdir_drop(s, d);
  d->nodeid = a.id;
  d->valid = (uint64_t)valid;
  d->valid_nsec = nsec;
  d->creatable = creatable;
  for (size_t off = 0; off + 2 <= len;) {
    uint16_t n;
    memcpy(&n, data + off, 2);
    if (n == 0 || off + 2 + n > len) {
      cdir_drop(s, d);
      return throw_errno(env, EINVAL, "completeDir: malformed");
    }
    if (!cdir_add(s, d, name_hash(data + off + 2, n))) {
      cdir_drop(s, d); // too many names: JavaScript answers for this one
      break;
    }
    off += 2 + n;
  }
  return undef(env);
}

// unlinkable(fd, nodeid, dirFd, whiteout, names): the loop may white out
// these names of directory nodeid (each [u16 LE length][name]) by linking
// `whiteout` into dirFd (the upper directory, which the loop now owns), for
// the current generation (see try_unlink).
static napi_value js_unlinkable(napi_env env, napi_callback_info info) {
  struct node_args a;
  int32_t dfd = -1;
  char path[4097];
  size_t plen = 0;
  const char *data = NULL;
  size_t len = 0;
  bool isbuf = false;
  if (!node_call(env, info, 5, &a, "unlinkable: arguments")) return NULL;
  if (napi_get_value_int32(env, a.argv[2], &dfd) != napi_ok ||
      napi_get_value_string_utf8(env, a.argv[3], path, sizeof path, &plen) != napi_ok || plen == 0 || plen >= sizeof path - 1 ||
      napi_is_buffer(env, a.argv[4], &isbuf) != napi_ok || !isbuf) {
    if (dfd >= 0) close(dfd);
    return throw_errno(env, EINVAL, "unlinkable: arguments");
  }
  napi_get_buffer_info(env, a.argv[4], (void **)&data, &len);
  struct session *s = a.s;
  uint32_t count = 0;
  for (size_t off = 0; off + 2 <= len; count++) {
    uint16_t n;
    memcpy(&n, data + off, 2);
    if (n == 0 || n > 255 || off + 2 + n > len) {
      close(dfd);
      return throw_errno(env, EINVAL, "unlinkable: malformed");
    }
    off += 2 + n;
  }
  if (!s || a.id == 0 || count == 0 || (!s->udirs && !(s->udirs = calloc(UDIR_SLOTS, sizeof *s->udirs)))) {
    close(dfd);
    return undef(env);
  }
  if (!s->whiteout || strcmp(s->whiteout, path) != 0) {
    char *w = strdup(path);
    if (!w) {
      close(dfd);
      return undef(env);
    }
    free(s->whiteout);
    s->whiteout = w;
  }
  struct udir *u = &s->udirs[a.id & (UDIR_SLOTS - 1)];
  udir_drop(u);
  uint32_t cap = 16;
  while (cap < count * 2) cap *= 2;
  u->slots = calloc(cap, sizeof *u->slots);
  u->names = malloc(len);
  if (!u->slots || !u->names) {
    free(u->slots);
    free(u->names);
    memset(u, 0, sizeof *u);
    close(dfd);
    return undef(env);
  }
  memcpy(u->names, data, len);
  u->nodeid = a.id;
  u->gen = s->attr_gen;
  u->fd = dfd;
  u->cap = cap;
  for (size_t off = 0; off + 2 <= len;) {
    uint16_t n;
    memcpy(&n, data + off, 2);
    if (!udir_find(u, data + off + 2, n)) { // (a name twice: once is enough)
      uint32_t i = name_hash(data + off + 2, n) & (cap - 1);
      while (u->slots[i]) i = (i + 1) & (cap - 1);
      u->slots[i] = (uint32_t)off + 1;
    }
    off += 2 + n;
  }
  return undef(env);
}

// reserveIds(fd, first, count): node ids [first, first + count) are the
// loop's to give the files it makes (try_create); those of a block before go unused.
static napi_value js_reserve_ids(napi_env env, napi_callback_info info) {
  struct node_args a;
  int64_t count;
  if (!node_call(env, info, 3, &a, "reserveIds: arguments")) return NULL;
  if (!arg_i64(env, a.argv[2], &count) || count < 0) return throw_errno(env, EINVAL, "reserveIds: arguments");
  if (a.s) {
    a.s->ids_next = a.id;
    a.s->ids_end = a.id + (uint64_t)count;
  }
  return undef(env);
}

// listable(fd, nodeid, parent, hostPaths, flags): the loop lists directory
// nodeid (child of parent) as the merge of host directories hostPaths (each
// followed by a NUL, top first) until it is dropped (see ldir; flags
// LDIR_*). "" drops it.
static napi_value js_listable(napi_env env, napi_callback_info info) {
  static char paths[1 << 16];
  struct node_args a;
  int64_t parent, flags;
  size_t len;
  if (!node_call(env, info, 5, &a, "listable: arguments")) return NULL;
  if (!arg_i64(env, a.argv[2], &parent) || !arg_i64(env, a.argv[4], &flags) ||
      napi_get_value_string_utf8(env, a.argv[3], paths, sizeof paths, &len) != napi_ok)
    return throw_errno(env, EINVAL, "listable: arguments");
  if (len >= sizeof paths - 1) return undef(env); // too many to hold: JavaScript lists it
  if (!a.s) return undef(env);
  if (len == 0) ldir_drop_id(a.s, a.id);
  else ldir_put(a.s, a.id, (uint64_t)parent, paths, len, (uint32_t)flags, NULL);
  return undef(env);
}

// inoMap(fd, hostDev, hostIno, n): host file (hostDev, hostIno) has merged
// inode number n now (0: none), as JavaScript's map says.
static napi_value js_ino_map(napi_env env, napi_callback_info info) {
  struct node_args a;
  int64_t ino, n;
  if (!node_call(env, info, 4, &a, "inoMap: arguments")) return NULL;
  if (!arg_i64(env, a.argv[2], &ino) || !arg_i64(env, a.argv[3], &n)) return throw_errno(env, EINVAL, "inoMap: arguments");
  if (!a.s) return undef(env);
  if (n) {
    if (!ino_put(&a.s->inos, a.id, (uint64_t)ino, (uint64_t)n)) return throw_errno(env, ENOMEM, "inoMap");
  } else {
    ino_del(&a.s->inos, a.id, (uint64_t)ino);
  }
  return undef(env);
}

// inoOf(fd, hostDev, hostIno): the merged number the loop's map holds for a host file (0: none). The
// engine asks when its own map has none: the numbers the loop gives the files it lists are not copied
// there one by one (10k listed files cost 6-10 ms of map growth in JavaScript).
static napi_value js_ino_of(napi_env env, napi_callback_info info) {
  struct node_args a;
  int64_t ino;
  if (!node_call(env, info, 3, &a, "inoOf: arguments")) return NULL;
  if (!arg_i64(env, a.argv[2], &ino)) return throw_errno(env, EINVAL, "inoOf: arguments");
  napi_value out;
  napi_create_double(env, a.s ? (double)ino_get(&a.s->inos, a.id, (uint64_t)ino) : 0, &out);
  return out;
}

// listTimeouts(fd, entrySec, entryNsec, attrSec, attrNsec): what the entries listed here are valid for.
static napi_value js_list_timeouts(napi_env env, napi_callback_info info) {
  struct node_args a;
  int64_t v[3];
  if (!node_call(env, info, 5, &a, "listTimeouts: arguments")) return NULL;
  for (int i = 0; i < 3; i++)
    if (!arg_i64(env, a.argv[2 + i], &v[i])) return throw_errno(env, EINVAL, "listTimeouts: arguments");
  if (a.s) {
    a.s->list_entry = a.id;
    a.s->list_entry_ns = (uint32_t)v[0];
    a.s->list_attr = (uint64_t)v[1];
    a.s->list_attr_ns = (uint32_t)v[2];
  }
  return undef(env);
}

// listLinks(fd, on): whether the loop gives attributes to files of several links it lists.
static napi_value js_list_links(napi_env env, napi_callback_info info) {
  struct node_args a;
  bool on = true;
  size_t argc = 2;
  napi_get_cb_info(env, info, &argc, a.argv, NULL, NULL);
  if (argc < 2 || napi_get_value_bool(env, a.argv[1], &on) != napi_ok) return throw_errno(env, EINVAL, "listLinks: arguments");
  struct session *s = arg_session(env, a.argv[0]);
  if (s) s->list_no_links = !on;
  return undef(env);
}

// dirCache(fd, file): the loop keeps the names of the lower directories it
// lists in `file` (dircache.c), and takes them from there while a directory
// is unchanged; "" stops it.
static napi_value js_dir_cache(napi_env env, napi_callback_info info) {
  static char file[PATH_MAX];
  napi_value argv[2];
  size_t argc = 2, len = 0;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 2 || napi_get_value_string_utf8(env, argv[1], file, sizeof file, &len) != napi_ok || len >= sizeof file - 1)
    return throw_errno(env, EINVAL, "dirCache: arguments");
  struct session *s = arg_session(env, argv[0]);
  if (!s) return undef(env);
  dc_close(s->dc);
  s->dc = len ? dc_open(file) : NULL;
  return undef(env);
}

// generation(fd) -> the tree generation (attr_gen): prepared entries and
// stable attributes of an older one are gone.
static napi_value js_generation(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], r;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  struct session *s = argc > 0 ? arg_session(env, argv[0]) : NULL;
  napi_create_double(env, s ? (double)s->attr_gen : 0, &r);
  return r;
}

// invalAttrs(fd, nodeid): the kernel asks for nodeid's attributes again.
static napi_value js_inval_attrs(napi_env env, napi_callback_info info) {
  struct node_args a;
  if (!node_call(env, info, 2, &a, "invalAttrs: arguments")) return NULL;
  if (a.s) notify_inval_attrs(a.s, a.id);
  return undef(env);
}

// listingEnded(fd, nodeid): JavaScript handed out nodeid's listing to its
// end: as the loop's own (note_ended), its attributes are fetched again once
// the loops are quiet.
static napi_value js_listing_ended(napi_env env, napi_callback_info info) {
  struct node_args a;
  if (!node_call(env, info, 2, &a, "listingEnded: arguments")) return NULL;
  if (a.s) note_ended(a.s, a.id);
  return undef(env);
}

napi_value js_refresh_attrs(napi_env env, napi_callback_info info); // refresh.c

static napi_value js_prefault_heap(napi_env env, napi_callback_info info) {
  (void)info;
  prefault_heap();
  return undef(env);
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    {"mount", NULL, js_mount, NULL, NULL, NULL, napi_default, NULL},
    {"start", NULL, js_start, NULL, NULL, NULL, napi_default, NULL},
    {"reply", NULL, js_reply, NULL, NULL, NULL, napi_default, NULL},
    {"backingOpen", NULL, js_backing_open, NULL, NULL, NULL, napi_default, NULL},
    {"backingClose", NULL, js_backing_close, NULL, NULL, NULL, napi_default, NULL},
    {"noCaps", NULL, js_no_caps, NULL, NULL, NULL, napi_default, NULL},
    {"stableAttr", NULL, js_stable_attr, NULL, NULL, NULL, napi_default, NULL},
    {"upperDir", NULL, js_upper_dir, NULL, NULL, NULL, napi_default, NULL},
    {"writerFile", NULL, js_writer_file, NULL, NULL, NULL, napi_default, NULL},
    {"invalAttrs", NULL, js_inval_attrs, NULL, NULL, NULL, napi_default, NULL},
    {"prepareEntries", NULL, js_prepare_entries, NULL, NULL, NULL, napi_default, NULL},
    {"completeDir", NULL, js_complete_dir, NULL, NULL, NULL, napi_default, NULL},
    {"unlinkable", NULL, js_unlinkable, NULL, NULL, NULL, napi_default, NULL},
    {"generation", NULL, js_generation, NULL, NULL, NULL, napi_default, NULL},
    {"listable", NULL, js_listable, NULL, NULL, NULL, napi_default, NULL},
    {"inoMap", NULL, js_ino_map, NULL, NULL, NULL, napi_default, NULL},
    {"inoOf", NULL, js_ino_of, NULL, NULL, NULL, napi_default, NULL},
    {"listTimeouts", NULL, js_list_timeouts, NULL, NULL, NULL, napi_default, NULL},
    {"listLinks", NULL, js_list_links, NULL, NULL, NULL, napi_default, NULL},
    {"dirCache", NULL, js_dir_cache, NULL, NULL, NULL, napi_default, NULL},
    {"dirCacheCounts", NULL, js_dir_cache_counts, NULL, NULL, NULL, napi_default, NULL},
    {"reserveIds", NULL, js_reserve_ids, NULL, NULL, NULL, napi_default, NULL},
    {"counts", NULL, js_counts, NULL, NULL, NULL, napi_default, NULL},
    {"activity", NULL, js_activity, NULL, NULL, NULL, napi_default, NULL},
    {"colocation", NULL, js_colocation, NULL, NULL, NULL, napi_default, NULL},
    {"refreshAttrs", NULL, js_refresh_attrs, NULL, NULL, NULL, napi_default, NULL},
    {"listingEnded", NULL, js_listing_ended, NULL, NULL, NULL, napi_default, NULL},
    {"prefaultHeap", NULL, js_prefault_heap, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
