#!/usr/bin/env bash
# The full benchmark that BENCHMARKS.md shows: every driver, every workload
# at full size, the builder section; charts and bench.json go to docs/bench/.
# Usage: bash scripts/bench-full.sh [RUNS [MORE strata bench ARGS...]]
#   (RUNS default 5; needs root; about 9 min per run plus set-up on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
shift || true
extra=("$@")
bash scripts/setup.sh >/dev/null
out=docs/bench
mkdir -p "$out"
rm -f "$out"/*.svg
# A failed run is in the report ("Skipped and failed"); still write the page.
node packages/cli/bin/strata.js bench --runs "$runs" --out "$out" "${extra[@]}" >/dev/null || echo "bench-full: some runs failed; see BENCHMARKS.md" >&2
{
  echo '# strata benchmarks'
  echo
  echo 'The latest full run of `strata bench` on this kind of machine (made by'
  echo "\`bash scripts/bench-full.sh $runs${extra[*]:+ ${extra[*]}}\`). Every figure is the median of $runs runs, each in a"
  echo 'fresh mount over identical layer directories; min and max are in the second'
  echo 'table and every run is in [docs/bench/bench.json](docs/bench/bench.json).'
  echo 'The machine is shared (2 cores, other work running at the same time), so the'
  echo 'figures are noisy: compare drivers within one run, not across runs.'
  echo
  if [ -f docs/bench/NOTES.md ]; then cat docs/bench/NOTES.md; echo; fi
  echo '## Results'
  echo
  # Headings one level down; chart links relative to the repository root.
  sed -e 's/^### /### /' "$out/bench.md"
  echo
  echo '## Charts'
  echo
  for f in "$out"/*.svg; do echo "![$(basename "$f" .svg)]($f)"; echo; done
} > BENCHMARKS.md
echo "wrote BENCHMARKS.md and $out/"
