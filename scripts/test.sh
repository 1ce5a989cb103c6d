#!/usr/bin/env bash
# The whole test suite: formatting, lints, template lint, then every test of the workspace
# against a moto server this script installs, starts and always stops, then the OpenAPI check
# of the answers the end-to-end tests recorded, the schema check of the events they saw, and
# schemathesis against idv-local. The short fuzz pass and the short load run are cargo tests.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "==> cargo fmt --check"
cargo fmt --all -- --check

echo "==> cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

scripts/venv.sh
echo "==> cfn-lint template.yaml"
.venv/bin/cfn-lint template.yaml
echo "==> the dashboard in template.yaml is what infra/dashboard.json renders"
.venv/bin/python scripts/dashboard.py --check

echo "==> starting moto (DynamoDB + SQS emulator)"
trap 'scripts/moto.sh stop' EXIT
eval "$(scripts/moto.sh start)"
echo "    moto at $AWS_ENDPOINT_URL"

mkdir -p .tmp
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
iam_check=each_role_allows_exactly_what_its_function_was_seen_to_need

echo "==> cargo test"
cargo test --workspace --locked -- --skip "$iam_check" 2>&1 | tee .tmp/cargo-test.log

echo "==> IAM: each role grants exactly what its function's tests saw it use"
cargo test --workspace --locked -- --exact "$iam_check" 2>&1 | tee .tmp/iam-check.log
cat .tmp/iam-check.log >> .tmp/cargo-test.log
# A renamed check would filter to nothing and pass: it must have run.
grep -q "^test $iam_check ... ok$" .tmp/iam-check.log || { echo "the IAM check did not run" >&2; exit 1; }

echo "==> OpenAPI: infra/openapi.yaml is valid and the local server's answers conform"
.venv/bin/python scripts/check_openapi.py infra/openapi.yaml "$IDV_EXCHANGES"

echo "==> Domain events: every emitted event matches its schema in infra/events/schemas/"
.venv/bin/python scripts/check_events.py infra/events/schemas "$IDV_DOMAIN_EVENTS"

echo "==> schemathesis: generated requests against idv-local, every check and phase"
scripts/schemathesis.sh

# One closing line for the whole run (cargo's own last line is a doc-test binary's).
awk '/^test result:/ { passed += $4; failed += $6; ignored += $8 }
     END { printf "summary: %d passed, %d failed, %d skipped\n", passed, failed, ignored }' .tmp/cargo-test.log
