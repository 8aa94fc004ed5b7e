// What lower directories held the last time the loop read them, kept on
// disk between mounts, so that a cold walk of a deep stack need not read
// every layer's directories again.
//
// Why: a directory of a stack of 32 image layers is 32 host directories.
// After a reboot (or drop_caches) listing it reads each of them from disk: a
// cold `find` over 20k files in 32 layers read 6.9k directory blocks here,
// at about 70 us each (480 ms), where kernel overlayfs took 580 ms. Knowing
// a host directory is unchanged takes only its inode (a stat of all 6.8k
// took 59 ms and 461 reads, inode-table blocks being read ahead together),
// and layers rarely change at all.
//
// The rule is git's untracked cache: a host directory's names are taken
// from here only while it has the inode, mtime and ctime it had when they
// were read. Adding, removing or renaming an entry changes the directory's
// mtime and ctime; replacing the directory changes its inode. A directory
// changed less than two seconds before it was read is not kept: a second
// change within the same timestamp tick would not show. What is kept is
// only names, their d_type and d_ino, and which are whiteouts: attributes,
// xattrs and file contents are read from the layers as before.
//
// The stat that tells a kept directory is unchanged is most of what a cold
// walk from here costs (a find over 20k files in 32 layers: about 6.8k of
// them, 60 ms of 150, much of it waiting for the disk while the walk's own
// work waits too). So two checker threads make those stats ahead of the
// loop, in the order the records lie in the file, which is the order a walk
// last asked for them, and leave their verdicts where the loop looks first;
// the loop stats a record itself only when no checker has got to it yet.
// They stay at most CHECK_LEAD records past the furthest one the loop asked
// for (no disk reads for a big stack the session hardly looks at), and end
// at the last record or when the cache closes. By hand (mount, drop_caches,
// find over 20k files in 32 layers): 145-172 ms with the loop making every
// stat, 95-102 ms with the checkers (they made 5.8-6.5k of the 6.8k).
//
// One file per lower stack (the caller names it), read whole at the first
// lookup and written whole, to a new file renamed over the old one, when
// the session ends, if anything was added. A file that does not parse is
// ignored (and replaced at the end). At most 16 MiB of entries: once full,
// a session keeps only the directories it saw.
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "dircache.h"
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define MAGIC "strata dircache 3\n"
#define MAGIC_LEN (sizeof MAGIC - 1)
#define BYTES_MAX (16u << 20) // entries kept at most, and the biggest file read
#define RACY_NS 2000000000LL  // changed less than this before it was read: not kept
#define CHECK_MIN 64          // records loaded before a checker thread is worth starting
#define CHECKERS 2             // checker threads (1: 105-115 ms for that find; 2: 95-102; 3: 102)
#define CHECK_LEAD 2048       // how far the checkers run ahead of the loop's furthest record

struct dc_rec {
  char *path;
  uint32_t hash;
  uint64_t ino; // (its device is dir.dev)
  int64_t mtime_s, ctime_s;
  uint32_t mtime_ns, ctime_ns;
  int checked; // this session: 1 valid, -1 changed, 0 not looked at yet
  int owned;   // path and entries are its own (else they lie in the file's buffer)
  struct dc_dir dir;
};

// On disk, after MAGIC, each record: this head, the path, the entries.
struct dc_head {
  uint32_t path_len;
  uint32_t ents_len;
  uint64_t dev, ino;
  int64_t mtime_s, ctime_s;
  uint32_t mtime_ns, ctime_ns;
  int8_t marks;
} __attribute__((packed));

struct dircache {
  char *file;
  char *map; // the file, mapped: loaded records point into it
  size_t map_len;
  int loaded, changed;
  int full; // a directory was not kept for want of room: the end keeps only what this session saw
  // The records, dense (in the order they came), and an open-addressing
  // index of them by path: a slot holds a record's index + 1, 0 free.
  struct dc_rec *recs;
  uint32_t *slot;
  size_t cap, count, recs_cap, bytes;
  // The checkers. The first `loaded_n` records are the file's, in its
  // order; their heads lie at `head_at` in the mapping, which the checkers
  // read (never recs, which grows under them). verdict[i] (atomic): 1
  // unchanged, -1 changed, 0 not known yet. `next` (atomic): the next record
  // a checker takes. `asked` (atomic): the furthest record the loop asked
  // for, + 1. mu and cv let the checkers wait for the loop to catch up.
  size_t loaded_n, asked, next, ahead; // (ahead: verdicts the loop took from the checkers)
  size_t *head_at;
  int8_t *verdict;
  int checking, stop; // (checking: checker threads started)
  pthread_t checker[CHECKERS];
  pthread_mutex_t mu;
  pthread_cond_t cv;
};

