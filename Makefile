# The one entry point for building, testing and running the project.
SHELL := /bin/bash

.PHONY: test fmt lint unit

## make test: formatting, lints and every test (starts and stops the emulators it needs).
test:
	./scripts/test.sh

fmt:
	cargo fmt --all

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --locked -- -D warnings
