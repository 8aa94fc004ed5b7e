// Directory read-ahead (prefetch.c), for the FUSE loop too.
#ifndef STRATA_PREFETCH_H
#define STRATA_PREFETCH_H
#include <stdint.h>
void prefetch_take(char **paths, uint32_t n);
#endif
