// Memory the loop will allocate, touched ahead by a thread of its own.
//
// On a paravirtual guest like the one the benchmark runs on, the first
// touch of each page of a process's memory costs 13-22 us, a hypervisor
// exit, even after MADV_POPULATE_WRITE: only a real access pays it. A
// server answering a cold stat of 10k files touched ~770 new pages of
// malloc'd memory on the JavaScript thread (the inode map, the listings,
// the prepared entries, the buffers handed to JavaScript: perf record -e
// page-faults), 10-15 ms of a 170-240 ms walk. A page touched once by any
// thread is cheap for all of them after, so as the server starts (before
// its warm-up: prefaultHeap, from runServer, which every mount and the
// builder's mount worker go through) a helper thread touches a block of
// the main heap and frees it, and malloc keeps
// it: big tables come from the heap too, not from mmap (each mmap is fresh
// memory), and freed memory is not handed back. A C loop growing tables
// like the server's: 1277 faults and 26 ms without, none and 0.5 ms after
// a helper touched 16 MiB (in 72 ms of its own, off the serving thread).
// STRATA_FUSE_PREFAULT_MB sets the size (0: off; at most 256).
#include <malloc.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>
#include "prefault.h"

#define DEFAULT_MB 16
#define MAX_MB 256 // (the malloc thresholds below are ints)

static size_t pool_bytes;

static void *touch_and_free(void *p) {
  long page = sysconf(_SC_PAGESIZE);
  for (size_t i = 0; i < pool_bytes; i += (size_t)page) ((volatile char *)p)[i] = 0;
  free(p);
  return NULL;
}

void prefault_heap(void) {
  static int done;
  if (done) return;
  done = 1;
  const char *v = getenv("STRATA_FUSE_PREFAULT_MB");
  size_t mb = v && *v ? strtoul(v, NULL, 10) : DEFAULT_MB;
  if (mb == 0) return;
  if (mb > MAX_MB) mb = MAX_MB;
  pool_bytes = mb << 20;
  // Above the pool's size: malloc must not serve the pool itself, nor the
  // tables that fit in it, with mmap. Trimming is what would give it back.
  mallopt(M_MMAP_THRESHOLD, (int)(pool_bytes * 2));
  mallopt(M_TRIM_THRESHOLD, (int)(pool_bytes * 4));
  void *p = malloc(pool_bytes);
  if (!p) return;
  pthread_attr_t attr;
  pthread_t t;
  if (pthread_attr_init(&attr) != 0) {
    free(p);
    return;
  }
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  if (pthread_create(&t, &attr, touch_and_free, p) != 0) free(p);
  pthread_attr_destroy(&attr);
}
