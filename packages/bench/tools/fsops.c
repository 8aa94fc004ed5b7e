/* fsops: the small file-system operations the benchmark times that have no
 * plain command-line tool doing exactly one syscall per file.
 *   fsops create DIR N SIZE   create N files of SIZE bytes in DIR (open/write/close)
 *   fsops stat LIST           lstat every path listed (one per line) in LIST
 *   fsops rename SRC DST      one rename(2); prints its own time in ms, read
 *                             from the monotonic clock around the call, so
 *                             the figure is the file system's and not the
 *                             program's start (exit 3: the driver said EXDEV)
 *   fsops xattr PATH N        N getxattr(2) calls of an attribute PATH does not
 *                             have (security.capability, which the kernel asks
 *                             for itself before writes) after an untimed
 *                             warm-up; prints microseconds per call: what one
 *                             metadata request costs when nothing is cached
 * Exits non-zero naming the path on the first failure, so a broken driver
 * cannot look fast by failing early. Built on first use by tools.ts. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

static int create_files(const char *dir, long n, long size) {
  char path[4096];
  char *buf = calloc(1, size > 0 ? (size_t)size : 1);
  if (!buf) return 1;
  memset(buf, 'x', (size_t)size);
  for (long i = 0; i < n; i++) {
    snprintf(path, sizeof path, "%s/f%06ld", dir, i);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) { fprintf(stderr, "fsops: create %s: %s\n", path, strerror(errno)); return 1; }
    if (size > 0 && write(fd, buf, (size_t)size) != size) {
      fprintf(stderr, "fsops: write %s: %s\n", path, strerror(errno)); return 1;
    }
    if (close(fd) != 0) { fprintf(stderr, "fsops: close %s: %s\n", path, strerror(errno)); return 1; }
  }
  free(buf);
  return 0;
}

static int stat_list(const char *list) {
  FILE *f = fopen(list, "r");
  if (!f) { fprintf(stderr, "fsops: %s: %s\n", list, strerror(errno)); return 1; }
  char *line = NULL;
  size_t cap = 0;
  ssize_t len;
  struct stat st;
  while ((len = getline(&line, &cap, f)) > 0) {
    if (line[len - 1] == '\n') line[len - 1] = 0;
    if (!line[0]) continue;
    if (lstat(line, &st) != 0) { fprintf(stderr, "fsops: lstat %s: %s\n", line, strerror(errno)); return 1; }
  }
  free(line);
  fclose(f);
  return 0;
}

static int rename_timed(const char *src, const char *dst) {
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  int rc = rename(src, dst);
  clock_gettime(CLOCK_MONOTONIC, &b);
  if (rc != 0) {
    int err = errno;
    fprintf(stderr, "fsops: rename %s %s: %s\n", src, dst, strerror(err));
    return err == EXDEV ? 3 : 1;
  }
  printf("%.3f\n", (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6);
  return 0;
}

static int xattr_calls(const char *path, long n) {
  char v[64];
  struct timespec a, b;
  for (long i = 0; i < n / 10 + 100; i++) getxattr(path, "security.capability", v, sizeof v);
  clock_gettime(CLOCK_MONOTONIC, &a);
  for (long i = 0; i < n; i++) {
    ssize_t r = getxattr(path, "security.capability", v, sizeof v);
    if (r >= 0 || errno != ENODATA) {
      // (ENOTSUP: the kernel stops asking a FUSE server that said it keeps no
      // xattrs, so the call would time the kernel alone.)
      fprintf(stderr, "fsops: getxattr %s security.capability: %s\n", path, r >= 0 ? "has a value" : strerror(errno));
      return 1;
    }
  }
  clock_gettime(CLOCK_MONOTONIC, &b);
  printf("%.3f\n", ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) / 1e3 / (double)n);
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 5 && strcmp(argv[1], "create") == 0) return create_files(argv[2], atol(argv[3]), atol(argv[4]));
  if (argc == 3 && strcmp(argv[1], "stat") == 0) return stat_list(argv[2]);
  if (argc == 4 && strcmp(argv[1], "rename") == 0) return rename_timed(argv[2], argv[3]);
  if (argc == 4 && strcmp(argv[1], "xattr") == 0 && atol(argv[3]) > 0) return xattr_calls(argv[2], atol(argv[3]));
  fprintf(stderr, "usage: fsops create DIR N SIZE | fsops stat LIST | fsops rename SRC DST | fsops xattr PATH N\n");
  return 2;
}
