// What the native modules' background threads share (read-ahead, list-ahead),
// and the FUSE loop's reads of host directories: how threads start, and
// getdents64's record.
#ifndef STRATA_BACKGROUND_H
#define STRATA_BACKGROUND_H
#include <stddef.h>
#include <stdint.h>

struct linux_dirent64 {
  uint64_t d_ino;
  int64_t d_off;
  unsigned short d_reclen;
  unsigned char d_type;
  char d_name[];
};

// Starts `n` detached threads named `name` (at most 15 bytes) running
// `fn()` with `stack` bytes of stack; how many started.
int spawn_detached(int n, size_t stack, const char *name, void (*fn)(void));

#endif
