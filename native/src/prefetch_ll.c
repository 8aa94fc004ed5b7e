// The read-ahead threads (prefetch.c) in the FUSE loop's module, without the
// JavaScript binding the other module gives them.
#define PREFETCH_NO_NAPI
#include "prefetch.c"
