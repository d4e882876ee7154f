#!/usr/bin/env bash
# Every benchmark in bench/, one after another (figures only; see bench/README.md).
#
# Each bench/*.py (not _*.py) runs on SQLite; with PROVISIONER_BENCH_POSTGRES_URL set (or, as
# `.ci/run` sets it, PROVISIONER_TEST_POSTGRES_URL) it runs again on PostgreSQL, in a fresh schema
# that is dropped after. Markers a script may carry in its source:
#   "# bench: both-databases"   it runs SQLite and PostgreSQL itself (given the URL in
#                               PROVISIONER_TEST_POSTGRES_URL): run once
#   "# bench: no-database"      the ledger is not what it measures: run once
# A script that needs something absent (a package, a binary) prints why and exits 77: reported as
# skipped, the run goes on. Any other failure is reported and the run goes on; the exit status
# says whether any script failed.
# Arguments for one script: BENCH_ARGS_<name>, e.g. BENCH_ARGS_ledger_scale="--sizes 10000,100000";
# BENCH_SKIP="install_size ..." leaves those scripts out.
set -uo pipefail
cd "$(dirname "$0")/.."
py=.venv/bin/python
pg=${PROVISIONER_BENCH_POSTGRES_URL:-${PROVISIONER_TEST_POSTGRES_URL:-}}
echo "== commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- provisioner stacks bench || echo ' (+ uncommitted changes)'), $(date -u +%Y-%m-%dT%H:%MZ)"
echo "== machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $($py -V), $(uname -sr), load $(cut -d' ' -f1-3 /proc/loadavg)"
[ -n "$pg" ] || echo "== PostgreSQL: skipped (set PROVISIONER_BENCH_POSTGRES_URL)"

schema_url() {  # create a fresh schema; print the URL that uses it
  "$py" - "$pg" "$1" <<'EOF'
import sys
from urllib.parse import quote
import sqlalchemy as sa
from provisioner.config import Settings
base = Settings(database_url=sys.argv[1]).effective_database_url
engine = sa.create_engine(base)
with engine.begin() as conn:
    conn.execute(sa.text(f"DROP SCHEMA IF EXISTS {sys.argv[2]} CASCADE"))
    conn.execute(sa.text(f"CREATE SCHEMA {sys.argv[2]}"))
sep = "&" if "?" in base else "?"
print(f"{base}{sep}options={quote('-csearch_path=' + sys.argv[2])}")
EOF
}

drop_schema() {
  "$py" - "$pg" "$1" <<'EOF'
import sys
import sqlalchemy as sa
from provisioner.config import Settings
engine = sa.create_engine(Settings(database_url=sys.argv[1]).effective_database_url)
with engine.begin() as conn:
    conn.execute(sa.text(f"DROP SCHEMA IF EXISTS {sys.argv[2]} CASCADE"))
EOF
}

failed=0
run() {  # run NAME LABEL [ENV=VALUE...] -- ARGS...
  local name=$1 label=$2 started status
  shift 2
  echo
  echo "== $name ($label)"
  started=$(date +%s)
  env "$@"
  status=$?
  if [ $status -eq 77 ]; then
    echo "-- $name ($label): skipped"
  elif [ $status -ne 0 ]; then
    echo "-- $name ($label): FAILED (exit $status)"
    failed=1
  else
    echo "-- $name ($label): $(($(date +%s) - started)) s"
  fi
}

for script in bench/*.py; do
  name=$(basename "$script" .py)
  case $name in _*) continue ;; esac
  case " ${BENCH_SKIP:-} " in *" $name "*) echo; echo "== $name: left out (BENCH_SKIP)"; continue ;; esac
  args_var="BENCH_ARGS_${name}"
  read -r -a args <<< "${!args_var:-}"
  if grep -q '^# bench: both-databases' "$script"; then
    run "$name" "sqlite$([ -n "$pg" ] && echo ' and postgresql')" \
      PROVISIONER_TEST_POSTGRES_URL="$pg" "$py" "$script" "${args[@]}"
    continue
  fi
  run "$name" sqlite -u PROVISIONER_DATABASE_URL "$py" "$script" "${args[@]}"
  if [ -n "$pg" ] && ! grep -q '^# bench: no-database' "$script"; then
    schema="bench_${name}_$$"
    url=$(schema_url "$schema") || { echo "-- $name (postgresql): could not create a schema"; failed=1; continue; }
    run "$name" postgresql PROVISIONER_DATABASE_URL="$url" "$py" "$script" "${args[@]}"
    drop_schema "$schema"
  fi
done
exit $failed
