// Attributes of listed directories fetched again once the FUSE loops are
// quiet, so that the next stat of each needs no round trip.
//
// Why: the kernel marks a FUSE directory's atime stale after every listing
// it asks for (fuse_invalidate_atime, for a writable mount), and its next
// stat of that directory asks the server again: a `find` over 20k files in
// 212 directories, run a second time, sent 211 GETATTRs, one per directory
// it entered (fts stats each before it reads it), about 5 ms of its 20-25.
// A walk's own listings cannot avoid that; the stat after them can happen
// while nobody waits. The loop reports each directory whose listing was
// handed out to its end (fuse_ll.c, ITEM_ENDED) once no loop of the process
// has served a request for 5 ms (its on_quiet timer), JavaScript turns the
// node ids into paths, and here a thread opens each of them through a
// private clone of the mount (as listahead.c does: the mount itself held
// open would make umount fail) from the kernel's dentry cache alone
// (RESOLVE_CACHED: a directory the kernel forgot is not looked up again)
// and fstat()s it. A stat whose attributes are still valid costs no round
// trip; a stale one is the GETATTR the next walk would have waited for
// (the 212 of that find took 4.6-9 ms here).
//
// The paths wait in one batch per mount, and the thread steps back as soon
// as the loops serve requests that are not its own (until the next quiet
// moment): a program starting meanwhile is not made to wait behind them.
// Only a hint: nothing is changed and nothing reported back; paths beyond
// PENDING_MAX are dropped.
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <node_api.h>
#include <uv.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "background.h"

#define WORKERS 1
#define PENDING_MAX 16384 // paths waiting, at most
#define BATCHES_MAX 8     // mounts with paths waiting, at most

const struct loop_activity *loop_activity(void); // fuse_ll.c
void refresh_when_quiet(uv_loop_t *loop);         // fuse_ll.c

