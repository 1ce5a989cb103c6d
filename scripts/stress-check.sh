#!/usr/bin/env bash
# `make stress-check`: runs .ci/run on a fresh clone of HEAD, STRESS_RUNS times (default 2),
# while CPU-bound jobs keep every core busy, as on a loaded CI machine. A test whose outcome
# depends on the machine's speed fails here first. The busy loops are plain shell, so nothing
# needs installing; they stop with the script.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=${STRESS_RUNS:-2}
hogs=${STRESS_HOGS:-$(nproc)}
work=$(mktemp -d "${TMPDIR:-/tmp}/idv-stress.XXXXXX")
pids=()
stop() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
}
trap stop EXIT

for _ in $(seq 1 "$hogs"); do
  ( while :; do :; done ) &
  pids+=($!)
done
echo "==> $hogs CPU-bound loops running beside CI"

for run in $(seq 1 "$runs"); do
  clone="$work/run-$run"
  git clone --quiet . "$clone"
  echo "==> run $run of $runs: .ci/run on a fresh clone of $(git rev-parse --short HEAD) in $clone"
  start=$(date +%s)
  if (cd "$clone" && CI=true bash .ci/run) > "$work/run-$run.log" 2>&1; then
    echo "    passed in $(( $(date +%s) - start )) s: $(grep '^summary:' "$work/run-$run.log" | tail -1)"
  else
    echo "    FAILED after $(( $(date +%s) - start )) s; the log is $work/run-$run.log" >&2
    grep -E 'FAILED|panicked|^error' "$work/run-$run.log" | head -20 >&2 || true
    exit 1
  fi
  rm -rf "$clone/target"
done
echo "==> every run passed; logs in $work"
