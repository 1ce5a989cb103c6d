#!/usr/bin/env bash
# make bench: the six functions (one binary, idv-lambda, as `make build` ships them) and the
# hello-world baseline as release binaries in one cargo invocation (so they share features as in
# `make build`), criterion's webhook bench, then the harness against a moto server it starts and
# stops. Writes BENCHMARKS.md.
# BENCH_ARGS passes options to the harness, e.g. BENCH_ARGS="--warm-calls 200".
set -euo pipefail
cd "$(dirname "$0")/.."
profile="${BENCH_PROFILE:-release}"
# Built for this machine's target named explicitly, so that the release flags (the Makefile's
# RELEASE_RUSTFLAGS, as in make build) reach the binaries and not the host's build scripts.
host=$(rustc -vV | sed -n 's/^host: //p')
: "${RELEASE_RUSTFLAGS?is set by the Makefile: run make bench}"
export "CARGO_TARGET_$(echo "$host" | tr 'a-z-' 'A-Z_')_RUSTFLAGS=$RELEASE_RUSTFLAGS"

echo "==> cargo build --profile $profile --target $host (idv-lambda, the six functions in one binary, and hello-lambda)"
cargo build --locked --profile "$profile" --target "$host" \
  -p idv-lambda -p hello-lambda --bin idv-lambda --bin hello-lambda

echo "==> criterion: CPU per webhook delivery"
rm -rf target/criterion
cargo bench --locked -p idv-model --bench webhook -- --noplot

echo "==> the harness (debug build; it only times other processes)"
cargo build --locked -p idv-bench

echo "==> starting moto"
trap 'scripts/moto.sh stop' EXIT
eval "$(scripts/moto.sh start)"

target/debug/idv-bench --bin-dir "target/$host/$profile" --profile "$profile" ${BENCH_ARGS:-}
