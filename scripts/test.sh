#!/usr/bin/env bash
# The whole test suite: formatting, lints, then every test of the workspace against a moto
# server this script installs, starts and always stops.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "==> cargo fmt --check"
cargo fmt --all -- --check

echo "==> cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "==> starting moto (DynamoDB + SQS emulator)"
trap 'scripts/moto.sh stop' EXIT
eval "$(scripts/moto.sh start)"
echo "    moto at $AWS_ENDPOINT_URL"

echo "==> cargo test"
cargo test --workspace --locked
