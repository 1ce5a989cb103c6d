#!/usr/bin/env bash
# Creates .venv and installs the pinned test tools, once. Re-running is cheap: it reinstalls
# only when the requirements file changed.
set -euo pipefail
cd "$(dirname "$0")/.."

requirements=scripts/python-requirements.txt
stamp=.venv/.requirements.sha256
want=$(sha256sum "$requirements" | cut -d' ' -f1)

if [ -x .venv/bin/python ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi

echo "==> installing test tools into .venv"
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r "$requirements"
echo "$want" > "$stamp"
