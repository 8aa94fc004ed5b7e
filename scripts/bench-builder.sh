#!/usr/bin/env bash
# strata build vs buildah (vfs storage, chroot isolation) on the Dockerfiles
# under fixtures/bench/: cold build, rebuild with nothing changed, rebuild
# after one source file changed. Runs `strata bench --workloads builder` and
# prints buildah's time / strata's time per figure with the targets
# (cold >= 1.0x, both rebuilds >= 2.0x). A script, not a test: it takes minutes.
# Usage: scripts/bench-builder.sh [RUNS] [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
out=${2:-.bench/builder}
node packages/cli/bin/strata.js bench --workloads builder --runs "$runs" --out "$out" >&2
python3 - "$out/bench.json" <<'PY'
import json, sys
b = json.load(open(sys.argv[1]))["builder"]
med = {(r["builder"], r["fixture"], r["scenario"]): r["median"] for r in b["results"]}
target = {"cold": 1.0, "no-change": 2.0, "one-file-changed": 2.0}
print("%-12s %-17s %10s %10s %7s %7s" % ("fixture", "build", "strata ms", "buildah ms", "ratio", "target"))
for (who, fx, sc), ms in sorted(med.items()):
    if who != "strata" or ("buildah", fx, sc) not in med:
        continue
    other = med[("buildah", fx, sc)]
    ratio = other / ms
    print("%-12s %-17s %10.0f %10.0f %6.2fx %6.1fx %s" % (fx, sc, ms, other, ratio, target[sc], "met" if ratio >= target[sc] else "MISSED"))
for f in b.get("failures", []):
    print("failure:", f)
PY