struct batch {
  struct batch *next;
  char *mountpoint;
  char **rel; // relative to the mount's root; taken from `taken` on
  size_t count, cap, taken;
  int users; // threads working on it
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t more = PTHREAD_COND_INITIALIZER;
static struct batch *batches;
static size_t pending, nbatches; // (pending: atomic loads outside the lock)
static int started;
static int go; // the loops were quiet: the threads may work (until someone else's request)
static uint64_t stats_made; // fstat()s made by the threads (atomic): --stats, and telling their requests from others'
// The loops have been quiet for QUIET_MS (fuse_ll.c's timer, on the event
// loop's thread): the threads may work, until someone else's request.
void refresh_go(void) {
  pthread_mutex_lock(&lock);
  go = 1;
  pthread_cond_broadcast(&more);
  pthread_mutex_unlock(&lock);
}

// Whether paths are waiting.
int refresh_pending(void) {
  return __atomic_load_n(&pending, __ATOMIC_RELAXED) != 0;
}

// The next path of b for a thread (NULL: none left), under lock.
static char *take(struct batch *b) {
  if (b->taken == b->count) {
    b->taken = b->count = 0; // (the array is used again)
    return NULL;
  }
  __atomic_store_n(&pending, pending - 1, __ATOMIC_RELAXED);
  return b->rel[b->taken++];
}

// Stats b's paths until none is left (0) or the loops serve someone else (1).
static int run(struct batch *b, const struct loop_activity *a) {
  uint64_t dev;
  int clone = fuse_clone(b->mountpoint, &dev), others = 0;
  struct open_how how = {
      .flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
      .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV | RESOLVE_CACHED,
  };
  uint64_t served0 = __atomic_load_n(&a->served, __ATOMIC_RELAXED), made0 = __atomic_load_n(&stats_made, __ATOMIC_RELAXED);
  for (size_t k = 0;; k++) {
    pthread_mutex_lock(&lock);
    char *rel = take(b);
    pthread_mutex_unlock(&lock);
    if (!rel) break;
    // (Not mounted there, or no longer: the paths are dropped.)
    if (clone >= 0 && k % 64 == 0 && k && !still_mounted(b->mountpoint, dev)) {
      close(clone);
      clone = -1;
    }
    int fd = clone >= 0 ? (int)syscall(SYS_openat2, clone, rel, &how, sizeof how) : -1;
    free(rel);
    if (fd < 0) continue; // gone, forgotten, or not cached: nothing to do
    struct stat st;
    int ok = fstat(fd, &st) == 0;
    close(fd);
    if (!ok) continue;
    uint64_t made = __atomic_add_fetch(&stats_made, 1, __ATOMIC_RELAXED) - made0;
    // More requests than these threads' stats (each at most one): a program is back.
    if (__atomic_load_n(&a->served, __ATOMIC_RELAXED) - served0 > made + WORKERS) {
      others = 1;
      break;
    }
  }
  if (clone >= 0) close(clone);
  return others;
}

static void worker(void) {
  const struct loop_activity *a = loop_activity();
  pthread_mutex_lock(&lock);
  for (;;) {
    struct batch *b = batches;
    while (b && b->taken == b->count) b = b->next;
    if (!b || !go) {
      if (!b) go = 0;
      pthread_cond_wait(&more, &lock);
      continue;
    }
    b->users++;
    pthread_mutex_unlock(&lock);
    int others = run(b, a);
    pthread_mutex_lock(&lock);
    b->users--;
    if (others) go = 0; // until the loops are quiet again
    if (b->users == 0 && b->taken == b->count) {
      struct batch **p = &batches;
      while (*p != b) p = &(*p)->next;
      *p = b->next;
      nbatches--;
      free(b->rel);
      free(b->mountpoint);
      free(b);
    }
  }
}

// The batch of `mountpoint` (a new one if there is room), under lock: NULL if none.
static struct batch *batch_of(char *mountpoint) {
  for (struct batch *b = batches; b; b = b->next)
    if (strcmp(b->mountpoint, mountpoint) == 0) {
      free(mountpoint);
      return b;
    }
  struct batch *b = nbatches < BATCHES_MAX ? calloc(1, sizeof *b) : NULL;
  if (!b) {
    free(mountpoint);
    return NULL;
  }
  b->mountpoint = mountpoint;
  b->next = batches;
  batches = b;
  nbatches++;
  return b;
}

// refreshAttrs(mountpoint, dirs: string[]): stats `dirs` (relative to the
// mount's root, which is at absolute `mountpoint`; "." for the root)
// through a clone of the mount once the loops are quiet, on threads of
// their own. Returns at once, with the stats made so far by every call (a
// number), also when called with no arguments.
napi_value js_refresh_attrs(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], r;
  uint32_t n = 0;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  napi_create_double(env, (double)__atomic_load_n(&stats_made, __ATOMIC_RELAXED), &r);
  if (argc < 2 || napi_get_array_length(env, argv[1], &n) != napi_ok || n == 0) return r;
  char *mountpoint = path_arg(env, argv[0]);
  if (!mountpoint || mountpoint[0] != '/') {
    free(mountpoint);
    return r;
  }
  pthread_mutex_lock(&lock);
  if (!started) started = spawn_detached(WORKERS, 128 * 1024, "strata-refresh", worker) > 0;
  struct batch *b = started ? batch_of(mountpoint) : (free(mountpoint), NULL);
  for (uint32_t i = 0; b && i < n && pending < PENDING_MAX; i++) {
    napi_value v;
    char *rel;
    if (napi_get_element(env, argv[1], i, &v) != napi_ok || !(rel = path_arg(env, v))) continue;
    if (rel[0] == '/') {
      free(rel);
      continue;
    }
    if (b->count == b->cap) {
      size_t cap = b->cap ? b->cap * 2 : 256;
      char **p = realloc(b->rel, cap * sizeof *p);
      if (!p) {
        free(rel);
        break;
      }
      b->rel = p;
      b->cap = cap;
    }
    b->rel[b->count++] = rel;
    __atomic_store_n(&pending, pending + 1, __ATOMIC_RELAXED);
  }
  pthread_mutex_unlock(&lock);
  uv_loop_t *loop;
  if (b && napi_get_uv_event_loop(env, &loop) == napi_ok) refresh_when_quiet(loop);
  return r;
}
