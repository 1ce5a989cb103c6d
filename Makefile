# The one entry point for building, testing and running the project.
SHELL := /bin/bash

.PHONY: test run build bench fuzz fuzz-api smoke stress-check load deploy fmt lint browser-check fault-check lambda-binaries

## make test: formatting, lints and every test (installs and starts the emulators it needs).
test:
	./scripts/test.sh

## make run: the whole service locally on 127.0.0.1:3000 with the Ralio simulator on :3001.
## Pass options through ARGS, e.g. make run ARGS="--session-life 10m --warn-lead 5m --bucket 30s".
run:
	cargo run --quiet --locked -p idv-local -- $(ARGS)

## make build: deployable arm64 artifacts for the six functions: one cargo-lambda build of
## the one binary they all ship (idv-lambda, which runs the function its Handler names), then
## sam build packages it per function (BuildMethod: makefile, the targets below only copy, so
## sam's parallel builds never start concurrent cargo builds).
build:
	./scripts/build.sh

# Rust flags for the function binary only (never the host's build scripts and proc macros), by
# make build and make bench. Empty: the binary is position-independent (PIE), so its code sits at
# a random address at every start, since it carries the internet-facing webhook. "-C
# relocation-model=static" links it at a fixed address, which make bench measured faster to
# start (docs/development.md, "Start-up and footprint") at the cost of that randomisation.
export RELEASE_RUSTFLAGS ?=

# Target flags replace cargo-lambda's own build.rustflags (target-cpu=neoverse-n1, Graviton2,
# where Lambda's arm64 runs): it is restated here.
lambda-binaries:
	CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUSTFLAGS="$(RELEASE_RUSTFLAGS) -C target-cpu=neoverse-n1" \
	  cargo lambda build --release --arm64 --locked -p idv-lambda --bin idv-lambda $(LAMBDA_BUILD_ARGS)

# sam build calls one target per function (build-<LogicalId>) with ARTIFACTS_DIR set, all at
# once with `parallel = true`. They only copy what `make lambda-binaries` built before sam
# build ran (scripts/build.sh): five concurrent cargo-lambda builds raced to move the same
# binaries, and a deployer's first build failed.
LAMBDA_BINARY := target/lambda/idv-lambda/bootstrap
define copy-binary
	@test -f $(LAMBDA_BINARY) || { echo "$(LAMBDA_BINARY) is missing: run make build, which builds it before sam build" >&2; exit 1; }
	cp $(LAMBDA_BINARY) "$(ARTIFACTS_DIR)/"
endef
build-CreateSessionFunction:
	$(copy-binary)
build-WebhookFunction:
	$(copy-binary)
build-AccountGateFunction:
	$(copy-binary)
build-ExpiryWatcherFunction:
	$(copy-binary)
build-EventPublisherFunction:
	$(copy-binary)
build-ReconcilerFunction:
	$(copy-binary)

## make bench: start-up, first answer, warm latency, memory and size of every function against a
## hello-world lambda_runtime binary, and CPU per webhook delivery; writes BENCHMARKS.md.
bench:
	./scripts/bench.sh

## make smoke: the golden story (session, approval, REGULAR, account, history, events) against
## SMOKE_BASE_URL, or against an idv-local it starts itself. For a deployed dev stage:
## SMOKE_BASE_URL=<ApiUrl> SMOKE_SIGV4=1 SMOKE_WEBHOOK_URL=<WebhookUrl> SMOKE_WEBHOOK_SECRET=<secret>.
smoke:
	./scripts/smoke.sh

## make fuzz: ten million generated webhook deliveries and event sequences through the
## signature check, the parser and the model's apply, in process (FUZZ_EXECS to change it);
## prints cases per second. Crashers are kept in tools/fuzz/regressions/.
FUZZ_EXECS ?= 10000000
fuzz:
	cargo run --release --locked -p idv-fuzz -- --execs $(FUZZ_EXECS)

## make fuzz-api: schemathesis against idv-local with a new random seed (printed), at
## FUZZ_API_EXAMPLES examples per operation (default 4000: over 20,000 cases). Each defect it
## finds becomes a fixed test; `make test` runs the same phases with a fixed seed.
## SCHEMATHESIS_SEED=N replays a run.
FUZZ_API_EXAMPLES ?= 4000
fuzz-api:
	SCHEMATHESIS_SEED=$${SCHEMATHESIS_SEED:-random} SCHEMATHESIS_EXAMPLES=$(FUZZ_API_EXAMPLES) ./scripts/schemathesis.sh

## make stress-check: .ci/run on a fresh clone of HEAD while CPU-bound work keeps both cores
## busy, as on a loaded CI machine (STRESS_RUNS times, default 2).
stress-check:
	./scripts/stress-check.sh

## make load: 20,000 signed deliveries (30% duplicates, each user's reordered, 1,000 users,
## 32 in flight) to idv-local on the memory store and on moto; prints throughput and
## latency, then checks every user against in-order delivery. LOAD_ARGS passes options
## (e.g. LOAD_ARGS="--store memory --deliveries 100000").
load:
	./scripts/load.sh $(LOAD_ARGS)

## make deploy: sam deploy --guided on the built artifacts (needs AWS credentials).
deploy: build
	PATH="$(CURDIR)/.venv-build/bin:$$PATH" SAM_CLI_TELEMETRY=0 sam deploy --guided

## make fault-check: a stand-in Ralio opens the account then fails (502, reset, hang, or fails
## before acting); prints the merchant's answers and the accounts Ralio holds (a few minutes).
fault-check:
	./scripts/fault-check.sh

## make browser-check: headless Chromium clicks Approve on the hosted page (manual check).
browser-check:
	./scripts/browser-check.sh

fmt:
	cargo fmt --all

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --locked -- -D warnings
