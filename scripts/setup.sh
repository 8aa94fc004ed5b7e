#!/usr/bin/env bash
# Brings a bare Debian 12 machine (Node 20, root) to where strata builds,
# tests and benchmarks: system packages, pnpm, node modules, the native addon
# and the busybox base fixture. Idempotent: a second run does only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_packages=(
  fuse3 libfuse2 libfuse-dev pkg-config runc           # strata itself (libfuse-dev: fuse-native is built from patched source)
  fuse-overlayfs unionfs-fuse fio                       # benchmark peers
  skopeo umoci buildah podman docker-registry           # interop partners
  busybox-static                                        # the base image's binaries
  attr zstd xz-utils bzip2 gzip tar apache2-utils time  # test tools (getfattr, htpasswd, /usr/bin/time for the import bench)
  openssl ca-certificates                               # registry tests: TLS and token-signing certs; system CAs
  python3 make g++ git                                  # native addon build, conformance comparator
)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  if [ "$(id -u)" != 0 ]; then echo "setup: need root to install system packages" >&2; exit 1; fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
modprobe fuse 2>/dev/null || true

want_pnpm=$(node -p "require('./package.json').packageManager.split('@')[1]")
if ! command -v pnpm >/dev/null || [ "$(pnpm --version 2>/dev/null)" != "$want_pnpm" ]; then
  echo "setup: installing pnpm $want_pnpm"
  npm install -g --silent "pnpm@$want_pnpm" >/dev/null
fi

# node-gyp ignores nodedir in .npmrc and would download Node's headers, which
# this network does not serve: point it at the headers Debian's node ships.
if [ -d /usr/include/node ]; then export npm_config_nodedir=/usr; fi
pnpm install --frozen-lockfile=false --reporter=silent
# pnpm runs @strata/native's install script; make sure the binary exists
# even when the lockfile was unchanged and pnpm skipped it.
# Also rebuild when a C source or binding.gyp is newer than a binary
# (a pull that changed the addon must not run against a stale one).
addon=native/build/Release/strata_native.node
fusell=native/build/Release/strata_fusell.node
if [ ! -f "$addon" ] || [ ! -f "$fusell" ] ||
   [ -n "$(find native/src native/binding.gyp \( -newer "$addon" -o -newer "$fusell" \) -print -quit)" ]; then
  (cd native && npx --no-install node-gyp rebuild >/dev/null)
fi

# fuse-native is patched (patches/fuse-native@*.patch: utimens times, stat
# layout, big_writes/max_write/negative_timeout/use_ino options, caller
# context, unmount notice) and must be built from that source against
# Debian's libfuse; its prebuilt binaries are never loaded.
fuse_native_dir=$(cd packages/overlay && node -e "console.log(require('path').dirname(require.resolve('fuse-native/package.json')))")
if [ ! -f "$fuse_native_dir/build/Release/fuse.node" ]; then
  gyp_log=$(mktemp)
  (cd "$fuse_native_dir" && "$OLDPWD/native/node_modules/.bin/node-gyp" rebuild >"$gyp_log" 2>&1) || { cat "$gyp_log" >&2; rm -f "$gyp_log"; exit 1; }
  rm -f "$gyp_log"
fi

# `mount -t fuse.strata` runs /sbin/mount.fuse.strata; point it at this checkout.
if [ "$(id -u)" = 0 ]; then
  helper=$(sed "s|@STRATA_HOME@|$PWD|" scripts/mount.fuse.strata)
  if [ ! -f /sbin/mount.fuse.strata ] || [ "$(cat /sbin/mount.fuse.strata)" != "$helper" ]; then
    printf '%s\n' "$helper" > /sbin/mount.fuse.strata
    chmod 755 /sbin/mount.fuse.strata
  fi
fi

bash fixtures/make-busybox-rootfs.sh >/dev/null

# Plain-JS bundles of the CLI, mount worker and overlay server (start-up
# without tsx); the bins use them only while they match the sources.
node scripts/bundle.mjs >/dev/null
echo "setup: done"
