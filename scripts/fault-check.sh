#!/usr/bin/env bash
# What a merchant sees when Ralio acts and then fails: idv-local pointed (RALIO_BASE_URL) at a
# stand-in Ralio (ralio-sim) that opens the account and then answers 502, resets the
# connection, answers after the client's 10 s timeout, fails before acting, or answers 502 and
# opens the account 20 s later. The merchant
# retries every RETRY_EVERY seconds until it gets the account; the table shows its answers and
# how many accounts Ralio holds afterwards. Defaults as deployed (RALIO_TIMEOUT 10s,
# ACCOUNT_SETTLE 2m), so a run takes a few minutes.
set -euo pipefail
cd "$(dirname "$0")/.."

API_PORT=${API_PORT:-3900}
SIM_PORT=${SIM_PORT:-3901}
RETRY_EVERY=${RETRY_EVERY:-5}
FAULTS=${FAULTS:-"act-then-5xx act-then-reset act-then-hang:15s fail-before-acting act-late:20s"}
API="http://127.0.0.1:$API_PORT"
SIM="http://127.0.0.1:$SIM_PORT"

cargo build --quiet --locked -p idv-local -p ralio-sim
# idv-local refuses the public local secret once a Ralio other than its own simulator signs.
SECRET="whsec_fault_check_$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
logs=$(mktemp -d)
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT

SIM_WEBHOOK_SECRET="$SECRET" target/debug/ralio-sim --addr "127.0.0.1:$SIM_PORT" \
  --webhook-url "$API/webhooks/ralio" \
  >"$logs/sim.log" 2>&1 &
pids+=($!)
WEBHOOK_SECRETS="$SECRET" RALIO_BASE_URL="$SIM" RALIO_API_CODE=local-api-code RALIO_API_KEY=local-api-key \
  target/debug/idv-local --addr "127.0.0.1:$API_PORT" >"$logs/idv.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
  curl -sf "$API/users/00000000-0000-4000-8000-000000000000/kyc" >/dev/null && break
  sleep 0.1
done

printf '| fault | answers the merchant got | accounts at Ralio |\n|---|---|---|\n'
for fault in $FAULTS; do
  uid=$(python3 -c 'import uuid; print(uuid.uuid4())')
  curl -sf -X POST "$SIM/sim/users/$uid/level" -H 'content-type: application/json' \
    -d '{"level":"REGULAR"}' >/dev/null
  until curl -sf "$API/users/$uid/kyc" | grep -q '"canCreateAccount":true'; do sleep 0.2; done
  curl -sf -X POST "$SIM/sim/faults" -H 'content-type: application/json' \
    -d "{\"operation\":\"create-account\",\"fault\":\"$fault\",\"times\":1}" >/dev/null
  answers=()
  for _ in $(seq 120); do
    status=$(curl -s -o "$logs/answer.json" -w '%{http_code}' -X POST "$API/users/$uid/accounts" \
      -H 'content-type: application/json' -d '{"alias":"Main","currency":"EUR"}')
    code=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("code",""))' \
      "$logs/answer.json" 2>/dev/null || true)
    answers+=("$status${code:+ $code}")
    [[ $status == 200 || $status == 201 ]] && break
    sleep "$RETRY_EVERY"
  done
  held=$(curl -sf "$SIM/sim/accounts" | python3 -c \
    'import json,sys; print(sum(a["userId"]==sys.argv[1] for a in json.load(sys.stdin)))' "$uid")
  named=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("accountId","-"))' \
    "$logs/answer.json")
  summary=$(printf '%s\n' "${answers[@]}" | python3 -c '
import sys, itertools
runs = [(k, len(list(g))) for k, g in itertools.groupby(sys.stdin.read().splitlines())]
print(", ".join(f"{k} ×{n}" if n > 1 else k for k, n in runs))')
  printf '| %s | %s | %s (answer names %s) |\n' "$fault" "$summary" "$held" "${named:0:8}…"
done
