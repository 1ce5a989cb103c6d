#!/usr/bin/env bash
# `make build`: deployable arm64 artifacts for the six functions with `sam build`, which
# drives cargo-lambda (zig as the cross linker). Tools come pinned from PyPI into
# .venv-build; caches stay inside the repository's .tmp.
set -euo pipefail
cd "$(dirname "$0")/.."

requirements=scripts/build-requirements.txt
stamp=.venv-build/.requirements.sha256
want=$(sha256sum "$requirements" | cut -d' ' -f1)
if ! [ -x .venv-build/bin/sam ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "==> installing build tools into .venv-build"
  python3 -m venv .venv-build
  .venv-build/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
  .venv-build/bin/python -m pip install --quiet --disable-pip-version-check -r "$requirements"
  echo "$want" > "$stamp"
fi

export PATH="$PWD/.venv-build/bin:$PATH"
export __SAM_CLI_APP_DIR="$PWD/.tmp/sam-cli"
export XDG_CACHE_HOME="$PWD/.tmp/cache"
export SAM_CLI_TELEMETRY=0
# cargo-lambda adds the aarch64 target itself; zig comes from the ziglang package.
rustup target add aarch64-unknown-linux-gnu >/dev/null 2>&1 || true

start=$(date +%s)
echo "==> cargo lambda build (every function, arm64, once)"
make --no-print-directory lambda-binaries
compiled=$(date +%s)
echo "==> sam build (packages the binaries; its parallel targets only copy)"
# In source: the Makefile's targets copy what the one cargo-lambda build made (no copy of the
# repository, and the target directory stays warm between builds).
sam build --build-in-source --template-file template.yaml
echo "==> built in $(( $(date +%s) - start ))s (cargo $(( compiled - start ))s, sam $(( $(date +%s) - compiled ))s)"
for f in .aws-sam/build/*Function/bootstrap; do
  printf '    %-45s %s\n' "$f" "$(du -h "$f" | cut -f1)"
done
