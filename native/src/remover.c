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

struct job {
  struct job *next;
  char path[];
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t queued = PTHREAD_COND_INITIALIZER;
static pthread_cond_t done = PTHREAD_COND_INITIALIZER;
static struct job *first, *last;
static unsigned pending; // queued plus the one being removed
static int started;

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
  pthread_mutex_lock(&lock);
  while (pending && pthread_cond_timedwait(&done, &lock, &until) != ETIMEDOUT) {}
  unsigned left = pending;
  pthread_mutex_unlock(&lock);
  napi_create_uint32(env, left, &r);
  return r;
}
