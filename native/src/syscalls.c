// Syscalls that Node's fs lacks and strata needs: whiteouts are character
// devices (mknod), overlay renames need renameat2 flags, copy-up wants
// FICLONE / copy_file_range, and layers carry xattrs on symlinks too (l*xattr).
// Every function is synchronous and throws an Error with .code = "ENOENT" etc.
// and .errno, .syscall, .path, like Node's own fs errors, so callers (the FUSE
// server above all) can map it straight back to an errno.
#define _GNU_SOURCE
#include <node_api.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <linux/fs.h>

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif
#ifndef RENAME_WHITEOUT
#define RENAME_WHITEOUT (1 << 2)
#endif

#define PATH_BUF 4096
#define NAPI(call) do { if ((call) != napi_ok) { napi_throw_error(env, NULL, #call " failed"); return NULL; } } while (0)

static const char *errno_code(int e) {
  switch (e) {
#define C(x) case x: return #x;
    C(EPERM) C(ENOENT) C(ESRCH) C(EINTR) C(EIO) C(ENXIO) C(E2BIG) C(EBADF)
    C(EAGAIN) C(ENOMEM) C(EACCES) C(EFAULT) C(EBUSY) C(EEXIST) C(EXDEV)
    C(ENODEV) C(ENOTDIR) C(EISDIR) C(EINVAL) C(ENFILE) C(EMFILE) C(ENOTTY)
    C(EFBIG) C(ENOSPC) C(ESPIPE) C(EROFS) C(EMLINK) C(ERANGE) C(ENAMETOOLONG)
    C(ENOSYS) C(ENOTEMPTY) C(ELOOP) C(ENODATA) C(EOPNOTSUPP) C(EDQUOT)
#undef C
    default: return "EUNKNOWN";
  }
}

static napi_value throw_errno(napi_env env, int e, const char *syscall, const char *path) {
  char msg[PATH_BUF + 128];
  const char *code = errno_code(e);
  if (path) snprintf(msg, sizeof msg, "%s: %s, %s '%s'", code, strerror(e), syscall, path);
  else snprintf(msg, sizeof msg, "%s: %s, %s", code, strerror(e), syscall);
  napi_value m, err, v;
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &m);
  napi_create_error(env, NULL, m, &err);
  napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, err, "code", v);
  napi_create_int32(env, -e, &v);
  napi_set_named_property(env, err, "errno", v);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, err, "syscall", v);
  if (path) {
    napi_create_string_utf8(env, path, NAPI_AUTO_LENGTH, &v);
    napi_set_named_property(env, err, "path", v);
  }
  napi_throw(env, err);
  return NULL;
}

static int get_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv) {
  size_t argc = want;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < want) {
    napi_throw_type_error(env, NULL, "wrong number of arguments");
    return 0;
  }
  return 1;
}

static int get_path(napi_env env, napi_value v, char *buf) {
  size_t len;
  if (napi_get_value_string_utf8(env, v, buf, PATH_BUF, &len) != napi_ok) {
    napi_throw_type_error(env, NULL, "path must be a string");
    return 0;
  }
  if (len >= PATH_BUF - 1) {
    throw_errno(env, ENAMETOOLONG, "path", NULL);
    return 0;
  }
  return 1;
}

static int get_i64(napi_env env, napi_value v, int64_t *out) {
  if (napi_get_value_int64(env, v, out) != napi_ok) {
    napi_throw_type_error(env, NULL, "expected a number");
    return 0;
  }
  return 1;
}

