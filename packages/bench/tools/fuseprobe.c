/* fuseprobe: what one FUSE request costs on this machine, with no file
 * system behind it.
 *   fuseprobe DIR PROGRAM [ARG...]
 * Mounts on DIR (an empty directory) a file system of one empty file, DIR/f,
 * served by a child process that answers each request at once and then
 * polls /dev/fuse for 200 us for the next one (as strata's loop does), runs
 * PROGRAM with its ARGs (its output passes through: the benchmark runs
 * `fsops xattr DIR/f N`, the same timing it runs on every driver), unmounts,
 * and exits with PROGRAM's status. Every metadata request a FUSE driver
 * cannot answer from the kernel's caches costs at least what it measures.
 * Exits non-zero naming what failed; the mount never outlives the probe (its
 * server unmounts when the probe is killed). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The kernel ABI of the few requests served (FUSE 7.x; layouts never change). */
enum { OP_LOOKUP = 1, OP_FORGET = 2, OP_GETATTR = 3, OP_GETXATTR = 22, OP_INIT = 26, OP_BATCH_FORGET = 42 };
struct in_header { uint32_t len, opcode; uint64_t unique, nodeid; uint32_t uid, gid, pid; uint16_t total_extlen, padding; };
struct out_header { uint32_t len; int32_t error; uint64_t unique; };
struct init_in { uint32_t major, minor, max_readahead, flags, flags2, unused[11]; };
struct init_out {
  uint32_t major, minor, max_readahead, flags;
  uint16_t max_background, congestion_threshold;
  uint32_t max_write, time_gran;
  uint16_t max_pages, map_alignment;
  uint32_t flags2, max_stack_depth;
  uint16_t request_timeout, unused[11];
};
struct attr {
  uint64_t ino, size, blocks, atime, mtime, ctime;
  uint32_t atimensec, mtimensec, ctimensec, mode, nlink, uid, gid, rdev, blksize, flags;
};
struct attr_out { uint64_t valid; uint32_t valid_nsec, dummy; struct attr attr; };
struct entry_out { uint64_t nodeid, generation, entry_valid, attr_valid; uint32_t entry_valid_nsec, attr_valid_nsec; struct attr attr; };

#define FILE_NAME "f"
#define BUF_SIZE (1 << 18)              /* the kernel wants room for max_write (128 KiB) and more */

static const char *mountpoint;
static int mounted;
static pid_t program; /* PROGRAM, once started */

static double now_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static struct attr attr_of(uint64_t id) {
  struct attr a = {0};
  a.ino = id;
  a.mode = id == 1 ? 040755 : 0100644;
  a.nlink = id == 1 ? 2 : 1;
  a.blksize = 4096;
  return a;
}

static void reply(int fd, uint64_t unique, int error, const void *data, size_t len) {
  struct out_header o = {(uint32_t)(sizeof o + len), error, unique};
  struct iovec iov[2] = {{&o, sizeof o}, {(void *)data, len}};
  if (writev(fd, iov, len ? 2 : 1) < 0 && errno != ENOENT) _exit(3); /* ENOENT: the caller was interrupted */
}