struct dircache *dc_open(const char *file) {
  struct dircache *c = calloc(1, sizeof *c);
  if (c && !(c->file = strdup(file))) {
    free(c);
    c = NULL;
  }
  if (c) {
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
  }
  return c;
}

// Whether host directory `path` still has the device, inode, mtime and
// ctime of `h`: 1, else -1.
static int unchanged(int dirfd, const char *path, const struct dc_head *h) {
  struct stat st;
  return fstatat(dirfd, path, &st, 0) == 0 && S_ISDIR(st.st_mode) && h->dev == (uint64_t)st.st_dev && h->ino == (uint64_t)st.st_ino &&
                 h->mtime_s == st.st_mtim.tv_sec && h->mtime_ns == (uint32_t)st.st_mtim.tv_nsec && h->ctime_s == st.st_ctim.tv_sec &&
                 h->ctime_ns == (uint32_t)st.st_ctim.tv_nsec
             ? 1
             : -1;
}

static void *check_ahead(void *arg) {
  struct dircache *c = arg;
  pthread_setname_np(pthread_self(), "strata-dccheck");
  for (;;) {
    size_t i = __atomic_fetch_add(&c->next, 1, __ATOMIC_RELAXED);
    if (i >= c->loaded_n) break;
    pthread_mutex_lock(&c->mu);
    while (!c->stop && i >= __atomic_load_n(&c->asked, __ATOMIC_RELAXED) + CHECK_LEAD) pthread_cond_wait(&c->cv, &c->mu);
    pthread_mutex_unlock(&c->mu);
    if (__atomic_load_n(&c->stop, __ATOMIC_RELAXED)) break;
    if (__atomic_load_n(&c->verdict[i], __ATOMIC_RELAXED)) continue;
    struct dc_head h;
    memcpy(&h, c->map + c->head_at[i], sizeof h);
    int8_t v = (int8_t)unchanged(AT_FDCWD, c->map + c->head_at[i] + sizeof h, &h), none = 0;
    __atomic_compare_exchange_n(&c->verdict[i], &none, v, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
  }
  return NULL;
}

// Starts the checkers over the records just loaded (none if too few or out of memory).
static void start_checker(struct dircache *c) {
  if (c->loaded_n < CHECK_MIN || !(c->verdict = calloc(c->loaded_n, 1))) return;
  pthread_attr_t a;
  struct sched_param sp = {0};
  pthread_attr_init(&a);
  pthread_attr_setstacksize(&a, 64 << 10);
  // Normal threads even when the loop that loads the cache runs idle-class (colocate.c).
  pthread_attr_setinheritsched(&a, PTHREAD_EXPLICIT_SCHED);
  pthread_attr_setschedpolicy(&a, SCHED_OTHER);
  pthread_attr_setschedparam(&a, &sp);
  for (int k = 0; k < CHECKERS; k++)
    if (pthread_create(&c->checker[c->checking], &a, check_ahead, c) == 0) c->checking++;
  pthread_attr_destroy(&a);
}

// Tells the checkers the loop asked for record i (a loaded one).
static void asked_for(struct dircache *c, size_t i) {
  size_t was = __atomic_load_n(&c->asked, __ATOMIC_RELAXED);
  if (i + 1 <= was) return;
  __atomic_store_n(&c->asked, i + 1, __ATOMIC_RELAXED);
  // They wait only when CHECK_LEAD ahead: wake them a while before they could go on.
  if ((i + 1) / (CHECK_LEAD / 4) != was / (CHECK_LEAD / 4)) {
    pthread_mutex_lock(&c->mu);
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
  }
}

static uint32_t *find_slot(struct dircache *c, const char *path, size_t n, uint32_t h) {
  for (size_t i = h & (c->cap - 1);; i = (i + 1) & (c->cap - 1)) {
    uint32_t v = c->slot[i];
    if (!v) return &c->slot[i];
    const struct dc_rec *r = &c->recs[v - 1];
    if (r->hash == h && strncmp(r->path, path, n) == 0 && r->path[n] == '\0') return &c->slot[i];
  }
}

// Makes room for `more` records: 0 when out of memory.
static int room(struct dircache *c, size_t more) {
  size_t need = c->count + more;
  if (need > c->recs_cap) {
    size_t rc = c->recs_cap ? c->recs_cap : 512;
    while (rc < need) rc *= 2;
    struct dc_rec *r = realloc(c->recs, rc * sizeof *r);
    if (!r) return 0;
    c->recs = r;
    c->recs_cap = rc;
  }
  if (need * 2 <= c->cap) return 1;
  size_t cap = c->cap ? c->cap : 1024;
  while (cap < need * 2) cap *= 2;
  uint32_t *t = calloc(cap, sizeof *t);
  if (!t) return 0;
  free(c->slot);
  c->slot = t;
  c->cap = cap;
  for (size_t i = 0; i < c->count; i++) *find_slot(c, c->recs[i].path, strlen(c->recs[i].path), c->recs[i].hash) = (uint32_t)i + 1;
  return 1;
}

// Whether `len` bytes at `p` are well-formed entries (so that readers may trust the lengths).
static int ents_ok(const char *p, size_t len) {
  for (size_t at = 0; at < len;) {
    if (len - at < DC_ENT_HEAD) return 0;
    uint16_t n;
    memcpy(&n, p + at + 9, 2);
    if (n == 0 || len - at - DC_ENT_HEAD < (size_t)n + 1 || p[at + DC_ENT_HEAD + n] != '\0') return 0;
    at += DC_ENT_HEAD + n + 1;
  }
  return 1;
}

static void rec_free(struct dc_rec *r) {
  if (!r->owned) return;
  free(r->path);
  free((char *)r->dir.ents);
}

// Takes in a record (its own path and ents if `owned`, freed when out of memory): 0 then.
static int keep(struct dircache *c, char *path, size_t n, const struct dc_head *h, char *ents, int owned, int checked) {
  uint32_t hash = fnv1a(0, path, n);
  if (!room(c, 1)) {
    if (owned) {
      free(path);
      free(ents);
    }
    return 0;
  }
  uint32_t *v = find_slot(c, path, n, hash);
  struct dc_rec *r;
  if (*v) {
    r = &c->recs[*v - 1];
    c->bytes -= r->dir.len;
    rec_free(r);
  } else {
    r = &c->recs[c->count++];
    *v = (uint32_t)c->count;
  }
  *r = (struct dc_rec){path, hash, h->ino, h->mtime_s, h->ctime_s, h->mtime_ns, h->ctime_ns, checked, owned, {h->dev, ents, h->ents_len, h->marks}};
  c->bytes += h->ents_len;
  return 1;
}

// Reads the file; its records point into the mapping, kept until the end.
static void load(struct dircache *c) {
  c->loaded = 1;
  int fd = open(c->file, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  struct stat st;
  char *buf = MAP_FAILED;
  // Mapped, not read into fresh memory: a fresh process's page faults on
  // a copy took longer than the rest of the loading here. Safe: the file is
  // only ever replaced (a new one renamed over it), never cut short, so a
  // mapping never loses pages under it.
  if (fstat(fd, &st) == 0 && st.st_size > (off_t)MAGIC_LEN && st.st_size <= (off_t)BYTES_MAX * 2)
    buf = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
  close(fd);
  if (buf == MAP_FAILED) return;
  size_t size = (size_t)st.st_size;
  if (memcmp(buf, MAGIC, MAGIC_LEN) != 0) {
    munmap(buf, size);
    return;
  }
  c->map = buf;
  c->map_len = size;
  // The records first counted, so that the tables are made once.
  size_t n = 0;
  for (size_t at = MAGIC_LEN; size - at >= sizeof(struct dc_head); n++) {
    struct dc_head h;
    memcpy(&h, buf + at, sizeof h);
    if ((size_t)h.path_len + 1 + h.ents_len > size - at - sizeof h) break;
    at += sizeof h + h.path_len + 1 + h.ents_len;
  }
  if (!room(c, n) || !(c->head_at = malloc((n ? n : 1) * sizeof *c->head_at))) return;
  size_t at = MAGIC_LEN;
  while (at < size) {
    struct dc_head h;
    if (size - at < sizeof h) break;
    memcpy(&h, buf + at, sizeof h);
    size_t head = at;
    at += sizeof h;
    // The path, its NUL, the entries.
    if (h.path_len == 0 || h.path_len > PATH_MAX || size - at < (size_t)h.path_len + 1 + h.ents_len) break;
    char *path = buf + at, *ents = buf + at + h.path_len + 1;
    if (path[h.path_len] != '\0' || memchr(path, '\0', h.path_len) || !ents_ok(ents, h.ents_len)) break;
    if (h.marks < -1 || h.marks > 3) h.marks = -1;
    size_t before = c->count;
    if (!keep(c, path, h.path_len, &h, ents, 0, 0)) break;
    // (A path twice in the file keeps its last record, in the first one's place.)
    if (c->count > before) c->head_at[c->loaded_n++] = head;
    else c->head_at[*find_slot(c, path, h.path_len, fnv1a(0, path, h.path_len)) - 1] = head;
    at += h.path_len + 1 + h.ents_len;
  }
  // A file cut short keeps what parsed before the cut; the end rewrites it whole.
  if (at != size) c->changed = 1;
  start_checker(c);
}

static struct dc_rec *rec_of(struct dircache *c, const char *path) {
  if (!c->loaded) load(c);
  if (!c->count) return NULL;
  size_t n = strlen(path);
  uint32_t v = *find_slot(c, path, n, fnv1a(0, path, n));
  return v ? &c->recs[v - 1] : NULL;
}

const struct dc_dir *dc_get(struct dircache *c, const char *path) {
  return dc_get_at(c, path, AT_FDCWD, path);
}

const struct dc_dir *dc_get_at(struct dircache *c, const char *path, int dirfd, const char *name) {
  struct dc_rec *r = rec_of(c, path);
  if (!r) return NULL;
  if (!r->checked) {
    size_t i = (size_t)(r - c->recs);
    int8_t *v = c->verdict && i < c->loaded_n ? &c->verdict[i] : NULL;
    if (v) {
      asked_for(c, i);
      r->checked = __atomic_load_n(v, __ATOMIC_RELAXED);
      if (r->checked) c->ahead++;
    }
    if (!r->checked) {
      struct dc_head h = {0, 0, r->dir.dev, r->ino, r->mtime_s, r->ctime_s, r->mtime_ns, r->ctime_ns, 0};
      r->checked = unchanged(dirfd, name, &h);
      if (v) __atomic_store_n(v, (int8_t)r->checked, __ATOMIC_RELAXED);
    }
  }
  return r->checked > 0 ? &r->dir : NULL;
}

void dc_set_marks(struct dircache *c, const char *path, int marks) {
  struct dc_rec *r = rec_of(c, path);
  if (r && r->checked > 0 && r->dir.marks != marks) {
    r->dir.marks = marks;
    c->changed = 1;
  }
}

size_t dc_checked_ahead(const struct dircache *c) {
  return c ? c->ahead : 0;
}

const struct dc_dir *dc_peek(struct dircache *c, const char *path) {
  struct dc_rec *r = rec_of(c, path);
  return r && r->checked >= 0 ? &r->dir : NULL;
}

static int64_t ns_of(const struct timespec *t) {
  return (int64_t)t->tv_sec * 1000000000LL + t->tv_nsec;
}

void dc_put(struct dircache *c, const char *path, const struct stat *st, const char *ents, size_t len, int marks) {
  if (!c->loaded) load(c);
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  int64_t t = ns_of(&now) - RACY_NS;
  if (ns_of(&st->st_mtim) > t || ns_of(&st->st_ctim) > t || strlen(path) > PATH_MAX) return;
  if (c->bytes + len > BYTES_MAX) {
    c->full = c->changed = 1;
    return;
  }
  struct dc_head h = {(uint32_t)strlen(path), (uint32_t)len, (uint64_t)st->st_dev, (uint64_t)st->st_ino, st->st_mtim.tv_sec,
                      st->st_ctim.tv_sec, (uint32_t)st->st_mtim.tv_nsec, (uint32_t)st->st_ctim.tv_nsec, (int8_t)marks};
  char *p = strdup(path), *e = malloc(len ? len : 1);
  if (!p || !e) {
    free(p);
    free(e);
    return;
  }
  memcpy(e, ents, len);
  if (keep(c, p, h.path_len, &h, e, 1, 1)) c->changed = 1;
}

static int write_all(int fd, const void *p, size_t n) {
  for (const char *q = p; n;) {
    ssize_t w = write(fd, q, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return 0;
    q += w;
    n -= (size_t)w;
  }
  return 1;
}

static void save(struct dircache *c) {
  char tmp[PATH_MAX];
  if (snprintf(tmp, sizeof tmp, "%s.%d.tmp", c->file, (int)getpid()) >= (int)sizeof tmp) return;
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return;
  // Buffered by hand: one write per 1 MiB, not three per record.
  size_t cap = 1 << 20, used = 0;
  char *buf = malloc(cap);
  int ok = buf && write_all(fd, MAGIC, MAGIC_LEN);
  for (size_t i = 0; ok && i < c->count; i++) {
    const struct dc_rec *r = &c->recs[i];
    if (c->full && r->checked <= 0) continue; // (directories of trees gone long ago make way)
    struct dc_head h = {(uint32_t)strlen(r->path), (uint32_t)r->dir.len, r->dir.dev, r->ino, r->mtime_s, r->ctime_s, r->mtime_ns, r->ctime_ns, (int8_t)r->dir.marks};
    size_t need = sizeof h + h.path_len + 1 + r->dir.len;
    if (used + need > cap) {
      ok = write_all(fd, buf, used);
      used = 0;
    }
    if (need > cap) {
      ok = ok && write_all(fd, &h, sizeof h) && write_all(fd, r->path, h.path_len + 1) && write_all(fd, r->dir.ents, r->dir.len);
      continue;
    }
    memcpy(buf + used, &h, sizeof h);
    memcpy(buf + used + sizeof h, r->path, h.path_len + 1);
    memcpy(buf + used + sizeof h + h.path_len + 1, r->dir.ents, r->dir.len);
    used += need;
  }
  ok = ok && write_all(fd, buf, used);
  free(buf);
  if (close(fd) != 0) ok = 0;
  if (!ok || rename(tmp, c->file) != 0) unlink(tmp);
}

void dc_close(struct dircache *c) {
  if (!c) return;
  if (c->checking) {
    pthread_mutex_lock(&c->mu);
    __atomic_store_n(&c->stop, 1, __ATOMIC_RELAXED);
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    for (int k = 0; k < c->checking; k++) pthread_join(c->checker[k], NULL);
  }
  free(c->verdict);
  free(c->head_at);
  pthread_mutex_destroy(&c->mu);
  pthread_cond_destroy(&c->cv);
  if (c->changed) save(c);
  for (size_t i = 0; i < c->count; i++) rec_free(&c->recs[i]);
  free(c->recs);
  free(c->slot);
  if (c->map) munmap(c->map, c->map_len);
  free(c->file);
  free(c);
}

int dc_append(char **buf, size_t *len, size_t *cap, uint64_t ino, uint8_t type, const char *name, size_t n) {
  size_t need = *len + DC_ENT_HEAD + n + 1;
  if (n == 0 || n > 0xffff) return -EINVAL;
  if (need > *cap) {
    size_t c = *cap ? *cap : 4096;
    while (c < need) c *= 2;
    char *p = realloc(*buf, c);
    if (!p) return -ENOMEM;
    *buf = p;
    *cap = c;
  }
  char *o = *buf + *len;
  uint16_t n16 = (uint16_t)n;
  memcpy(o, &ino, 8);
  o[8] = (char)type;
  memcpy(o + 9, &n16, 2);
  memcpy(o + DC_ENT_HEAD, name, n);
  o[DC_ENT_HEAD + n] = '\0';
  *len = need;
  return 0;
}
