#!/usr/bin/env bash
# Compares strata's two FUSE transports (native: own /dev/fuse loop with
# passthrough; fuse-native: libfuse 2) with kernel overlayfs and
# fuse-overlayfs on the data path (fio) and a directory walk (find over 20k
# files in 32 layers), all in one run on the same files. Root only (kernel
# overlayfs, drop_caches). Not a test: it takes minutes and several GiB of
# page cache. Usage: scripts/bench-transports.sh [DRIVER...]
#   (default: native fuse-native kernel fuse-overlayfs)
set -euo pipefail
cd "$(dirname "$0")/.."
STRATA="$PWD/packages/cli/bin/strata.js"
if [ $# -gt 0 ]; then drivers=("$@"); else drivers=(native fuse-native kernel fuse-overlayfs); fi

base=$(mktemp -d /var/tmp/strata-bench-transports.XXXXXX)
mnt="$base/m"
cleanup() {
  if mountpoint -q "$mnt"; then umount "$mnt" 2>/dev/null || umount -l "$mnt"; fi
  rm -rf "$base"
}
trap cleanup EXIT
mkdir -p "$base"/{io,u,w,m}
echo "preparing: a 1 GiB lower file, 20000 files over 32 layers" >&2
dd if=/dev/urandom of="$base/io/big.bin" bs=1M count=1024 status=none
python3 - "$base" <<'EOF'
import os, sys
base = sys.argv[1]
for i in range(20000):
    d = i // 100
    layer = f'{base}/l{i % 32}'
    rel = f'tree/d{d // 20}/d{d % 20}'
    os.makedirs(f'{layer}/{rel}', exist_ok=True)
    with open(f'{layer}/{rel}/f{i}', 'w') as f: f.write('a' * 64)
for l in range(32):  # every layer holds the whole skeleton, as image layers do
    for d in range(200):
        os.makedirs(f'{base}/l{l}/tree/d{d // 20}/d{d % 20}', exist_ok=True)
EOF
layers32=$(for i in $(seq 0 31); do printf '%s:' "$base/l$i"; done); layers32=${layers32%:}

mount_as() { # DRIVER LOWERDIRS
  rm -rf "$base"/u/* "$base"/w/*
  local o="lowerdir=$2,upperdir=$base/u,workdir=$base/w"
  case $1 in
    kernel) mount -t overlay overlay -o "$o" "$mnt" ;;
    fuse-overlayfs) fuse-overlayfs -o "$o" "$mnt" 2>/dev/null ;;
    native|fuse-native) node "$STRATA" mount -o "$o,transport=$1" "$mnt" ;;
    *) echo "unknown driver $1" >&2; exit 2 ;;
  esac
}
fio_run() { # prints "MB/s IOPS"
  fio --output-format=json --name=b --ioengine=psync --numjobs=1 --thread "$@" | python3 -c "
import sys, json
t = sys.stdin.read(); j = json.loads(t[t.index('{'):])['jobs'][0]
s = j['write'] if j['write']['io_bytes'] else j['read']
print('%.0f MB/s %.0f IOPS' % (s['bw_bytes'] / 1e6, s['iops']))"
}
ms_of() { local s e; s=$(date +%s%N); "$@" > /dev/null; e=$(date +%s%N); echo "$(( (e - s) / 1000000 )) ms"; }

printf '%-16s %-22s %s\n' driver workload result
for d in "${drivers[@]}"; do
  mount_as "$d" "$base/io"
  (
    cd "$mnt"
    printf '%-16s %-22s %s\n' "$d" "seq write 1M x 1GiB" "$(fio_run --filename=new.bin --rw=write --bs=1M --size=1G --create_on_open=1 --fallocate=none)"
    printf '%-16s %-22s %s\n' "$d" "seq write 4k x 256MiB" "$(fio_run --filename=new4k.bin --rw=write --bs=4k --size=256M --create_on_open=1 --fallocate=none)"
    printf '%-16s %-22s %s\n' "$d" "seq read lower, cold" "$(fio_run --filename=big.bin --rw=read --bs=1M --size=1G --readonly --invalidate=1)"
    printf '%-16s %-22s %s\n' "$d" "seq read lower, hot" "$(fio_run --filename=big.bin --rw=read --bs=1M --size=1G --readonly --invalidate=0)"
    printf '%-16s %-22s %s\n' "$d" "rand 4k read, hot" "$(fio_run --filename=big.bin --rw=randread --bs=4k --size=1G --readonly --invalidate=0 --runtime=10)"
    printf '%-16s %-22s %s\n' "$d" "seq read upper, hot" "$(fio_run --filename=new.bin --rw=read --bs=1M --size=1G --readonly --invalidate=0)"
  )
  umount "$mnt"
  mount_as "$d" "$layers32"
  (
    cd "$mnt"
    sync; echo 3 > /proc/sys/vm/drop_caches
    printf '%-16s %-22s %s\n' "$d" "find 20k/32 layers cold" "$(ms_of find .)"
    printf '%-16s %-22s %s\n' "$d" "find 20k/32 layers warm" "$(ms_of find .)"
    n=$(find tree -type f | wc -l)
    [ "$n" = 20000 ] || echo "$d: find saw $n files, expected 20000" >&2
  )
  umount "$mnt"
done