/* The child: answers until the mount is gone (ENODEV). */
static void serve(int fd) {
  static char buf[BUF_SIZE];
  int blocking = fcntl(fd, F_GETFL), polling = blocking | O_NONBLOCK;
  double last = 0;
  for (;;) {
    fcntl(fd, F_SETFL, polling);
    ssize_t n = read(fd, buf, sizeof buf);
    while (n < 0 && errno == EAGAIN && now_us() - last < 200) {
      sched_yield();
      n = read(fd, buf, sizeof buf);
    }
    if (n < 0 && errno == EAGAIN) {
      fcntl(fd, F_SETFL, blocking);
      n = read(fd, buf, sizeof buf);
    }
    if (n < 0) {
      if (errno == EINTR || errno == ENOENT || errno == EAGAIN) continue;
      _exit(errno == ENODEV ? 0 : 3);
    }
    last = now_us();
    if ((size_t)n < sizeof(struct in_header)) continue;
    const struct in_header *h = (const void *)buf;
    const char *body = buf + sizeof *h;
    switch (h->opcode) {
      case OP_INIT: {
        const struct init_in *in = (const void *)body;
        struct init_out out = {0};
        out.major = 7;
        out.minor = in->minor;
        out.max_readahead = in->max_readahead;
        out.max_background = 16;
        out.congestion_threshold = 12;
        out.max_write = 131072;
        out.time_gran = 1;
        reply(fd, h->unique, 0, &out, sizeof out);
        break;
      }
      case OP_LOOKUP: {
        if (h->nodeid == 1 && strcmp(body, FILE_NAME) == 0) {
          struct entry_out e = {2, 0, 3600, 3600, 0, 0, attr_of(2)};
          reply(fd, h->unique, 0, &e, sizeof e);
        } else {
          reply(fd, h->unique, -ENOENT, NULL, 0);
        }
        break;
      }
      case OP_GETATTR: {
        struct attr_out a = {3600, 0, 0, attr_of(h->nodeid)};
        reply(fd, h->unique, 0, &a, sizeof a);
        break;
      }
      case OP_GETXATTR: reply(fd, h->unique, -ENODATA, NULL, 0); break;
      case OP_FORGET: case OP_BATCH_FORGET: break; /* no reply */
      default: reply(fd, h->unique, -ENOSYS, NULL, 0);
    }
  }
}

static void unmount_now(void) {
  if (!mounted) return;
  if (umount2(mountpoint, 0) != 0) umount2(mountpoint, MNT_DETACH);
  mounted = 0;
}

static void on_alarm(int sig) {
  (void)sig;
  if (program > 0) kill(program, SIGKILL);
  if (mounted) umount2(mountpoint, MNT_DETACH);
  static const char msg[] = "fuseprobe: timed out\n";
  if (write(2, msg, sizeof msg - 1) < 0) _exit(1);
  _exit(1);
}

static void on_parent_gone(int sig) {
  (void)sig;
  umount2(mountpoint, MNT_DETACH);
  _exit(1);
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: fuseprobe DIR PROGRAM [ARG...]\n");
    return 2;
  }
  mountpoint = argv[1];
  signal(SIGALRM, on_alarm);
  alarm(120);
  int fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    fprintf(stderr, "fuseprobe: /dev/fuse: %s\n", strerror(errno));
    return 1;
  }
  char opts[128];
  snprintf(opts, sizeof opts, "fd=%d,rootmode=40000,user_id=0,group_id=0,default_permissions", fd);
  if (mount("fuseprobe", mountpoint, "fuse.fuseprobe", MS_NOSUID | MS_NODEV, opts) != 0) {
    fprintf(stderr, "fuseprobe: mount on %s: %s\n", mountpoint, strerror(errno));
    return 1;
  }
  mounted = 1;
  pid_t parent = getpid(), server = fork();
  if (server < 0) {
    fprintf(stderr, "fuseprobe: fork: %s\n", strerror(errno));
    unmount_now();
    return 1;
  }
  if (server == 0) {
    /* Killed, the probe could not unmount: the server does it then. */
    signal(SIGTERM, on_parent_gone);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) on_parent_gone(SIGTERM);
    serve(fd);
  }
  close(fd);
  program = fork();
  if (program == 0) {
    execvp(argv[2], argv + 2);
    fprintf(stderr, "fuseprobe: %s: %s\n", argv[2], strerror(errno));
    _exit(127);
  }
  int status = 1;
  if (program < 0) fprintf(stderr, "fuseprobe: fork: %s\n", strerror(errno));
  else waitpid(program, &status, 0);
  unmount_now();
  int served = 0;
  waitpid(server, &served, 0);
  if (!WIFEXITED(served) || WEXITSTATUS(served) != 0) {
    fprintf(stderr, "fuseprobe: the server ended badly (status %d)\n", served);
    return 1;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
