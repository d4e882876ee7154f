#!/usr/bin/env bash
# Regenerates the README's dashboard pictures (docs/screenshots/*.png): runs the browser test that
# seeds a week of simulated history and photographs each page, writing into docs/screenshots.
# Needs Debian's chromium (/usr/bin/chromium) and the dev extra (playwright).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p docs/screenshots
PROVISIONER_SCREENSHOTS="$PWD/docs/screenshots" .venv/bin/python -m pytest \
  tests/web/test_screenshots.py -k sqlite -q -p no:cacheprovider "$@"
ls -l docs/screenshots
