// Background threads of the native module (see background.h).
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "background.h"
#include <node_api.h>
#include <fcntl.h>
#include <linux/mount.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

struct start {
  const char *name;
  void (*fn)(void);
};

static void *trampoline(void *arg) {
  struct start s = *(struct start *)arg;
  free(arg);
  pthread_setname_np(pthread_self(), s.name);
  s.fn();
  return NULL;
}

int spawn_detached(int n, size_t stack, const char *name, void (*fn)(void)) {
  int started = 0;
  for (int i = 0; i < n; i++) {
    pthread_t t;
    pthread_attr_t a;
    struct start *s = malloc(sizeof *s);
    if (!s) break;
    s->name = name;
    s->fn = fn;
    pthread_attr_init(&a);
    pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&a, stack);
    if (pthread_create(&t, &a, trampoline, s) == 0) started++;
    else free(s);
    pthread_attr_destroy(&a);
  }
  return started;
}

char *path_arg(napi_env env, napi_value v) {
  size_t len;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok || len == 0 || len > 4096) return NULL;
  char *s = malloc(len + 1);
  if (s && napi_get_value_string_utf8(env, v, s, len + 1, &len) != napi_ok) {
    free(s);
    return NULL;
  }
  return s;
}

#define FUSE_MAGIC 0x65735546

int fuse_clone(const char *mountpoint, uint64_t *dev) {
  int clone = (int)syscall(SYS_open_tree, AT_FDCWD, mountpoint, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
  struct statfs fs;
  struct stat st;
  if (clone >= 0 && fstatfs(clone, &fs) == 0 && fs.f_type == FUSE_MAGIC && fstat(clone, &st) == 0) {
    *dev = (uint64_t)st.st_dev;
    return clone;
  }
  if (clone >= 0) close(clone);
  return -1;
}

int still_mounted(const char *mountpoint, uint64_t dev) {
  struct stat st;
  return stat(mountpoint, &st) == 0 && (uint64_t)st.st_dev == dev;
}
