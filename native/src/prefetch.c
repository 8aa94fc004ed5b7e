// Directory read-ahead for the overlay's cold walks. Merging a directory
// reads that directory in every lower layer, one after another on the
// server's thread; on a cold cache each read waits for the disk. When the
// server lists a directory it knows the subdirectories a walk will want next
// (in every layer), so it hands their host paths here: a few threads read
// them (the directory's blocks, and the inodes of its subdirectories, which
// the merge stats and reads xattrs of) so that the disk works on several at
// once and the server's own reads find them cached. Only caches are
// touched: nothing here changes anything or reports back. A full queue drops
// new paths (read-ahead is a hint).
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#ifndef PREFETCH_NO_NAPI
#include <node_api.h>
#endif
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "background.h"
#include "prefetch.h"

#define THREADS 8
#define QUEUE 16384

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t more = PTHREAD_COND_INITIALIZER;
static char *queue[QUEUE];
static unsigned head, count;
static int started;

// A queued path: '+' first means stat every entry, not only subdirectories.
static void read_ahead(const char *path) {
  int all = path[0] == '+';
  if (all) path++;
  int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOATIME);
  if (fd < 0) fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  char buf[32768];
  for (;;) {
    long n = syscall(SYS_getdents64, fd, buf, sizeof buf);
    if (n <= 0) break;
    for (long off = 0; off < n;) {
      struct linux_dirent64 *d = (void *)(buf + off);
      off += d->d_reclen;
      if ((!all && d->d_type != DT_DIR) || (d->d_name[0] == '.' && (!d->d_name[1] || (d->d_name[1] == '.' && !d->d_name[2])))) continue;
      struct stat st;
      fstatat(fd, d->d_name, &st, AT_SYMLINK_NOFOLLOW);
    }
  }
  close(fd);
}

static void worker(void) {
  for (;;) {
    pthread_mutex_lock(&lock);
    while (!count) pthread_cond_wait(&more, &lock);
    char *p = queue[head];
    head = (head + 1) % QUEUE;
    count--;
    pthread_mutex_unlock(&lock);
    read_ahead(p);
    free(p);
  }
}


// Queues host directories (taking the strings, malloc'd) to be read ahead;
// one starting with '+' has every entry's inode read too. A full queue frees
// the rest. Any thread.
void prefetch_take(char **paths, uint32_t n) {
  uint32_t added = 0;
  pthread_mutex_lock(&lock);
  if (!started) started = spawn_detached(THREADS, 128 * 1024, "strata-readahd", worker) > 0;
  for (uint32_t i = 0; i < n; i++) {
    if (!started || count >= QUEUE) {
      free(paths[i]);
      continue;
    }
    queue[(head + count) % QUEUE] = paths[i];
    count++;
    added++;
  }
  // One thread per new path, not all of them: on 2 cores, 8 threads woken
  // for one directory took the CPU from the server's own thread (a first
  // lookup of 0.9 ms where the next ones took 50 us).
  for (uint32_t i = 0; i < added && i < THREADS; i++) pthread_cond_signal(&more);
  pthread_mutex_unlock(&lock);
}

#ifndef PREFETCH_NO_NAPI
// prefetchDirs(paths: string[], statAll?: boolean): queues host directories
// to be read ahead; with statAll, every entry's inode too (lookups follow).
napi_value js_prefetch_dirs(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], r;
  bool all = false;
  napi_get_undefined(env, &r);
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1) return r;
  if (argc > 1) napi_get_value_bool(env, argv[1], &all);
  uint32_t n = 0, got = 0;
  if (napi_get_array_length(env, argv[0], &n) != napi_ok) return r;
  char **paths = malloc((n ? n : 1) * sizeof *paths);
  if (!paths) return r;
  for (uint32_t i = 0; i < n; i++) {
    napi_value v;
    char path[4097];
    size_t len;
    path[0] = '+';
    if (napi_get_element(env, argv[0], i, &v) != napi_ok ||
        napi_get_value_string_utf8(env, v, path + 1, sizeof path - 1, &len) != napi_ok || len >= sizeof path - 2 || path[1] != '/')
      continue;
    char *p = strdup(all ? path : path + 1);
    if (!p) break;
    paths[got++] = p;
  }
  prefetch_take(paths, got);
  free(paths);
  return r;
}
#endif
