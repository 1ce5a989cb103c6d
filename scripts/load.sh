#!/usr/bin/env bash
# make load: the load run (tools/load) as a release build, against a moto server this script
# starts and stops for the DynamoDB store. Arguments go to idv-load (--help lists them).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/venv.sh
echo "==> cargo build --release -p idv-load"
cargo build --locked --release -p idv-load

echo "==> starting moto"
trap 'scripts/moto.sh stop' EXIT
eval "$(scripts/moto.sh start)"

# idv-local writes its CloudWatch metrics (EMF) to stdout, as in Lambda: not wanted here.
set +e
target/release/idv-load "$@" | grep --line-buffered -v '"CloudWatchMetrics"'
status=${PIPESTATUS[0]}
set -e
exit "$status"
