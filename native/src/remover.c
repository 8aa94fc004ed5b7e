// Removal of trees already out of sight. When a directory leaves the merged
// view (rmdir, or a rename over it), the overlay first moves its upper copy
// into the work area in one rename, then deletes it: after `rm -rf` of a
// lower tree each such directory holds a whiteout per file it had. Doing
// that deletion with fs.rm put a callback, an lstat and an unlink per entry
// on the server's own thread, between the requests it was answering. Here
// one background thread, at the lowest CPU priority, deletes them without
// following symbolic links or leaving the file system. Nothing here
// reports back: what is left when the process ends, the next mount clears
// with the rest of the work area.
//
// And it waits for a quiet moment: on two CPUs, an rm -rf of 5k lower files
// (50 directories of whiteouts to delete behind it) took 508-537 ms with
// the deletion running beside it and 454-515 with it held back (by hand,
// alternating, 4 runs each): the deletion's unlinks took CPU time from the
// program and the loop, and the lock of the whiteout inode they share with
// the loop's links. A job waits until no FUSE loop of the process has
// served a request for QUIET_NS (the loops keep a struct loop_activity,
// handed over by removerWatch), WAIT_MAX_NS at most, and not at all while
// someone drains the queue. (STRATA_REMOVER_QUIET=0: the native transport
// does not hand it over, for comparison.)
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <node_api.h>
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include "background.h"

#define QUIET_NS 50000000ull      // the loops asleep this long: a removal may run
#define WAIT_MAX_NS 2000000000ull // a job waits no longer than this for it

struct job {
  struct job *next;
  uint64_t queued_ns;
  char path[];
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t queued = PTHREAD_COND_INITIALIZER;
static pthread_cond_t done = PTHREAD_COND_INITIALIZER;
static struct job *first, *last;
static unsigned pending; // queued plus the one being removed
static int started;
static int draining; // callers waiting in drainRemovals (atomic)
static const struct loop_activity *watched; // (atomic)

// Until the FUSE loops have slept QUIET_NS, the job is WAIT_MAX_NS old, or someone drains.
static void wait_for_quiet(uint64_t queued_ns) {
  const struct loop_activity *a = __atomic_load_n(&watched, __ATOMIC_ACQUIRE);
  if (!a) return;
  for (;;) {
    uint64_t now = now_ns();
    if (now - queued_ns >= WAIT_MAX_NS || __atomic_load_n(&draining, __ATOMIC_RELAXED)) return;
    if (!__atomic_load_n(&a->busy, __ATOMIC_ACQUIRE) && now - __atomic_load_n(&a->idle_since_ns, __ATOMIC_RELAXED) >= QUIET_NS) return;
    struct timespec nap = {0, 5000000}; // 5 ms
    nanosleep(&nap, NULL);
  }
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw) {
  (void)st;
  (void)ftw;
  if (type == FTW_DP) rmdir(path);
  else unlink(path); // FTW_DNR (unreadable directory) fails here and stays: the next mount clears it
  return 0;
}

static void *worker(void *arg) {
  (void)arg;
  pthread_setname_np(pthread_self(), "strata-remover");
  // Below the server and the programs it serves: this is cleanup of what nobody sees.
  setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 19);
  for (;;) {
    pthread_mutex_lock(&lock);
    while (!first) pthread_cond_wait(&queued, &lock);
    struct job *j = first;
    first = j->next;
    if (!first) last = NULL;
    pthread_mutex_unlock(&lock);
    wait_for_quiet(j->queued_ns);
    // Depth first, no symlinks followed, no other file system entered; 32 directory fds at most.
    nftw(j->path, remove_entry, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
    free(j);
    pthread_mutex_lock(&lock);
    if (--pending == 0) pthread_cond_broadcast(&done);
    pthread_mutex_unlock(&lock);
  }
  return NULL;
}

static int start(void) {
  pthread_t t;
  pthread_attr_t a;
  pthread_attr_init(&a);
  pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
  int ok = pthread_create(&t, &a, worker, NULL) == 0;
  pthread_attr_destroy(&a);
  return ok;
}

// removeTree(path: string): boolean. Queues an absolute path to be removed
// with everything under it; false if it could not be queued (then the
// caller removes it itself).
napi_value js_remove_tree(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], r;
  char path[4097];
  size_t len = 0;
  bool ok = false;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) == napi_ok && argc == 1 &&
      napi_get_value_string_utf8(env, argv[0], path, sizeof path, &len) == napi_ok && len < sizeof path - 1 && path[0] == '/') {
    struct job *j = malloc(sizeof *j + len + 1);
    if (j) {
      memcpy(j->path, path, len + 1);
      j->next = NULL;
      j->queued_ns = now_ns();
      pthread_mutex_lock(&lock);
      if (!started) started = start();
      if (started) {
        if (last) last->next = j;
        else first = j;
        last = j;
        pending++;
        pthread_cond_signal(&queued);
        ok = true;
      }
      pthread_mutex_unlock(&lock);
      if (!ok) free(j);
    }
  }
  napi_get_boolean(env, ok, &r);
  return r;
}

// drainRemovals(timeoutMs: number): number. Waits until every queued tree
// is removed, or the timeout passes; returns how many are still pending.
napi_value js_drain_removals(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], r;
  double ms = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) == napi_ok && argc == 1) napi_get_value_double(env, argv[0], &ms);
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  long long ns = until.tv_nsec + (long long)(ms > 0 ? ms : 0) * 1000000LL;
  until.tv_sec += ns / 1000000000LL;
  until.tv_nsec = ns % 1000000000LL;
  __atomic_add_fetch(&draining, 1, __ATOMIC_RELAXED);
  pthread_mutex_lock(&lock);
  while (pending && pthread_cond_timedwait(&done, &lock, &until) != ETIMEDOUT) {}
  unsigned left = pending;
  pthread_mutex_unlock(&lock);
  __atomic_sub_fetch(&draining, 1, __ATOMIC_RELAXED);
  napi_create_uint32(env, left, &r);
  return r;
}

// removerWatch(activity: ArrayBuffer): the FUSE loops' struct loop_activity
// (fusell's activity()), whose quiet moments removals wait for. Its memory
// is the other module's, loaded for good.
napi_value js_remover_watch(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  void *data = NULL;
  size_t len = 0;
  bool is_ab = false;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 1 || napi_is_arraybuffer(env, argv[0], &is_ab) != napi_ok || !is_ab ||
      napi_get_arraybuffer_info(env, argv[0], &data, &len) != napi_ok || len < sizeof(struct loop_activity)) {
    napi_throw_type_error(env, NULL, "removerWatch: an ArrayBuffer over a struct loop_activity");
    return NULL;
  }
  __atomic_store_n(&watched, (const struct loop_activity *)data, __ATOMIC_RELEASE);
  return NULL;
}
