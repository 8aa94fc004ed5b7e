// Puts the FUSE loop on its caller's CPU while a program's requests come
// one after another (an untar, a create loop, a stat walk).
//
// Why: such a program and the loop take turns: request, answer, request.
// On this kind of VM a turn that crosses CPUs costs a wake-up of a vCPU that
// went idle; one that stays on one CPU is a context switch. The loop can
// move itself next to the caller (it learns the caller's CPU from
// /proc/TID/stat), but the scheduler sends the caller away again: when the
// loop's answer wakes it, the loop is still running on that CPU, so the
// caller goes to an idle one. Unless every task running there is idle-class
// (SCHED_IDLE): the scheduler counts such a CPU as free (sched_idle_cpu())
// and the caller wakes up beside the loop, and stays. Measured here (2
// vCPUs; the bench's untar of 9.5k entries with the upper layer on tmpfs,
// by hand, alternating): 1.89-2.34 s as a normal thread, 1.46-1.97 s
// colocated; in the bench (5 runs, alternating with colocation off) create
// 9.2k against 7.5k files/s, cold stat 33.0k against 29.8k, untar 1.80
// against 2.16 s, the other workloads alike.
//
// The price of SCHED_IDLE is that any normal thread on the same CPU wins
// over the loop (beside a busy loop pinned to each CPU, 10k creates took
// 2.4 s colocated against 0.5 s as a normal thread). So the loop is
// idle-class only inside a burst of requests (from the BURST-th request
// after it woke until it goes back to sleep), only if the machine has a CPU
// to spare when the burst starts (fewer runnable threads than CPUs besides
// the loop, /proc/loadavg), and a watchdog thread looks every WATCH_NS while
// it is. A look finds the loop starved when it is working on a request, or
// requests wait on /dev/fuse, and the loop, since the look before, has not
// been given the CPU at all or waited for it more than WAIT_MAX_NS a time
// on average (its schedstat): beside its own caller it waits only while the
// caller works between two requests, and then it has none in hand and
// nothing waits on /dev/fuse. When STARVED of the last
// LOOKS looks find it starved, the watchdog makes the loop a normal thread
// again, for a while (doubling each time, up to a minute). A busy neighbour
// costs a few milliseconds.
//
// A thread made while the loop is idle-class would stay idle-class for
// good (the class is inherited, and SCHED_RESET_ON_FORK does not undo this
// one): Node starts its thread pool and strata its read-ahead and remover
// threads on first use, which may fall inside a burst. So when a burst
// ends with more threads in the process than it began with, the loop makes
// every idle-class thread but itself a normal one again.
//
// Not every caller gains. A program whose requests leave the kernel work to
// send back on its own, one-way (the FORGET of each file an rm -rf removes),
// keeps the loop busy between its requests: on one CPU that work waits for
// the caller's next request, on two it overlaps it. So a burst in which at
// least one request in ONEWAY_SHARE is a FORGET (judged from its
// ONEWAY_MIN-th request on) leaves the idle class, and the loop stays a
// normal thread for ONEWAY_COOLDOWN_NS. Measured here (rm -rf of 5k lower
// files, 5 runs each, alternating): 547-692 ms colocated (median 641),
// 498-633 not (573).
//
// It is off unless STRATA_FUSE_COLOCATE is set (and not 0): measured again
// later on this host, by hand, alternating each pair, a normal thread did
// better on every workload it was made for: create of 10k files faster in
// 7 pairs of 8 (medians 1,755 against 1,778 ms), an untar of 40k entries
// in 3 of 3 (6.6-7.2 s against 7.2-8.2), a cold stat of 10k lower files in
// 5 of 6 (median 187 against 199 ms), a cold find over 20k files in 5 of 6
// (median 63.5 against 70.5 ms). The kernel, the hypervisor and the loop
// (which now answers most of those requests in C) have all changed since the
// figures above. Only the first thread to call
// colo_init() is ever moved or reclassed (a process could serve mounts from
// several threads; the others run as they are).
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "colocate.h"
#include "background.h"
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define BURST 8                          // requests in one wake-up before the loop goes idle-class
#define FOLLOW_NS 2000000ull             // how often it looks for the caller's CPU
#define WATCH_NS 5000000ull              // the watchdog's period
#define LOOKS 8                          // of the watchdog's last LOOKS looks,
#define STARVED 3                        // this many found the loop starved: back to normal
#define WAIT_MAX_NS 200000ull            // a loop that waits longer than this for the CPU is starved
#define BACKOFF_MIN_NS 1000000000ull     // normal class for this long after a rescue,
#define BACKOFF_MAX_NS 64000000000ull    // doubling up to this
#define ONEWAY_MIN 32                    // requests in a burst before its share of FORGETs counts
#define ONEWAY_SHARE 4                   // one in this many a FORGET: back to a normal thread,
#define ONEWAY_COOLDOWN_NS 1000000000ull // for this long

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t armed_cv = PTHREAD_COND_INITIALIZER;
static int enabled;
static pid_t loop_tid;
static cpu_set_t allowed; // the loop's own affinity: it moves within it and returns to it
static int cpus;          // CPUs in it
static int loadavg_fd = -1;
static int schedstat_fd = -1; // /proc/self/task/TID/schedstat of the loop
static int self_stat_fd = -1; // /proc/self/stat, for the number of threads
static __thread int is_loop;
// Under mu (the loop reads idle_class without it):
static int idle_class;
static int armed_fd = -1; // the session the loop serves while idle-class
static uint64_t cooldown_until, backoff_ns = BACKOFF_MIN_NS;
static struct colo_stats stats;
// The CPU the loop (and its caller) run on, which the watchdog keeps off: a
// normal thread waking there, even for microseconds, sends the caller's next
// wake-up to another CPU (atomic).
static int loop_cpu = -1;
// Whether the loop is working on a request (atomic).
static int in_request;
// The loop's alone:
static unsigned burst; // requests since the loop woke
static unsigned oneway; // FORGETs among them
static long threads_then = -1; // threads in the process when the loop last went idle-class
static uint64_t followed_at;

