{
  "targets": [{
    "target_name": "strata_native",
    "sources": ["src/syscalls.c", "src/prefetch.c", "src/listahead.c", "src/remover.c", "src/background.c"],
    "cflags": ["-O2", "-Wall", "-D_GNU_SOURCE"]
  }, {
    "target_name": "strata_fusell",
    "sources": ["src/fuse_ll.c", "src/prefault.c", "src/colocate.c", "src/dircache.c", "src/prefetch_ll.c", "src/refresh.c", "src/background.c"],
    "cflags": ["-O2", "-Wall", "-D_GNU_SOURCE"]
  }]
}