static napi_value undef(napi_env env) {
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

// mknod(path, mode, major, minor)
static napi_value js_mknod(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  char path[PATH_BUF];
  int64_t mode, maj, min;
  if (!get_args(env, info, 4, argv) || !get_path(env, argv[0], path) ||
      !get_i64(env, argv[1], &mode) || !get_i64(env, argv[2], &maj) || !get_i64(env, argv[3], &min))
    return NULL;
  if (mknod(path, (mode_t)mode, makedev((unsigned)maj, (unsigned)min)) != 0)
    return throw_errno(env, errno, "mknod", path);
  return undef(env);
}

// renameat2(oldpath, newpath, flags)
static napi_value js_renameat2(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  char from[PATH_BUF], to[PATH_BUF];
  int64_t flags;
  if (!get_args(env, info, 3, argv) || !get_path(env, argv[0], from) ||
      !get_path(env, argv[1], to) || !get_i64(env, argv[2], &flags))
    return NULL;
  if (renameat2(AT_FDCWD, from, AT_FDCWD, to, (unsigned)flags) != 0)
    return throw_errno(env, errno, "renameat2", from);
  return undef(env);
}

// cloneFd(srcFd, dstFd, length) -> "ficlone" | "copy_file_range" | "sendfile"
// Copies the whole of src into dst (empty) in the kernel: a reflink where
// the filesystem shares extents, else copy_file_range, else (across
// filesystems) sendfile; never through user space. Only src's data is
// copied (SEEK_DATA / SEEK_HOLE) and dst gets src's length at the end, so
// holes stay holes, as kernel overlayfs copies up: a 2 GiB sparse file with
// a few bytes in it took 10.5 s and 2 GiB of disk to copy up, against 3 ms
// and 1 MiB on kernel overlayfs.
static int copy_segment(int src, int dst, off_t from, off_t to, int *use_sendfile) {
  loff_t off_in = from, off_out = from;
  while (!*use_sendfile && off_in < to) {
    ssize_t n = copy_file_range(src, &off_in, dst, &off_out, (size_t)(to - off_in), 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      // Across filesystems (EXDEV since Linux 5.19) or where unsupported:
      // sendfile still copies inside the kernel.
      if (errno == EXDEV || errno == EINVAL || errno == EOPNOTSUPP || errno == ENOSYS) {
        *use_sendfile = 1;
        break;
      }
      return -1;
    }
    if (n == 0) return 0;  // source shorter than said: stop at its end
  }
  if (!*use_sendfile) return 0;
  off_t soff = off_in;
  if (lseek(dst, soff, SEEK_SET) < 0) return -1;
  while (soff < to) {
    off_t left = to - soff;
    ssize_t n = sendfile(dst, src, &soff, left > 0x7ffff000 ? 0x7ffff000 : (size_t)left);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    if (n == 0) break;
  }
  return 0;
}

static napi_value js_clone_fd(napi_env env, napi_callback_info info) {
  napi_value argv[3], out;
  int64_t src, dst, len;
  if (!get_args(env, info, 3, argv) || !get_i64(env, argv[0], &src) ||
      !get_i64(env, argv[1], &dst) || !get_i64(env, argv[2], &len))
    return NULL;
  if (ioctl((int)dst, FICLONE, (int)src) == 0) {
    napi_create_string_utf8(env, "ficlone", NAPI_AUTO_LENGTH, &out);
    return out;
  }
  int use_sendfile = 0;
  for (off_t pos = 0; pos < len;) {
    off_t data = lseek((int)src, pos, SEEK_DATA);
    off_t hole;
    if (data < 0) {
      if (errno == ENXIO) break;  // nothing but a hole from here on
      data = pos;                  // no SEEK_DATA here: all of it is data
      hole = len;
    } else {
      if (data >= len) break;
      hole = lseek((int)src, data, SEEK_HOLE);
      if (hole < 0 || hole > len) hole = len;
    }
    if (copy_segment((int)src, (int)dst, data, hole, &use_sendfile) < 0)
      return throw_errno(env, errno, use_sendfile ? "sendfile" : "copy_file_range", NULL);
    pos = hole;
  }
  if (ftruncate((int)dst, len) < 0) return throw_errno(env, errno, "ftruncate", NULL);
  napi_create_string_utf8(env, use_sendfile ? "sendfile" : "copy_file_range", NAPI_AUTO_LENGTH, &out);
  return out;
}

// lgetxattr(path, name) -> Buffer | null (null when the attribute is absent)
static napi_value js_lgetxattr(napi_env env, napi_callback_info info) {
  napi_value argv[2], out;
  char path[PATH_BUF], name[256];
  size_t nlen;
  if (!get_args(env, info, 2, argv) || !get_path(env, argv[0], path)) return NULL;
  if (napi_get_value_string_utf8(env, argv[1], name, sizeof name, &nlen) != napi_ok) return NULL;
  for (;;) {
    ssize_t size = lgetxattr(path, name, NULL, 0);
    if (size < 0) {
      if (errno == ENODATA) { napi_get_null(env, &out); return out; }
      return throw_errno(env, errno, "lgetxattr", path);
    }
    void *data;
    NAPI(napi_create_buffer(env, (size_t)size, &data, &out));
    if (size == 0) return out;
    ssize_t got = lgetxattr(path, name, data, (size_t)size);
    if (got < 0) {
      if (errno == ERANGE) continue;  // grew between the two calls
      if (errno == ENODATA) { napi_get_null(env, &out); return out; }
      return throw_errno(env, errno, "lgetxattr", path);
    }
    if (got == size) return out;
    napi_value sliced;
    void *d2;
    NAPI(napi_create_buffer_copy(env, (size_t)got, data, &d2, &sliced));
    return sliced;
  }
}

// lsetxattr(path, name, value: Buffer, flags)
static napi_value js_lsetxattr(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  char path[PATH_BUF], name[256];
  size_t nlen, vlen;
  void *value;
  int64_t flags;
  if (!get_args(env, info, 4, argv) || !get_path(env, argv[0], path)) return NULL;
  if (napi_get_value_string_utf8(env, argv[1], name, sizeof name, &nlen) != napi_ok) return NULL;
  if (napi_get_buffer_info(env, argv[2], &value, &vlen) != napi_ok) {
    napi_throw_type_error(env, NULL, "value must be a Buffer");
    return NULL;
  }
  if (!get_i64(env, argv[3], &flags)) return NULL;
  if (lsetxattr(path, name, value, vlen, (int)flags) != 0)
    return throw_errno(env, errno, "lsetxattr", path);
  return undef(env);
}

// llistxattr(path) -> string[]
static napi_value js_llistxattr(napi_env env, napi_callback_info info) {
  napi_value argv[1], arr;
  char path[PATH_BUF];
  if (!get_args(env, info, 1, argv) || !get_path(env, argv[0], path)) return NULL;
  for (;;) {
    ssize_t size = llistxattr(path, NULL, 0);
    if (size < 0) return throw_errno(env, errno, "llistxattr", path);
    NAPI(napi_create_array(env, &arr));
    if (size == 0) return arr;
    char *buf = malloc((size_t)size);
    if (!buf) return throw_errno(env, ENOMEM, "llistxattr", path);
    ssize_t got = llistxattr(path, buf, (size_t)size);
    if (got < 0) {
      int e = errno;
      free(buf);
      if (e == ERANGE) continue;
      return throw_errno(env, e, "llistxattr", path);
    }
    uint32_t i = 0;
    for (ssize_t off = 0; off < got;) {
      size_t l = strlen(buf + off);
      napi_value s;
      napi_create_string_utf8(env, buf + off, l, &s);
      napi_set_element(env, arr, i++, s);
      off += (ssize_t)l + 1;
    }
    free(buf);
    return arr;
  }
}

// lremovexattr(path, name)
static napi_value js_lremovexattr(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  char path[PATH_BUF], name[256];
  size_t nlen;
  if (!get_args(env, info, 2, argv) || !get_path(env, argv[0], path)) return NULL;
  if (napi_get_value_string_utf8(env, argv[1], name, sizeof name, &nlen) != napi_ok) return NULL;
  if (lremovexattr(path, name) != 0) return throw_errno(env, errno, "lremovexattr", path);
  return undef(env);
}

// lutimesNs(path, atimeSec, atimeNsec, mtimeSec, mtimeNsec): nanosecond times
// on the entry itself (symlinks included); Node's lutimes rounds to micro.
static napi_value js_lutimes_ns(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  char path[PATH_BUF];
  int64_t as, an, ms, mn;
  if (!get_args(env, info, 5, argv) || !get_path(env, argv[0], path) ||
      !get_i64(env, argv[1], &as) || !get_i64(env, argv[2], &an) ||
      !get_i64(env, argv[3], &ms) || !get_i64(env, argv[4], &mn))
    return NULL;
  struct timespec ts[2] = {{as, an}, {ms, mn}};
  if (utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW) != 0)
    return throw_errno(env, errno, "utimensat", path);
  return undef(env);
}

