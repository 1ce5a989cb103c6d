#!/usr/bin/env bash
# `make smoke`: the golden story (scripts/smoke.py) against SMOKE_BASE_URL, or, when it is not
# set, against an idv-local this script starts on free ports with its simulator and stops after.
# For a deployed dev stage: SMOKE_BASE_URL=<ApiUrl> SMOKE_SIGV4=1 (with ApiAuth=IAM),
# SMOKE_WEBHOOK_URL=<WebhookUrl> SMOKE_WEBHOOK_SECRET=<a secret in the webhook's list>.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/venv.sh

if [ -n "${SMOKE_BASE_URL:-}" ]; then
  exec .venv/bin/python scripts/smoke.py "$SMOKE_BASE_URL"
fi

# The binary `cargo test --workspace` builds, as scripts/schemathesis.sh uses it.
cargo test --workspace --locked --quiet --no-run
mkdir -p .tmp
log=.tmp/smoke-idv-local.log
target/debug/idv-local --addr 127.0.0.1:0 --sim-addr 127.0.0.1:0 > "$log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true' EXIT
url="" sim=""
for _ in $(seq 1 300); do
  url=$(sed -n 's/^  API: *//p' "$log")
  sim=$(sed -n 's/^  Ralio sim: *\([^ ]*\).*/\1/p' "$log")
  [ -n "$url" ] && [ -n "$sim" ] && break
  kill -0 "$server" 2>/dev/null || { cat "$log" >&2; exit 1; }
  sleep 0.1
done
[ -n "$url" ] || { echo "idv-local did not start:" >&2; cat "$log" >&2; exit 1; }
SMOKE_SIM_URL="$sim" .venv/bin/python scripts/smoke.py "$url"
