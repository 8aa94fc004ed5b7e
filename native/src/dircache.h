// What lower directories held the last time the loop read them, kept on
// disk between mounts (see dircache.c).
#ifndef STRATA_DIRCACHE_H
#define STRATA_DIRCACHE_H
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

// A directory's entries, back to back: [u64 d_ino][u8 type][u16 name length][name][NUL].
// type is the DT_* of the entry, or DC_WHITEOUT for an overlay whiteout (a 0/0 device).
#define DC_WHITEOUT 0xff
#define DC_ENT_HEAD 11

struct dircache;

// What is kept of one host directory.
struct dc_dir {
  uint64_t dev;
  const char *ents; // its entries (see above)
  size_t len;
  int marks;        // its overlay xattrs: 1 opaque, 2 a redirect (3 both); -1 not known
};

// A cache backed by `file` (read at the first use, written by dc_close); NULL when out of memory.
struct dircache *dc_open(const char *file);
// Writes what was added since it was read (to a new file renamed over the old one), then frees it.
void dc_close(struct dircache *c);
// What is kept of host directory `path`, if it has not changed since: the
// same inode, mtime and ctime (one stat, the first time a session asks:
// lower layers do not change while mounted). NULL if nothing valid is kept.
const struct dc_dir *dc_get(struct dircache *c, const char *path);
// The same, with `path` (for the stat, if one is needed) as `name` in directory `dirfd`.
const struct dc_dir *dc_get_at(struct dircache *c, const char *path, int dirfd, const char *name);
// Keeps the entries (`len` bytes) and marks of `path`, read while it had
// `st` (unless it changed too recently for its times to tell a later change
// apart).
void dc_put(struct dircache *c, const char *path, const struct stat *st, const char *ents, size_t len, int marks);
// Notes the marks of `path` (kept, and valid: from dc_get).
void dc_set_marks(struct dircache *c, const char *path, int marks);

// How many of this session's stats the loop found made already by the checker threads.
size_t dc_checked_ahead(const struct dircache *c);

// What is kept of `path`, changed since or not (no stat): a hint only.
const struct dc_dir *dc_peek(struct dircache *c, const char *path);

// Appends one entry to *buf (grown as needed): 0, -EINVAL (an empty name or one over 65535 bytes), or -ENOMEM.
int dc_append(char **buf, size_t *len, size_t *cap, uint64_t ino, uint8_t type, const char *name, size_t n);

// FNV-1a of `len` bytes, from `seed`.
static inline uint32_t fnv1a(uint32_t seed, const char *s, size_t len) {
  uint32_t h = 2166136261u ^ seed;
  for (size_t i = 0; i < len; i++) h = (h ^ (uint8_t)s[i]) * 16777619u;
  return h;
}
#endif