static int set_class(pid_t tid, int policy) {
  struct sched_param sp = {0};
  return sched_setscheduler(tid, policy, &sp);
}

static int requests_wait(int fd) {
  struct pollfd p = {.fd = fd, .events = POLLIN};
  return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

// The loop's time spent waiting for a CPU (ns) and the number of times it got one.
struct waits {
  uint64_t ns, runs;
};

static struct waits loop_waits(void) {
  struct waits w = {0, 0};
  char b[96];
  ssize_t n = pread(schedstat_fd, b, sizeof b - 1, 0);
  if (n <= 0) return w;
  b[n] = 0;
  // "on-CPU-ns waiting-ns runs"
  unsigned long long on, ns, runs;
  if (sscanf(b, "%llu %llu %llu", &on, &ns, &runs) == 3) w = (struct waits){ns, runs};
  return w;
}

// Field `want` (from 1, past the command name) of a /proc/PID/stat line read into `b` (n bytes), or -1.
static long stat_field(char *b, ssize_t n, int want) {
  if (n <= 0) return -1;
  b[n] = 0;
  char *p = strrchr(b, ')'); // the command name may hold spaces and parentheses
  if (!p) return -1;
  for (int field = 2; field < want; p++) {
    if (!*p) return -1;
    if (*p == ' ') field++;
  }
  return atol(p);
}

// The number of threads in this process (field 20 of /proc/self/stat), or -1.
static long thread_count(void) {
  char b[1024];
  return stat_field(b, pread(self_stat_fd, b, sizeof b - 1, 0), 20);
}

// Makes every idle-class thread of the process but the loop a normal one.
static void reclass_others(void) {
  DIR *d = opendir("/proc/self/task");
  if (!d) return;
  struct dirent *e;
  while ((e = readdir(d))) {
    pid_t tid = (pid_t)atoi(e->d_name);
    if (tid > 0 && tid != loop_tid && sched_getscheduler(tid) == SCHED_IDLE) set_class(tid, SCHED_OTHER);
  }
  closedir(d);
}

// Whether the machine has no CPU to spare: as many runnable threads as CPUs
// (the loop may use), not counting the one asking.
static int crowded(void) {
  char b[128];
  ssize_t n = pread(loadavg_fd, b, sizeof b - 1, 0);
  if (n <= 0) return 1;
  b[n] = 0;
  // "0.52 0.58 0.59 3/245 4242": the fourth field is runnable/all.
  char *p = b;
  for (int field = 1; field < 4 && p; field++) p = strchr(p + 1, ' ');
  if (!p) return 1;
  return atoi(p + 1) - 1 >= cpus;
}

static void *watchdog(void *arg) {
  (void)arg;
  pthread_setname_np(pthread_self(), "strata-watchdog");
  pthread_mutex_lock(&mu);
  for (;;) {
    while (armed_fd < 0) pthread_cond_wait(&armed_cv, &mu);
    unsigned history = 0; // the last LOOKS looks, a bit set where the loop was starved
    struct waits was = loop_waits();
    int kept_off = -1;
    while (armed_fd >= 0) {
      int fd = armed_fd;
      pthread_mutex_unlock(&mu);
      int cpu = __atomic_load_n(&loop_cpu, __ATOMIC_RELAXED);
      if (cpu != kept_off && cpu >= 0) {
        cpu_set_t others = allowed;
        CPU_CLR(cpu, &others);
        if (sched_setaffinity(0, sizeof others, &others) == 0) kept_off = cpu;
      }
      struct timespec nap = {0, (long)WATCH_NS};
      nanosleep(&nap, NULL);
      struct waits w = loop_waits();
      uint64_t runs = w.runs - was.runs, waited = w.ns - was.ns;
      was = w;
      int busy = __atomic_load_n(&in_request, __ATOMIC_RELAXED) || requests_wait(fd);
      int starved = busy && (runs == 0 || waited / runs > WAIT_MAX_NS);
      pthread_mutex_lock(&mu);
      if (armed_fd < 0) break;
      stats.looks++;
      stats.starved += starved;
      history = (history << 1 | (unsigned)starved) & ((1u << LOOKS) - 1);
      if (__builtin_popcount(history) < STARVED) continue;
      set_class(loop_tid, SCHED_OTHER);
      __atomic_store_n(&idle_class, 0, __ATOMIC_RELAXED);
      armed_fd = -1;
      stats.rescues++;
      cooldown_until = now_ns() + backoff_ns;
      if (backoff_ns < BACKOFF_MAX_NS) backoff_ns *= 2;
    }
  }
  return NULL;
}

void colo_init(void) {
  if (loop_tid) return;
  loop_tid = (pid_t)syscall(SYS_gettid);
  is_loop = 1;
  const char *v = getenv("STRATA_FUSE_COLOCATE");
  if (!v || !*v || strcmp(v, "0") == 0) return; // (off unless asked for: see above)
  if (sched_getaffinity(0, sizeof allowed, &allowed) != 0 || (cpus = CPU_COUNT(&allowed)) < 2) return;
  char path[64];
  snprintf(path, sizeof path, "/proc/self/task/%d/schedstat", (int)loop_tid);
  loadavg_fd = open("/proc/loadavg", O_RDONLY | O_CLOEXEC);
  schedstat_fd = open(path, O_RDONLY | O_CLOEXEC);
  self_stat_fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
  if (loadavg_fd < 0 || schedstat_fd < 0 || self_stat_fd < 0) return; // nothing to go by: stay as we are
  pthread_t t;
  pthread_attr_t a;
  pthread_attr_init(&a);
  pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&a, 64 * 1024);
  enabled = pthread_create(&t, &a, watchdog, NULL) == 0;
  pthread_attr_destroy(&a);
  stats.enabled = enabled;
}

