// Runs the FUSE loop on its caller's CPU while requests come one after
// another (see colocate.c).
#ifndef STRATA_COLOCATE_H
#define STRATA_COLOCATE_H
#include <stdint.h>

struct colo_stats {
  int enabled;
  uint64_t bursts;  // runs of requests served as an idle-class thread
  uint64_t moves;   // times the loop moved to its caller's CPU
  uint64_t rescues; // times the watchdog found it starved and made it a normal thread again
  uint64_t looks;   // the watchdog's looks
  uint64_t starved; // looks that found it starved
  uint64_t declines; // bursts left because the caller's requests left FORGETs behind
};

// Once, on the thread that runs the loop: reads STRATA_FUSE_COLOCATE (0: off).
void colo_init(void);
// The loop read a request from session fd `fd`, sent by thread `pid`.
void colo_request(int fd, uint32_t pid);
// That request was a FORGET (or a batch of them): work the caller left behind.
void colo_oneway(void);
// The loop is done with that request (answered it, or handed it to JavaScript and back).
void colo_done(void);
// The loop goes back to sleep in the event loop: a normal thread again.
void colo_rest(void);
// The session on `fd` ends: the watchdog must not poll it any more.
void colo_forget(int fd);
void colo_stats(struct colo_stats *out);

#endif
