#!/usr/bin/env bash
# A manual check, like `make browser-check`: every sample event in infra/events/lambda/ through
# cargo-lambda's runtime emulator (`cargo lambda watch`, then `cargo lambda invoke`), against moto
# and the Ralio simulator, with the secrets read from Secrets Manager (on moto) as in AWS. Inside
# the emulator each function sees AWS_LAMBDA_FUNCTION_NAME, so it refuses WEBHOOK_SECRETS and the
# public local secret, exactly as in Lambda: the webhook secret here is generated, and the sample
# delivery is signed again with it. Prints each function's answer and whether it was right.
# docs/development.md shows the same commands.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .tmp/lambda-emulator

# cargo-lambda, pinned as `make build` pins it, into .venv-build.
if ! [ -x .venv-build/bin/cargo-lambda ]; then
  python3 -m venv .venv-build
  .venv-build/bin/python -m pip install --quiet --disable-pip-version-check \
    "$(grep '^cargo-lambda==' scripts/build-requirements.txt)"
fi
export PATH="$PWD/.venv-build/bin:$PATH"

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  scripts/moto.sh stop
}
trap cleanup EXIT
eval "$(scripts/moto.sh start)"
export AWS_DEFAULT_REGION="$AWS_REGION"

# idv-local on DynamoDB creates the table and the tick queue on moto, and runs the simulator that
# create-session and account-gate call as Ralio.
export TABLE_NAME="idv-emulator-$$"
cargo build --locked --quiet -p idv-local
target/debug/idv-local --store dynamodb --addr 127.0.0.1:0 --sim-addr 127.0.0.1:0 \
  > .tmp/lambda-emulator/idv-local.log 2>&1 &
pids+=($!)
sim=""
for _ in $(seq 1 300); do
  sim=$(sed -n 's/^  Ralio sim: *\([^ ]*\).*/\1/p' .tmp/lambda-emulator/idv-local.log)
  [ -n "$sim" ] && break
  sleep 0.1
done
[ -n "$sim" ] || { cat .tmp/lambda-emulator/idv-local.log >&2; exit 1; }

# What the template creates: the two secrets (Secrets Manager) and the event bus.
webhook_secret="whsec_emulator_$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
eval "$(.venv/bin/python scripts/lambda_emulator_setup.py "$webhook_secret" local-api-code local-api-key)"
QUEUE_URL=$(.venv/bin/python -c "import boto3; print(boto3.client('sqs').get_queue_url(QueueName='$TABLE_NAME-ticks')['QueueUrl'])")
export QUEUE_URL RALIO_BASE_URL="$sim" RALIO_AUTH_SCHEME=login

# The sample delivery, signed again with this run's secret, as Ralio would sign it.
.venv/bin/python - "$webhook_secret" <<'PY'
import hashlib, hmac, json, sys
event = json.load(open("infra/events/lambda/webhook.json"))
event["headers"]["x-signature"] = hmac.new(sys.argv[1].encode(), event["body"].encode(), hashlib.sha256).hexdigest()
json.dump(event, open(".tmp/lambda-emulator/webhook.json", "w"))
PY

# The functions are built first: the emulator builds a function when it is first invoked, and that
# build would count against the invocation's deadline. They are named by binary, without a package,
# as the emulator's `cargo run --bin` names them: a package selection would resolve other features
# and the emulator would build them again.
cargo build --locked --quiet --bin create-session --bin webhook --bin account-gate \
  --bin expiry-watcher --bin event-publisher
cargo lambda watch --timeout 30 > .tmp/lambda-emulator/watch.log 2>&1 &
pids+=($!)
for _ in $(seq 1 600); do
  grep -q "starting Runtime server\|invoke server" .tmp/lambda-emulator/watch.log 2>/dev/null && break
  sleep 0.5
done
grep -q "starting Runtime server\|invoke server" .tmp/lambda-emulator/watch.log ||
  { cat .tmp/lambda-emulator/watch.log >&2; echo "cargo lambda watch did not start" >&2; exit 1; }

failed=0
check() {
  local function=$1 data=$2 expect=$3
  local answer
  answer=$(cargo lambda invoke "$function" --data-file "$data" 2>&1) || true
  if .venv/bin/python -c "import json,sys; a=json.loads(sys.argv[1]); sys.exit(0 if ($expect) else 1)" "$answer" 2>/dev/null; then
    echo "ok      $function: $(echo "$answer" | head -c 300)"
  else
    echo "FAILED  $function: $(echo "$answer" | head -c 600)"
    failed=1
  fi
}
check create-session infra/events/lambda/create-session.json 'a["statusCode"] == 201'
check webhook .tmp/lambda-emulator/webhook.json 'a["statusCode"] == 200 and json.loads(a["body"])["outcome"] == "applied"'
check account-gate infra/events/lambda/account-gate.json 'a["statusCode"] == 200 and json.loads(a["body"])["kycLevel"] == "REGULAR"'
check expiry-watcher infra/events/lambda/expiry-watcher.json 'a["batchItemFailures"] == []'
check event-publisher infra/events/lambda/event-publisher.json 'a["batchItemFailures"] == []'
exit "$failed"
