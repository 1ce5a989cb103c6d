#!/usr/bin/env bash
# Manual check (not in CI): a real browser opens the simulator's hosted page and clicks
# Approve; the user must become REGULAR, and the event console must show both events. Installs Debian's chromium and chromium-driver when
# missing (needs root), starts idv-local on spare ports, and drives Chromium over WebDriver.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  echo "==> installing chromium and chromium-driver"
  apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null
fi

cargo build --quiet --locked -p idv-local
mkdir -p .tmp
api_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
sim_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
driver_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

./target/debug/idv-local --addr "127.0.0.1:$api_port" --sim-addr "127.0.0.1:$sim_port" >.tmp/browser-check-local.log 2>&1 &
local_pid=$!
chromedriver --port="$driver_port" >.tmp/browser-check-driver.log 2>&1 &
driver_pid=$!
trap 'kill $local_pid $driver_pid 2>/dev/null || true' EXIT

python3 scripts/browser_check.py "http://127.0.0.1:$api_port" "http://127.0.0.1:$driver_port"
