#!/usr/bin/env bash
# A quick look at strata's FUSE overlay on the workloads its issue names
# (not a test; `strata bench` is the real comparison): cold stat of 10k lower
# files, find over 20k files in 32 layers, rm -rf of 5k lower files, rename
# of a 1000-file lower directory, sequential write. Root; ~1 minute.
# Usage: packages/overlay/scripts/quickbench.sh [fuse-native|native]
set -euo pipefail
cd "$(dirname "$0")/../../.."
transport=${1:-fuse-native}
strata="node packages/cli/bin/strata.js"
dir=$(mktemp -d /tmp/strata-quickbench-XXXXXX)
trap 'for m in "$dir"/*/m; do mountpoint -q "$m" && $strata umount "$m"; done; rm -rf "$dir"' EXIT
now() { date +%s%N; }
ms() { echo $(( ($2 - $1) / 1000000 )); }

python3 - "$dir" <<'PY'
import os, sys
d = sys.argv[1]
def mk(p):
    os.makedirs(os.path.dirname(p), exist_ok=True); open(p, 'w').close()
for i in range(10000): mk(f'{d}/stat/l0/d{i % 100}/f{i}')
for L in range(32):
    for i in range(625): mk(f'{d}/find/l{L}/d{i % 100}/f{L}_{i}')
for i in range(5000): mk(f'{d}/rm/l0/tree/d{i % 50}/f{i}')
for i in range(1000): mk(f'{d}/ren/l0/big/f{i}')
os.makedirs(f'{d}/write/l0')
PY
mountit() { # name lowerdirs
  mkdir -p "$dir/$1/u" "$dir/$1/w" "$dir/$1/m"
  $strata mount -o "lowerdir=$2,upperdir=$dir/$1/u,workdir=$dir/$1/w,transport=$transport" "$dir/$1/m"
}
mountit stat "$dir/stat/l0"
t0=$(now); python3 -c "
import os,sys
m=sys.argv[1]
for d in range(100):
    for i in range(d, 10000, 100): os.lstat(f'{m}/d{d}/f{i}')" "$dir/stat/m"; t1=$(now)
echo "stat 10k lower files cold: $(ms $t0 $t1) ms ($(( 10000 * 1000 / ($(ms $t0 $t1) + 1) ))/s)"
mountit find "$(seq -s: -f "$dir/find/l%g" 0 31)"
t0=$(now); n=$(find "$dir/find/m" | wc -l); t1=$(now)
echo "find $n entries over 32 layers cold: $(ms $t0 $t1) ms"
mountit rm "$dir/rm/l0"
t0=$(now); rm -rf "$dir/rm/m/tree"; t1=$(now)
echo "rm -rf 5k lower files: $(ms $t0 $t1) ms"
mountit ren "$dir/ren/l0"
ls "$dir/ren/m/big" >/dev/null
t0=$(now); mv "$dir/ren/m/big" "$dir/ren/m/moved"; t1=$(now)
echo "rename of a 1000-file lower dir (mv, process start included): $(ms $t0 $t1) ms; upper holds $(find "$dir/ren/u" | wc -l) entries"
mountit write "$dir/write/l0"
t0=$(now); dd if=/dev/zero of="$dir/write/m/big" bs=1M count=1024 status=none; t1=$(now)
echo "sequential write 1 GiB: $(ms $t0 $t1) ms ($(( 1024 * 1000 / ($(ms $t0 $t1) + 1) )) MiB/s)"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
