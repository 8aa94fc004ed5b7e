{
  "targets": [{
    "target_name": "strata_native",
    "sources": ["src/syscalls.c"],
    "cflags": ["-O2", "-Wall", "-D_GNU_SOURCE"]
  }]
}