// futimesNs(fd, atimeSec, atimeNsec, mtimeSec, mtimeNsec): lutimesNs on an open file.
static napi_value js_futimes_ns(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  int64_t fd, as, an, ms, mn;
  if (!get_args(env, info, 5, argv) || !get_i64(env, argv[0], &fd) ||
      !get_i64(env, argv[1], &as) || !get_i64(env, argv[2], &an) ||
      !get_i64(env, argv[3], &ms) || !get_i64(env, argv[4], &mn))
    return NULL;
  struct timespec ts[2] = {{as, an}, {ms, mn}};
  if (futimens((int)fd, ts) != 0) return throw_errno(env, errno, "futimens", NULL);
  return undef(env);
}

// dupOnto(fd, target): dup3(fd, target, O_CLOEXEC): `target` then names the
// file `fd` names, in one step (a descriptor number that a FUSE handle is
// stays the same while the file behind it changes).
static napi_value js_dup_onto(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int64_t fd, target;
  if (!get_args(env, info, 2, argv) || !get_i64(env, argv[0], &fd) || !get_i64(env, argv[1], &target)) return NULL;
  if (dup3((int)fd, (int)target, O_CLOEXEC) < 0) return throw_errno(env, errno, "dup3", NULL);
  return undef(env);
}

// The stat array a FUSE server replies with: mode, uid, gid, size, dev, nlink,
// ino, rdev, blksize, blocks, atime sec, nsec, mtime sec, nsec, ctime sec, nsec.
// Filled in place, so a getattr allocates no Stats object and no BigInts.
static void fill_stat(double *d, const struct stat *st) {
  d[0] = st->st_mode; d[1] = st->st_uid; d[2] = st->st_gid; d[3] = (double)st->st_size;
  d[4] = (double)st->st_dev; d[5] = (double)st->st_nlink; d[6] = (double)st->st_ino;
  d[7] = (double)st->st_rdev; d[8] = (double)st->st_blksize; d[9] = (double)st->st_blocks;
  d[10] = (double)st->st_atim.tv_sec; d[11] = (double)st->st_atim.tv_nsec;
  d[12] = (double)st->st_mtim.tv_sec; d[13] = (double)st->st_mtim.tv_nsec;
  d[14] = (double)st->st_ctim.tv_sec; d[15] = (double)st->st_ctim.tv_nsec;
}

