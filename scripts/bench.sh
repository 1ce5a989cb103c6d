#!/usr/bin/env bash
# make bench: the five functions and the hello-world baseline as release binaries (one cargo
# invocation, so they share features as in `make build`), criterion's webhook bench, then the
# harness against a moto server it starts and stops. Writes BENCHMARKS.md.
# BENCH_ARGS passes options to the harness, e.g. BENCH_ARGS="--warm-calls 200".
set -euo pipefail
cd "$(dirname "$0")/.."
profile="${BENCH_PROFILE:-release}"

echo "==> cargo build --profile $profile (five functions and hello-lambda)"
cargo build --locked --profile "$profile" \
  -p idv-webhook -p idv-create-session -p idv-account-gate -p idv-expiry-watcher \
  -p idv-event-publisher -p hello-lambda

echo "==> criterion: CPU per webhook delivery"
rm -rf target/criterion
cargo bench --locked -p idv-model --bench webhook -- --noplot

echo "==> the harness (debug build; it only times other processes)"
cargo build --locked -p idv-bench

echo "==> starting moto"
trap 'scripts/moto.sh stop' EXIT
eval "$(scripts/moto.sh start)"

target/debug/idv-bench --bin-dir "target/$profile" --profile "$profile" ${BENCH_ARGS:-}
