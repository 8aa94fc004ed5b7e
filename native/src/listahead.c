// Lists directories of a strata mount through the mount itself, ahead of a
// walk that stats their files.
//
// Why: a stat of a file the kernel has no dentry for is a LOOKUP round trip
// to the server (about 20 us on this kind of VM even when the server answers
// from memory), one per file. A READDIRPLUS reply gives the kernel a dentry
// and attributes for every entry of a directory in one round trip. When a
// program stats the files of one directory after another under a parent (a
// stat walk, git status, ls -l of a tree), the server asks for the sibling
// directories to be listed here, on a thread of its own: the kernel then
// holds their files' dentries when the walk gets there, and the walk's stats
// never leave the kernel.
//
// Through a private clone of the mount (open_tree(OPEN_TREE_CLONE)), not the
// mount itself: a directory held open on the mount would make umount fail
// with EBUSY. An open clone keeps the file system alive after an umount
// until it is closed, so before each directory the thread checks that the
// mountpoint still shows the clone's file system, and stops at once when it
// does not (or when the directory is not the one the server meant). Nothing
// is changed and nothing is reported back: the kernel's caches are the
// result, and a failed step only leaves them as they were.
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <node_api.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/mount.h>
#include <linux/openat2.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "background.h"

#define THREADS 2
#define JOBS_MAX 64 // batches waiting at most; more are dropped (read-ahead is a hint)
#define DIRS_MAX 1024
#define ENTRIES_MAX 32768 // entries one batch lists at most

struct job {
  struct job *next;
  char *mountpoint;
  size_t count;
  char **rel;     // relative to the mount's root
  uint64_t *ino;  // the inode number the server gives each
  int natural;    // go through them (and subdirectories) in version order, not as given
  uint64_t gen;   // `cancels` when queued: a later listAheadCancel ends it
};

// listAheadCancel calls so far (see there).
static uint64_t cancels;

// Directories a walk or one of the threads reached first (listAheadSkip,
// claim): the server answers the walk's lookups there itself, and a second
// listing would repeat the work. Inode numbers, open addressing; emptied
// when no batch is left. One set for the process: a server of several
// mounts (the builder's mount worker) may skip a directory of one whose
// number another took; that costs a listing, never an answer.
#define SKIP_SLOTS 4096
static uint64_t skip[SKIP_SLOTS];
static size_t skipped;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t more = PTHREAD_COND_INITIALIZER;
static struct job *first, *last;
static size_t queued, running;
static int started;

static void job_free(struct job *j) {
  for (size_t i = 0; i < j->count; i++) free(j->rel[i]);
  free(j->rel);
  free(j->ino);
  free(j->mountpoint);
  free(j);
}

static struct job *job_copy(const struct job *j) {
  struct job *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  c->natural = 1;
  c->mountpoint = strdup(j->mountpoint);
  c->rel = calloc(j->count, sizeof *c->rel);
  c->ino = malloc(j->count * sizeof *c->ino);
  if (!c->mountpoint || !c->rel || !c->ino) {
    job_free(c);
    return NULL;
  }
  for (; c->count < j->count; c->count++) {
    if (!(c->rel[c->count] = strdup(j->rel[c->count]))) break;
    c->ino[c->count] = j->ino[c->count];
  }
  return c;
}

static void enqueue(struct job *j) {
  if (last) last->next = j;
  else first = j;
  last = j;
  queued++;
}

static size_t skip_slot(uint64_t ino) {
  size_t i = (size_t)(ino * 0x9e3779b97f4a7c15ull >> 52) & (SKIP_SLOTS - 1);
  while (skip[i] && skip[i] != ino) i = (i + 1) & (SKIP_SLOTS - 1);
  return i;
}

// Takes directory `ino` for this thread: 0 if a walk or the other thread has it.
static int claim(uint64_t ino) {
  pthread_mutex_lock(&lock);
  size_t i = skip_slot(ino);
  int mine = skip[i] != ino;
  if (mine && skipped < SKIP_SLOTS / 2) {
    skip[i] = ino;
    skipped++;
  }
  pthread_mutex_unlock(&lock);
  return mine;
}

