// strata's native FUSE loop: speaks /dev/fuse (the low-level protocol)
// directly, so file data can bypass user space (FUSE passthrough) and
// directory walks get readdirplus and the kernel's directory cache.
//
// Lifecycle: mount() opens /dev/fuse and mounts it (root: mount(2)); start()
// watches the fd from Node's own event loop (uv_poll, non-blocking reads, a
// batch per wake-up), so a request reaches JavaScript with no thread hop at
// all: the kernel wakes the JavaScript thread directly. The loop answers
// INIT and the data-path requests itself (READ/WRITE of page-cached files,
// FLUSH, FSYNC, FALLOCATE, the per-write capability query, unsupported
// opcodes) and calls JavaScript for every namespace request with the body
// copied into a Buffer; JavaScript answers with reply() (now or later). The
// session ends when the kernel says the filesystem is gone (read() ->
// ENODEV) or sends DESTROY; JavaScript then gets an "end" event. One
// session per process.
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <node_api.h>
#include <errno.h>
#include <fcntl.h>

#include <uv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/uio.h>
#include <unistd.h>
#include "fuse_proto.h"

#define MAX_WRITE (1u << 20)
#define MAX_PAGES (MAX_WRITE / 4096)
#define IN_BUF (MAX_WRITE + 8192)

enum item_kind { ITEM_REQUEST, ITEM_INIT, ITEM_END };

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

static void deliver(struct item *it);

static int dev_fd = -1;
static int want_passthrough;
static napi_env loop_env;
static napi_ref cb_ref;
static napi_async_context async_ctx;
static uv_poll_t poller;
static char *in_buf, *read_buf;
static int ended;
static volatile uint64_t counts[FUSE_OPCODE_MAX + 1];

// Node ids known to carry no security.capability xattr. The kernel asks for
// it before every write(2) (file_remove_privs), passthrough or not; answering
// from here keeps writes from waiting on JavaScript. JavaScript sets a bit
// when it has answered ENODATA for a node and clears it when the node's
// xattrs change or the node id is forgotten. One bit per node id: node ids
// are merged inode numbers, dense from 1.
static uint8_t *nocaps;
static size_t nocaps_bytes;

// Directory handles. OPENDIR is answered here (a fresh handle, listings
// cached by the kernel), so a walk over cached directories never reaches
// JavaScript; JavaScript snapshots a listing on the first READDIR of a
// handle and marks it, and only marked handles' RELEASEDIR are forwarded.
// Handle numbers are reused, so the tables stay as small as the number of
// directories open at once.
static uint8_t *dir_marked;
static uint32_t *dir_free;
static uint32_t dir_cap, dir_next = 1, dir_nfree;

static uint64_t dir_alloc(void) {
  if (dir_nfree) return dir_free[--dir_nfree];
  if (dir_next >= dir_cap) {
    uint32_t n = dir_cap ? dir_cap * 2 : 1024;
    uint8_t *m = realloc(dir_marked, n);
    uint32_t *f = realloc(dir_free, n * sizeof *f);
    if (!m || !f) {
      if (m) dir_marked = m;
      if (f) dir_free = f;
      return 0;
    }
    memset(m + dir_cap, 0, n - dir_cap);
    dir_marked = m;
    dir_free = f;
    dir_cap = n;
  }
  return dir_next++;
}

static int nocaps_has(uint64_t id) {
  int r = id / 8 < nocaps_bytes && (nocaps[id / 8] >> (id % 8)) & 1;
  return r;
}

