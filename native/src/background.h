// What the native modules' background threads share (read-ahead, list-ahead),
// and the FUSE loop's reads of host directories: how threads start, and
// getdents64's record.
#ifndef STRATA_BACKGROUND_H
#define STRATA_BACKGROUND_H
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct linux_dirent64 {
  uint64_t d_ino;
  int64_t d_off;
  unsigned short d_reclen;
  unsigned char d_type;
  char d_name[];
};

// How busy this process's FUSE loops are. fuse_ll.c keeps it; the remover
// (another module) reads it through an ArrayBuffer over it that JavaScript
// hands on (fusell's activity(), the native module's removerWatch()).
// Read and written with __atomic builtins.
struct loop_activity {
  int32_t busy;           // loops draining requests now
  int32_t unused;
  uint64_t idle_since_ns; // CLOCK_MONOTONIC: when one last went back to sleep
  uint64_t served;        // requests read so far
};

// CLOCK_MONOTONIC in nanoseconds.
static inline uint64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

// A JavaScript string argument as a new C string (free it): NULL when it is
// not a string, is empty, or is over 4096 bytes (no path is). Needs node_api.h.
#ifdef NAPI_VERSION
char *path_arg(napi_env env, napi_value v);
#endif

// A private clone of the FUSE mount at `mountpoint` (open_tree's
// OPEN_TREE_CLONE), for a background thread to go through the mount without
// holding the mount itself, which would make umount fail with EBUSY: the
// clone's fd, with the file system's device in *dev; -1 when the mountpoint
// shows no FUSE file system (unmounted already: the clone would be of
// whatever lies beneath).
int fuse_clone(const char *mountpoint, uint64_t *dev);

// Whether `mountpoint` still shows the file system of device `dev`. An open
// clone keeps a FUSE file system alive after its umount, so a thread going
// through one asks this now and then, and closes the clone when it says no.
int still_mounted(const char *mountpoint, uint64_t dev);

// Starts `n` detached threads named `name` (at most 15 bytes) running
// `fn()` with `stack` bytes of stack; how many started.
int spawn_detached(int n, size_t stack, const char *name, void (*fn)(void));

#endif
