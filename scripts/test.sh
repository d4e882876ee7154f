#!/usr/bin/env bash
# The test suite: lint (ruff), types (mypy), then pytest. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
.venv/bin/ruff check provisioner stacks tests bench
.venv/bin/ruff format --check --quiet provisioner stacks tests bench
.venv/bin/mypy
.venv/bin/python -m pytest "$@"