// Top-level entries before those with subdirectories, by version within each (qsort_r over job j's indexes).
static int by_kind_version(const void *a, const void *b, void *j) {
  char **rel = ((struct job *)j)->rel;
  const char *x = rel[*(const size_t *)a], *y = rel[*(const size_t *)b];
  if ((x[0] == '+') != (y[0] == '+')) return x[0] == '+' ? 1 : -1;
  return strverscmp(x, y);
}

// Subdirectories found while listing one.
struct sub {
  uint64_t ino;
  char *name;
};
struct subs {
  struct sub *v;
  size_t n, cap;
};

static void subs_add(struct subs *s, uint64_t ino, const char *name) {
  if (s->n == s->cap) {
    size_t cap = s->cap ? s->cap * 2 : 64;
    struct sub *v = realloc(s->v, cap * sizeof *v);
    if (!v) return;
    s->v = v;
    s->cap = cap;
  }
  char *copy = strdup(name);
  if (copy) s->v[s->n++] = (struct sub){ino, copy};
}

static void subs_clear(struct subs *s) {
  for (size_t i = 0; i < s->n; i++) free(s->v[i].name);
  s->n = 0;
}

static int by_version(const void *a, const void *b) {
  return strverscmp(((const struct sub *)a)->name, ((const struct sub *)b)->name);
}

// Reads directory `fd` to its end (what makes the kernel ask for it); the
// entries it had, and with `subdirs` its subdirectories' names.
//
// A call that returns fewer than SHORT_READ entries got the server's whole
// remaining listing: a READDIRPLUS reply fills the kernel's request (as big
// as the 64 KiB buffer) with at least 160 entries of the longest names, and
// the server fills it as far as it can. So no further call is made, which
// would only fetch the end of the listing (a READDIR round trip per
// directory).
#define SHORT_READ 150
static size_t list_dir(int fd, char *buf, size_t size, struct subs *subdirs) {
  size_t entries = 0;
  long n;
  while ((n = syscall(SYS_getdents64, fd, buf, size)) > 0) {
    size_t got = 0;
    for (long off = 0; off < n; got++) {
      struct linux_dirent64 *d = (void *)(buf + off);
      off += d->d_reclen;
      if (subdirs && d->d_type == DT_DIR && strcmp(d->d_name, ".") != 0 && strcmp(d->d_name, "..") != 0) subs_add(subdirs, d->d_ino, d->d_name);
    }
    entries += got;
    if (got < SHORT_READ) break;
  }
  return entries;
}

// Still mounted where the batch found it, and still wanted: else the clone must go now.
static int still_there(const struct job *j, uint64_t dev) {
  return __atomic_load_n(&cancels, __ATOMIC_RELAXED) == j->gen && still_mounted(j->mountpoint, dev);
}

