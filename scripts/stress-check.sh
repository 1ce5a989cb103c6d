#!/usr/bin/env bash
# `make stress-check`: runs .ci/run on a fresh clone of HEAD, STRESS_RUNS times (default 2),
# while CPU-bound work runs beside it, as on a loaded CI machine. A test whose outcome depends
# on the machine's speed fails here first. STRESS_WITH chooses the work: `loops` (default), one
# busy shell loop per core, nothing to install; or `build`, a cold release build of the
# workspace in another clone with its own target directory, started again whenever it ends.
# Both stop with the script.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=${STRESS_RUNS:-2}
hogs=${STRESS_HOGS:-$(nproc)}
work=$(mktemp -d "${TMPDIR:-/tmp}/idv-stress.XXXXXX")
pids=()
# Each job runs in its own process group (setsid), so that stopping it stops what it started.
stop() {
  for pid in "${pids[@]}"; do kill -- "-$pid" 2>/dev/null || true; done
  sleep 1
  rm -rf "$work/busy" "$work/busy-target"
}
trap stop EXIT

case "${STRESS_WITH:-loops}" in
  loops)
    for _ in $(seq 1 "$hogs"); do
      setsid bash -c 'while :; do :; done' &
      pids+=($!)
    done
    echo "==> $hogs CPU-bound loops running beside CI"
    ;;
  build)
    git clone --quiet . "$work/busy"
    setsid bash -c 'cd "$1" && while :; do
        cargo build --quiet --release --workspace --locked --target-dir "$2" >/dev/null 2>&1 || true
        rm -rf "$2"
      done' _ "$work/busy" "$work/busy-target" &
    pids+=($!)
    echo "==> a cold release build of the workspace running beside CI"
    ;;
  *)
    echo "STRESS_WITH is loops or build" >&2
    exit 2
    ;;
esac

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
