#!/usr/bin/env bash
# Starts a moto server (DynamoDB + SQS emulator) on a free 127.0.0.1 port and prints
# `export` lines for its endpoint. Usage: eval "$(scripts/moto.sh start)"; scripts/moto.sh stop
set -euo pipefail
cd "$(dirname "$0")/.."
state=.tmp/moto
mkdir -p "$state"

case "${1:-}" in
  start)
    scripts/venv.sh >&2
    port=$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    .venv/bin/python scripts/moto_server.py 127.0.0.1 "$port" >"$state/server.log" 2>&1 &
    echo $! > "$state/pid"
    for _ in $(seq 1 100); do
      if .venv/bin/python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/moto-api/')" 2>/dev/null; then
        echo "export AWS_ENDPOINT_URL=http://127.0.0.1:$port"
        echo "export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1"
        echo "export AWS_EC2_METADATA_DISABLED=true"
        exit 0
      fi
      sleep 0.1
    done
    echo "moto did not start; log follows" >&2
    cat "$state/server.log" >&2
    exit 1
    ;;
  stop)
    if [ -f "$state/pid" ]; then
      kill "$(cat "$state/pid")" 2>/dev/null || true
      rm -f "$state/pid"
    fi
    ;;
  *)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