static void run(struct job *j) {
  uint64_t dev;
  int clone = fuse_clone(j->mountpoint, &dev);
  if (clone < 0) return;
  struct stat st;
  struct subs subdirs = {0};
  char buf[65536];
  size_t entries = 0;
  size_t *order = malloc(j->count * sizeof *order);
  if (!order) {
    close(clone);
    return;
  }
  for (size_t i = 0; i < j->count; i++) order[i] = i;
  if (j->natural) qsort_r(order, j->count, sizeof *order, by_kind_version, j);
  for (size_t k = 0; k < j->count && entries < ENTRIES_MAX && still_there(j, dev); k++) {
    size_t i = order[k];
    int deep = j->rel[i][0] == '+';
    // (A directory whose subdirectories are wanted is read by both threads: each needs their names.)
    if (!deep && !claim(j->ino[i])) continue;
    struct open_how how = {
      .flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC,
      .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
    };
    int fd = (int)syscall(SYS_openat2, clone, j->rel[i] + deep, &how, sizeof how);
    if (fd < 0) continue; // gone or changed since: the next may still be there
    if (fstat(fd, &st) != 0 || (uint64_t)st.st_ino != j->ino[i]) {
      close(fd);
      break; // not the file system, or not the tree, the server meant
    }
    subs_clear(&subdirs);
    entries += list_dir(fd, buf, sizeof buf, deep ? &subdirs : NULL);
    if (j->natural) qsort(subdirs.v, subdirs.n, sizeof *subdirs.v, by_version);
    for (size_t x = 0; x < subdirs.n && entries < ENTRIES_MAX && still_there(j, dev); x++) {
      if (!claim(subdirs.v[x].ino)) continue;
      int sub = openat(fd, subdirs.v[x].name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (sub < 0) continue;
      entries += list_dir(sub, buf, sizeof buf, NULL);
      close(sub);
    }
    close(fd);
  }
  subs_clear(&subdirs);
  free(subdirs.v);
  free(order);
  close(clone);
}

static void worker(void) {
  for (;;) {
    pthread_mutex_lock(&lock);
    while (!first) pthread_cond_wait(&more, &lock);
    struct job *j = first;
    first = j->next;
    if (!first) last = NULL;
    queued--;
    running++;
    pthread_mutex_unlock(&lock);
    run(j);
    job_free(j);
    pthread_mutex_lock(&lock);
    if (--running == 0 && !first && skipped) {
      memset(skip, 0, sizeof skip);
      skipped = 0;
    }
    pthread_mutex_unlock(&lock);
  }
}

// listAhead(mountpoint, dirs: string[], inos: number[]): lists `dirs`
// (relative to the mount's root, which is at absolute `mountpoint`) through
// a clone of the mount, in order, on a thread of their own; each must have
// inode number inos[i] (else the batch stops). A path that starts with '+'
// has its subdirectories listed too, after it. At most ENTRIES_MAX entries
// in all. Returns at once.
napi_value js_list_ahead(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3], r;
  napi_get_undefined(env, &r);
  uint32_t n = 0, m = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 3 ||
      napi_get_array_length(env, argv[1], &n) != napi_ok || napi_get_array_length(env, argv[2], &m) != napi_ok || n != m || n == 0)
    return r;
  if (n > DIRS_MAX) n = DIRS_MAX;
  struct job *j = calloc(1, sizeof *j);
  if (!j) return r;
  j->mountpoint = path_arg(env, argv[0]);
  j->rel = calloc(n, sizeof *j->rel);
  j->ino = calloc(n, sizeof *j->ino);
  if (!j->mountpoint || j->mountpoint[0] != '/' || !j->rel || !j->ino) {
    job_free(j);
    return r;
  }
  for (uint32_t i = 0; i < n; i++) {
    napi_value v;
    double ino;
    if (napi_get_element(env, argv[1], i, &v) != napi_ok || !(j->rel[j->count] = path_arg(env, v))) continue;
    const char *rel = j->rel[j->count] + (j->rel[j->count][0] == '+');
    if (napi_get_element(env, argv[2], i, &v) != napi_ok || napi_get_value_double(env, v, &ino) != napi_ok || rel[0] == '/' || rel[0] == 0) {
      free(j->rel[j->count]);
      continue;
    }
    j->ino[j->count++] = (uint64_t)ino;
  }
  // The same batch once more, in version order (d2 before d10): a walk goes
  // one way or the other, and the two threads meet in the middle.
  struct job *v = j->count ? job_copy(j) : NULL;
  pthread_mutex_lock(&lock);
  if (!started) started = spawn_detached(THREADS, 256 * 1024, "strata-listahd", worker) > 0;
  if (v && queued + 2 <= JOBS_MAX) {
    j->gen = v->gen = cancels;
    enqueue(j);
    enqueue(v);
    j = v = NULL;
    pthread_cond_broadcast(&more);
  }
  pthread_mutex_unlock(&lock);
  if (j) job_free(j);
  if (v) job_free(v);
  return r;
}

// listAheadSkip(ino): a walk reached the directory with inode number `ino`
// first; a batch that has not listed it yet leaves it out.
napi_value js_list_ahead_skip(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], r;
  double ino;
  napi_get_undefined(env, &r);
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 || napi_get_value_double(env, argv[0], &ino) != napi_ok || ino < 1) return r;
  claim((uint64_t)ino);
  return r;
}

// listAheadCancel(): the program is removing files, not walking them: the
// batches queued or under way stop (each listing they would make costs the
// server a stat of every file, for nothing).
napi_value js_list_ahead_cancel(napi_env env, napi_callback_info info) {
  napi_value r;
  (void)info;
  napi_get_undefined(env, &r);
  pthread_mutex_lock(&lock);
  __atomic_add_fetch(&cancels, 1, __ATOMIC_RELAXED);
  while (first) {
    struct job *j = first;
    first = j->next;
    queued--;
    job_free(j);
  }
  last = NULL;
  pthread_mutex_unlock(&lock);
  return r;
}
