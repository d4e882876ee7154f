#!/usr/bin/env bash
# Creates .venv with provisioner, its dev tools and the optional cloud SDKs (gcp); re-installs only when pyproject.toml changed.
set -euo pipefail
cd "$(dirname "$0")/.."

find_python() {
  for candidate in python3.13 python3.12 python3.11 python3 python; do
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      echo "$candidate"; return 0
    fi
  done
  echo "provisioner needs Python 3.11 or newer on PATH" >&2
  return 1
}

if [ ! -x .venv/bin/python ]; then
  python=$(find_python)
  if ! "$python" -m venv .venv 2>/dev/null; then
    # Debian/Ubuntu without python3-venv: fall back to virtualenv from PyPI.
    rm -rf .venv
    "$python" -m pip install --quiet --user virtualenv
    "$python" -m virtualenv --quiet .venv
  fi
fi

stamp=.venv/.provisioner-installed
want=$(cat pyproject.toml | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "installing provisioner and its dependencies into .venv (first run takes a minute)..." >&2
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[dev,all]'
  echo "$want" > "$stamp"
fi
