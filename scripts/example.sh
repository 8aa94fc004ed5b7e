#!/usr/bin/env bash
# strata's main job on the bundled example, set-up included.
# (Grows with strata: import -> mount -> build.)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
strata="node packages/cli/bin/strata.js"
# A private store for the example unless the caller chose one.
export STRATA_ROOT="${STRATA_ROOT:-$(mktemp -d /tmp/strata-example.XXXXXX)}"
echo "== store: $STRATA_ROOT"
$strata version
echo "== import the busybox root filesystem as an image"
$strata import fixtures/out/busybox-rootfs.tar localhost/busybox:latest
$strata images
echo "== the image's layers (snapshot dirs are kernel-overlay lowerdirs)"
$strata inspect --json localhost/busybox:latest | node -e '
  const i = JSON.parse(require("fs").readFileSync(0, "utf8"));
  for (const l of i.layers) console.log(l.digest, l.size, "->", l.snapshot);'
snap=$($strata inspect --json localhost/busybox:latest | node -e 'console.log(JSON.parse(require("fs").readFileSync(0, "utf8")).layers[0].snapshot)')
ls -l "$snap" | head -8
echo "== other tools read the store as an OCI layout"
skopeo inspect "oci:$STRATA_ROOT:localhost/busybox:latest" | head -5
$strata fsck
