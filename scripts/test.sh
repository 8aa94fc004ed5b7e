#!/usr/bin/env bash
# The whole test suite, set-up included: installs what is missing (see
# setup.sh), then runs every ava test (unit, FUSE mounts, runc, registry,
# interop, Dockerfile conformance, the quick benchmark) and ends with one
# line "N passed, N failed". Extra arguments go to ava (e.g. a file glob).
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || { echo "0 passed, 1 failed"; exit 1; }

log=$(mktemp)
# The mounts the tests make keep their lower directories' names in a cache
# of the run's own (made 0700 by mktemp), not in the host's /var/cache.
made_cache=
if [ -z "${STRATA_DIRCACHE:-}" ]; then made_cache=$(mktemp -d); export STRATA_DIRCACHE=$made_cache; fi
trap 'rm -f "$log"; [ -z "$made_cache" ] || rm -rf "$made_cache"' EXIT
# TAP gives counts we can total; ava's own reporter would hide them in prose.
pnpm exec ava --tap "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}

pass=$(awk '/^# pass /{print $3}' "$log" | tail -1)
fail=$(awk '/^# fail /{print $3}' "$log" | tail -1)
skip=$(awk '/^# skip /{print $3}' "$log" | tail -1)
todo=$(awk '/^# todo /{print $3}' "$log" | tail -1)
pass=${pass:-0}; fail=${fail:-0}
# A crash of ava or a worker (no TAP plan, non-zero exit) counts as a failure.
if [ "$status" -ne 0 ] && [ "$fail" -eq 0 ]; then fail=1; fi
if [ "$pass" -eq 0 ] && [ "$fail" -eq 0 ]; then echo "no tests ran"; fail=1; fi
extra=""
[ -n "${skip:-}" ] && [ "${skip:-0}" != 0 ] && extra=", $skip skipped"
echo "$pass passed, $fail failed$extra"
[ "$fail" -eq 0 ]
