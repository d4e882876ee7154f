#!/usr/bin/env bash
# Every benchmark, one after another (figures only; see bench/README.md). PostgreSQL figures need
# PROVISIONER_TEST_POSTGRES_URL (as `.ci/run` sets it). Extra args go to ledger_scale.py.
set -euo pipefail
cd "$(dirname "$0")/.."
py=.venv/bin/python
echo "== machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $($py -V), $(uname -sr)"
echo "== startup";            $py bench/startup.py
echo "== simulated up/down";  $py bench/simulated_updown.py --runs 10
echo "== concurrent ups";     $py bench/concurrent_updown.py
echo "== API under 16 provisions"; $py bench/api_latency.py --requests 200
echo "== ledger scale";       $py bench/ledger_scale.py "$@"