static int get_stat_array(napi_env env, napi_value v, double **out) {
  napi_typedarray_type type;
  size_t len;
  void *data;
  if (napi_get_typedarray_info(env, v, &type, &len, &data, NULL, NULL) != napi_ok ||
      type != napi_float64_array || len < 16) {
    napi_throw_type_error(env, NULL, "expected a Float64Array of 16");
    return 0;
  }
  *out = (double *)data;
  return 1;
}

// lstatArray(path, out: Float64Array(16))
static napi_value js_lstat_array(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  char path[PATH_BUF];
  double *out;
  struct stat st;
  if (!get_args(env, info, 2, argv) || !get_path(env, argv[0], path) || !get_stat_array(env, argv[1], &out)) return NULL;
  if (lstat(path, &st) != 0) return throw_errno(env, errno, "lstat", path);
  fill_stat(out, &st);
  return undef(env);
}

// fstatArray(fd, out: Float64Array(16))
static napi_value js_fstat_array(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int64_t fd;
  double *out;
  struct stat st;
  if (!get_args(env, info, 2, argv) || !get_i64(env, argv[0], &fd) || !get_stat_array(env, argv[1], &out)) return NULL;
  if (fstat((int)fd, &st) != 0) return throw_errno(env, errno, "fstat", NULL);
  fill_stat(out, &st);
  return undef(env);
}

napi_value js_prefetch_dirs(napi_env env, napi_callback_info info); // prefetch.c
napi_value js_remove_tree(napi_env env, napi_callback_info info); // remover.c
napi_value js_list_ahead(napi_env env, napi_callback_info info); // listahead.c
napi_value js_list_ahead_skip(napi_env env, napi_callback_info info); // listahead.c
napi_value js_list_ahead_cancel(napi_env env, napi_callback_info info); // listahead.c
napi_value js_drain_removals(napi_env env, napi_callback_info info); // remover.c
napi_value js_remover_watch(napi_env env, napi_callback_info info); // remover.c

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    {"mknod", NULL, js_mknod, NULL, NULL, NULL, napi_default, NULL},
    {"renameat2", NULL, js_renameat2, NULL, NULL, NULL, napi_default, NULL},
    {"cloneFd", NULL, js_clone_fd, NULL, NULL, NULL, napi_default, NULL},
    {"lgetxattr", NULL, js_lgetxattr, NULL, NULL, NULL, napi_default, NULL},
    {"lsetxattr", NULL, js_lsetxattr, NULL, NULL, NULL, napi_default, NULL},
    {"llistxattr", NULL, js_llistxattr, NULL, NULL, NULL, napi_default, NULL},
    {"lremovexattr", NULL, js_lremovexattr, NULL, NULL, NULL, napi_default, NULL},
    {"lutimesNs", NULL, js_lutimes_ns, NULL, NULL, NULL, napi_default, NULL},
    {"futimesNs", NULL, js_futimes_ns, NULL, NULL, NULL, napi_default, NULL},
    {"dupOnto", NULL, js_dup_onto, NULL, NULL, NULL, napi_default, NULL},
    {"lstatArray", NULL, js_lstat_array, NULL, NULL, NULL, napi_default, NULL},
    {"fstatArray", NULL, js_fstat_array, NULL, NULL, NULL, napi_default, NULL},
    {"prefetchDirs", NULL, js_prefetch_dirs, NULL, NULL, NULL, napi_default, NULL},
    {"listAhead", NULL, js_list_ahead, NULL, NULL, NULL, napi_default, NULL},
    {"listAheadSkip", NULL, js_list_ahead_skip, NULL, NULL, NULL, napi_default, NULL},
    {"listAheadCancel", NULL, js_list_ahead_cancel, NULL, NULL, NULL, napi_default, NULL},
    {"removeTree", NULL, js_remove_tree, NULL, NULL, NULL, napi_default, NULL},
    {"drainRemovals", NULL, js_drain_removals, NULL, NULL, NULL, napi_default, NULL},
    {"removerWatch", NULL, js_remover_watch, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
