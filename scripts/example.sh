#!/usr/bin/env bash
# strata's main job on the bundled example, set-up included: import the
# busybox base, build fixtures/example/Dockerfile (every RUN on a strata FUSE
# mount under runc, each instruction cached as a layer), rebuild it (all
# CACHED, same digest), run it, mount the image with `strata mount`, look
# inside, and unmount.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
strata="node packages/cli/bin/strata.js"
# A private store for the example unless the caller chose one.
export STRATA_ROOT="${STRATA_ROOT:-$(mktemp -d /tmp/strata-example.XXXXXX)}"
mnt=$(mktemp -d /tmp/strata-example-mnt.XXXXXX)
cleanup() {
  if grep -qs " $mnt " /proc/self/mounts; then $strata umount "$mnt" || true; fi
  rmdir "$mnt" 2>/dev/null || true
}
trap cleanup EXIT
echo "== store: $STRATA_ROOT"
$strata version
echo "== import the busybox root filesystem as an image"
$strata import fixtures/out/busybox-rootfs.tar localhost/busybox:latest
$strata images
echo "== other tools read the store as an OCI layout"
skopeo inspect "oci:$STRATA_ROOT:localhost/busybox:latest" | head -5
echo "== build fixtures/example"
$strata build --progress plain -t localhost/example:latest fixtures/example
echo "== rebuild: nothing changed, so every step is CACHED and the digest is the same"
$strata build --progress plain -t localhost/example:latest fixtures/example
echo "== history"
$strata history localhost/example:latest
echo "== run it"
$strata run --rm localhost/example:latest
echo "== mount its layers (snapshot dirs, top first) with strata mount"
lowers=$($strata inspect --json localhost/example:latest | node -e '
  const i = JSON.parse(require("fs").readFileSync(0, "utf8"));
  const dirs = i.layers.map((l) => l.snapshot);
  if (dirs.includes(null)) { console.error("a layer is not unpacked"); process.exit(1); }
  console.log(dirs.reverse().join(":"));')
$strata mount -o "lowerdir=$lowers" "$mnt"
ls -la "$mnt/app"
cat "$mnt/app/greeting.txt"
$strata umount "$mnt"
$strata fsck
echo "== done"
