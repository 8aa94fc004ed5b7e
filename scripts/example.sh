#!/usr/bin/env bash
# strata's main job on the bundled example, set-up included.
# (Grows with strata: import -> mount -> build.)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
strata="node packages/cli/bin/strata.js"
$strata version
tar -tf fixtures/out/busybox-rootfs.tar | head -20