// The CPU thread `pid` last ran on (field 39 of /proc/PID/stat), or -1.
static int cpu_of(uint32_t pid) {
  char path[48], buf[1024];
  snprintf(path, sizeof path, "/proc/%u/stat", pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  return (int)stat_field(buf, n, 39);
}

// Moves the loop to the CPU its caller last ran on, leaving its affinity as it was, and tells the
// watchdog which CPU to keep off.
static void follow(uint32_t pid) {
  int cpu = cpu_of(pid), here = sched_getcpu();
  if (cpu < 0 || !CPU_ISSET(cpu, &allowed)) return;
  if (cpu != here) {
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    if (sched_setaffinity(0, sizeof one, &one) != 0) return;
    sched_setaffinity(0, sizeof allowed, &allowed);
    pthread_mutex_lock(&mu);
    stats.moves++;
    pthread_mutex_unlock(&mu);
  }
  __atomic_store_n(&loop_cpu, cpu, __ATOMIC_RELAXED);
}

void colo_request(int fd, uint32_t pid) {
  if (!enabled || !is_loop) return;
  __atomic_store_n(&in_request, 1, __ATOMIC_RELAXED);
  if (++burst < BURST) return;
  if (burst == BURST) {
    // Decided once a wake-up.
    pthread_mutex_lock(&mu);
    if (!idle_class && now_ns() >= cooldown_until && !crowded()) {
      if (set_class(0, SCHED_IDLE) == 0) {
        __atomic_store_n(&idle_class, 1, __ATOMIC_RELAXED);
        threads_then = thread_count();
        armed_fd = fd;
        stats.bursts++;
        __atomic_store_n(&loop_cpu, sched_getcpu(), __ATOMIC_RELAXED);
        pthread_cond_signal(&armed_cv);
      } else {
        enabled = 0; // not allowed here: run as we are
      }
    }
    pthread_mutex_unlock(&mu);
  }
  // Only an idle-class loop follows (and only it reads the clock per request).
  if (!pid || !__atomic_load_n(&idle_class, __ATOMIC_RELAXED)) return;
  uint64_t t = now_ns();
  if (t - followed_at < FOLLOW_NS) return;
  followed_at = t;
  follow(pid);
}

void colo_oneway(void) {
  if (!enabled || !is_loop) return;
  oneway++;
  if (burst < ONEWAY_MIN || oneway * ONEWAY_SHARE < burst || !__atomic_load_n(&idle_class, __ATOMIC_RELAXED)) return;
  pthread_mutex_lock(&mu);
  if (idle_class) {
    set_class(0, SCHED_OTHER);
    idle_class = 0;
    armed_fd = -1;
    cooldown_until = now_ns() + ONEWAY_COOLDOWN_NS;
    stats.declines++;
  }
  pthread_mutex_unlock(&mu);
}

void colo_done(void) {
  if (is_loop) __atomic_store_n(&in_request, 0, __ATOMIC_RELAXED);
}

void colo_rest(void) {
  if (!is_loop) return;
  burst = 0;
  oneway = 0;
  pthread_mutex_lock(&mu);
  if (idle_class) {
    set_class(0, SCHED_OTHER);
    idle_class = 0;
    armed_fd = -1;
    backoff_ns = BACKOFF_MIN_NS; // a burst that ended without a rescue
  }
  pthread_mutex_unlock(&mu);
  // (Also after a rescue: the threads made before it are idle-class still.)
  if (threads_then >= 0) {
    if (thread_count() != threads_then) reclass_others();
    threads_then = -1;
  }
}

void colo_forget(int fd) {
  pthread_mutex_lock(&mu);
  if (armed_fd == fd) armed_fd = -1;
  pthread_mutex_unlock(&mu);
}

void colo_stats(struct colo_stats *out) {
  pthread_mutex_lock(&mu);
  *out = stats;
  out->enabled = enabled;
  pthread_mutex_unlock(&mu);
}