static void nocaps_set(uint64_t id, int on) {
  if (id / 8 >= nocaps_bytes) {
    if (!on || id >= (1ULL << 32)) goto out;
    size_t n = nocaps_bytes ? nocaps_bytes : 4096;
    while (n <= id / 8) n *= 2;
    uint8_t *p = realloc(nocaps, n);
    if (!p) goto out;
    memset(p + nocaps_bytes, 0, n - nocaps_bytes);
    nocaps = p;
    nocaps_bytes = n;
  }
  if (on) nocaps[id / 8] |= (uint8_t)(1u << (id % 8));
  else nocaps[id / 8] &= (uint8_t)~(1u << (id % 8));
out:
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

static void send_reply(uint64_t unique, int err, const void *data, size_t len) {
  struct fuse_out_header out = {(uint32_t)(sizeof out + len), err, unique};
  struct iovec iov[2] = {{&out, sizeof out}, {(void *)data, len}};
  // ENOENT: the request was interrupted meanwhile; nothing to do.
  if (writev(dev_fd, iov, len ? 2 : 1) < 0 && errno != ENOENT) perror("strata fuse: reply");
}

static void do_init(const struct fuse_in_header *h, const char *body) {
  const struct fuse_init_in *in = (const void *)body;
  struct fuse_init_out out;
  memset(&out, 0, sizeof out);
  out.major = FUSE_KERNEL_VERSION;
  if (in->major != FUSE_KERNEL_VERSION) {
    // An older or newer major: tell the kernel ours and let it decide.
    send_reply(h->unique, 0, &out, 8);
    return;
  }
  uint64_t offered = in->flags;
  if (in->flags & FUSE_INIT_EXT) offered |= (uint64_t)in->flags2 << 32;
  uint64_t want = FUSE_ASYNC_READ | FUSE_ATOMIC_O_TRUNC | FUSE_BIG_WRITES | FUSE_DO_READDIRPLUS |
                  FUSE_READDIRPLUS_AUTO | FUSE_ASYNC_DIO | FUSE_PARALLEL_DIROPS | FUSE_MAX_PAGES |
                  FUSE_CACHE_SYMLINKS | FUSE_INIT_EXT | FUSE_DIRECT_IO_ALLOW_MMAP;
  if (want_passthrough) want |= FUSE_PASSTHROUGH;
  uint64_t flags = offered & want;
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
  send_reply(h->unique, 0, &out, sizeof out);

  struct item *it = calloc(1, sizeof *it);
  it->kind = ITEM_INIT;
  it->flags = flags;
  it->minor = in->minor;
  deliver(it);
}

static void do_read(const struct fuse_in_header *h, const char *body, char *rbuf) {
  const struct fuse_read_in *in = (const void *)body;
  size_t size = in->size > MAX_WRITE ? MAX_WRITE : in->size;
  ssize_t n = pread((int)in->fh, rbuf + sizeof(struct fuse_out_header), size, (off_t)in->offset);
  struct fuse_out_header *out = (void *)rbuf;
  if (n < 0) {
    send_reply(h->unique, -errno, NULL, 0);
    return;
  }
  out->len = (uint32_t)(sizeof *out + n);
  out->error = 0;
  out->unique = h->unique;
  if (write(dev_fd, rbuf, out->len) < 0 && errno != ENOENT) perror("strata fuse: read reply");
}

static void do_write(const struct fuse_in_header *h, const char *body) {
  const struct fuse_write_in *in = (const void *)body;
  const char *data = body + sizeof *in;
  size_t done = 0;
  while (done < in->size) {
    ssize_t n = pwrite((int)in->fh, data + done, in->size - done, (off_t)(in->offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      send_reply(h->unique, -errno, NULL, 0);
      return;
    }
    done += (size_t)n;
  }
  struct fuse_write_out out = {(uint32_t)done, 0};
  send_reply(h->unique, 0, &out, sizeof out);
}

static void forward(const struct fuse_in_header *h, const char *body, size_t len) {
  struct item *it = malloc(sizeof *it + len);
  it->kind = ITEM_REQUEST;
  it->h = *h;
  it->len = (uint32_t)len;
  memcpy(it->body, body, len);
  deliver(it);
}

static void on_closed(uv_handle_t *h) {
  (void)h;
  napi_delete_reference(loop_env, cb_ref);
  napi_async_destroy(loop_env, async_ctx);
}

static void end_session(int err) {
  if (ended) return;
  ended = 1;
  uv_poll_stop(&poller);
  uv_close((uv_handle_t *)&poller, on_closed);
  struct item *it = calloc(1, sizeof *it);
  it->kind = ITEM_END;
  it->err = err;
  deliver(it);
}

// One request: answered here, or handed to JavaScript.
static void dispatch(const char *buf, size_t n) {
  const struct fuse_in_header *h = (const void *)buf;
  const char *body = buf + sizeof *h;
  size_t len = n - sizeof *h;
  if (h->opcode <= FUSE_OPCODE_MAX) counts[h->opcode]++;
  switch (h->opcode) {
    case FUSE_INIT:
      do_init(h, body);
      break;
    case FUSE_DESTROY:
      send_reply(h->unique, 0, NULL, 0);
      end_session(0);
      break;
    case FUSE_INTERRUPT:
    case FUSE_NOTIFY_REPLY:
      break; // no reply: every request is answered promptly anyway
    case FUSE_READ:
      do_read(h, body, read_buf);
      break;
    case FUSE_WRITE:
      do_write(h, body);
      break;
    case FUSE_FLUSH:
    case FUSE_FSYNCDIR:
      send_reply(h->unique, 0, NULL, 0); // nothing buffered here; data is in the host files
      break;
    case FUSE_FSYNC: {
      const struct fuse_fsync_in *in = (const void *)body;
      int r = (in->fsync_flags & 1) ? fdatasync((int)in->fh) : fsync((int)in->fh);
      send_reply(h->unique, r < 0 ? -errno : 0, NULL, 0);
      break;
    }
    case FUSE_FALLOCATE: {
      const struct fuse_fallocate_in *in = (const void *)body;
      int r = fallocate((int)in->fh, (int)in->mode, (off_t)in->offset, (off_t)in->length);
      send_reply(h->unique, r < 0 ? -errno : 0, NULL, 0);
      break;
    }
    case FUSE_OPENDIR: {
      struct fuse_open_out out = {dir_alloc(), FOPEN_CACHE_DIR | FOPEN_KEEP_CACHE, 0};
      if (!out.fh) send_reply(h->unique, -ENOMEM, NULL, 0);
      else {
        dir_marked[out.fh] = 0;
        send_reply(h->unique, 0, &out, sizeof out);
      }
      break;
    }
    case FUSE_RELEASEDIR: {
      uint64_t fh = *(const uint64_t *)body;
      if (fh && fh < dir_next) {
        if (dir_marked[fh]) forward(h, body, len);
        else send_reply(h->unique, 0, NULL, 0);
        dir_marked[fh] = 0;
        dir_free[dir_nfree++] = (uint32_t)fh;
      } else {
        send_reply(h->unique, 0, NULL, 0);
      }
      break;
    }
    case FUSE_GETXATTR:
      if (len > 8 && strcmp(body + 8, "security.capability") == 0 && nocaps_has(h->nodeid)) {
        send_reply(h->unique, -ENODATA, NULL, 0);
        break;
      }
      forward(h, body, len);
      break;
    case FUSE_LOOKUP: case FUSE_FORGET: case FUSE_GETATTR: case FUSE_SETATTR:
    case FUSE_READLINK: case FUSE_SYMLINK: case FUSE_MKNOD: case FUSE_MKDIR:
    case FUSE_UNLINK: case FUSE_RMDIR: case FUSE_RENAME: case FUSE_LINK:
    case FUSE_OPEN: case FUSE_STATFS: case FUSE_RELEASE: case FUSE_SETXATTR:
    case FUSE_LISTXATTR: case FUSE_REMOVEXATTR:
    case FUSE_READDIR: case FUSE_CREATE:
    case FUSE_BATCH_FORGET: case FUSE_READDIRPLUS: case FUSE_RENAME2:
      forward(h, body, len);
      break;
    default:
      // ACCESS, locks, ioctl, poll, lseek, copy_file_range, statx...: the
      // kernel falls back to its own handling and stops asking.
      send_reply(h->unique, -ENOSYS, NULL, 0);
  }
}

// The fd is readable: drain a batch of requests, then let the event loop breathe.
static void on_readable(uv_poll_t *p, int status, int events) {
  (void)p;
  (void)events;
  if (status < 0) {
    end_session(EIO);
    return;
  }
  for (int i = 0; i < 256 && !ended; i++) {
    ssize_t n = read(dev_fd, in_buf, IN_BUF);
    if (n < 0) {
      if (errno == EAGAIN) break;
      if (errno == EINTR || errno == ENOENT) continue;
      end_session(errno == ENODEV ? 0 : errno);
      break;
    }
    if ((size_t)n >= sizeof(struct fuse_in_header)) dispatch(in_buf, (size_t)n);
  }
}

// Calls JavaScript: callback(kind, op, unique, nodeid, uid, gid, pid, body | info). Frees `it`.
static void deliver(struct item *it) {
  napi_env env = loop_env;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value argv[8], global, cb, result;
  napi_get_global(env, &global);
  napi_get_reference_value(env, cb_ref, &cb);
  napi_create_int32(env, it->kind, &argv[0]);
  napi_create_int32(env, (int32_t)it->h.opcode, &argv[1]);
  napi_create_double(env, (double)it->h.unique, &argv[2]);
  napi_create_double(env, (double)it->h.nodeid, &argv[3]);
  napi_create_uint32(env, it->h.uid, &argv[4]);
  napi_create_uint32(env, it->h.gid, &argv[5]);
  napi_create_uint32(env, it->h.pid, &argv[6]);
  if (it->kind == ITEM_REQUEST) {
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
  if (napi_make_callback(env, async_ctx, global, cb, 8, argv, &result) == napi_pending_exception) {
    napi_value err;
    napi_get_and_clear_last_exception(env, &err);
    napi_fatal_exception(env, err);
  }
  napi_close_handle_scope(env, scope);
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

// start(fd, callback, passthrough): serves the session from this thread's event loop.
static napi_value js_start(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3], name;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (dev_fd >= 0) return throw_errno(env, EBUSY, "start: a session is running");
  int32_t fd;
  bool pt = false;
  if (argc < 3 || napi_get_value_int32(env, argv[0], &fd) != napi_ok) return throw_errno(env, EINVAL, "start: arguments");
  napi_get_value_bool(env, argv[2], &pt);
  uv_loop_t *loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) return throw_errno(env, EINVAL, "start: event loop");
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) return throw_errno(env, errno, "start: O_NONBLOCK");
  in_buf = malloc(IN_BUF);
  read_buf = malloc(MAX_WRITE + sizeof(struct fuse_out_header));
  if (!in_buf || !read_buf) return throw_errno(env, ENOMEM, "start: buffers");
  napi_create_reference(env, argv[1], 1, &cb_ref);
  napi_create_string_utf8(env, "strata-fuse", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, NULL, name, &async_ctx);
  loop_env = env;
  dev_fd = fd;
  want_passthrough = pt;
  int e = uv_poll_init(loop, &poller, fd);
  if (e == 0) e = uv_poll_start(&poller, UV_READABLE, on_readable);
  if (e) return throw_errno(env, -e, "start: uv_poll");
  return undef(env);
}

// reply(unique, error, data?): error is 0 or a negative errno.
static napi_value js_reply(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int64_t unique;
  int32_t err;
  if (argc < 2 || !arg_i64(env, argv[0], &unique) || napi_get_value_int32(env, argv[1], &err) != napi_ok)
    return throw_errno(env, EINVAL, "reply: arguments");
  void *data = NULL;
  size_t len = 0;
  if (argc > 2) {
    bool isbuf = false;
    napi_is_buffer(env, argv[2], &isbuf);
    if (isbuf) napi_get_buffer_info(env, argv[2], &data, &len);
  }
  send_reply((uint64_t)unique, err, data, len);
  return undef(env);
}

// backingOpen(fd) -> backing id for FOPEN_PASSTHROUGH.
static napi_value js_backing_open(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], r;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd;
  if (argc < 1 || napi_get_value_int32(env, argv[0], &fd) != napi_ok) return throw_errno(env, EINVAL, "backingOpen: arguments");
  struct fuse_backing_map map = {fd, 0, 0};
  int id = ioctl(dev_fd, FUSE_DEV_IOC_BACKING_OPEN, &map);
  if (id < 0) return throw_errno(env, errno, "FUSE_DEV_IOC_BACKING_OPEN");
  napi_create_int32(env, id, &r);
  return r;
}

// backingClose(id): the kernel keeps the backing file for files still open.
static napi_value js_backing_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t id;
  if (argc < 1 || napi_get_value_int32(env, argv[0], &id) != napi_ok) return throw_errno(env, EINVAL, "backingClose: arguments");
  uint32_t bid = (uint32_t)id;
  if (ioctl(dev_fd, FUSE_DEV_IOC_BACKING_CLOSE, &bid) < 0) return throw_errno(env, errno, "FUSE_DEV_IOC_BACKING_CLOSE");
  return undef(env);
}

// counts() -> requests received per opcode (index = opcode), including those answered in C.
static napi_value js_counts(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value arr, v;
  napi_create_array_with_length(env, FUSE_OPCODE_MAX + 1, &arr);
  for (uint32_t i = 0; i <= FUSE_OPCODE_MAX; i++) {
    napi_create_double(env, (double)counts[i], &v);
    napi_set_element(env, arr, i, v);
  }
  return arr;
}

// noCaps(nodeid, on): whether the loop may answer "no security.capability" for nodeid itself.
static napi_value js_no_caps(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int64_t id;
  bool on = false;
  if (argc < 2 || !arg_i64(env, argv[0], &id) || napi_get_value_bool(env, argv[1], &on) != napi_ok)
    return throw_errno(env, EINVAL, "noCaps: arguments");
  nocaps_set((uint64_t)id, on);
  return undef(env);
}

// markDir(fh): JavaScript holds a listing for directory handle fh; forward its RELEASEDIR.
static napi_value js_mark_dir(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int64_t fh;
  if (argc < 1 || !arg_i64(env, argv[0], &fh)) return throw_errno(env, EINVAL, "markDir: arguments");
  if (fh > 0 && (uint64_t)fh < dir_next) dir_marked[fh] = 1;
  return undef(env);
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    {"mount", NULL, js_mount, NULL, NULL, NULL, napi_default, NULL},
    {"start", NULL, js_start, NULL, NULL, NULL, napi_default, NULL},
    {"reply", NULL, js_reply, NULL, NULL, NULL, napi_default, NULL},
    {"backingOpen", NULL, js_backing_open, NULL, NULL, NULL, napi_default, NULL},
    {"backingClose", NULL, js_backing_close, NULL, NULL, NULL, napi_default, NULL},
    {"markDir", NULL, js_mark_dir, NULL, NULL, NULL, napi_default, NULL},
    {"noCaps", NULL, js_no_caps, NULL, NULL, NULL, napi_default, NULL},
    {"counts", NULL, js_counts, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
