"""Start-up cost of the CLI's commands against a bare interpreter (`python -c pass`), on a ledger
that is already at the schema head and holds 60 instances (so `list` draws a page and `show` an
instance; 3 of them live), a shell-completion <TAB> (an id, a region), and what each command
imports (`-X importtime`: the five slowest top-level imports, cumulative). Prints figures;
asserts nothing.

The ledger is a SQLite file in a temporary home, or PostgreSQL when PROVISIONER_DATABASE_URL is
set (bench/run_all.sh runs it both ways).

Usage: .venv/bin/python bench/startup.py [--runs N] [--top N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

VENV_BIN = Path(sys.executable).parent
COMMANDS = [
    ["--help"],
    ["list"],
    ["stats"],
    ["show", "inst-000000000000"],
    ["types"],
]
# Shell completion (#27): what one <TAB> costs, as bash runs it (COMP_WORDS, COMP_CWORD).
COMPLETIONS = [
    ("<TAB> show inst-", "provisioner show inst-", 2),
    ("<TAB> up --region us-", "provisioner up --provider aws --region us-", 5),
]


def median_seconds(command: list[str], runs: int, env: dict[str, str]) -> float:
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, check=False, capture_output=True, env=env)
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def top_imports(args: list[str], env: dict[str, str], top: int) -> list[tuple[str, float]]:
    """The `top` slowest third-party packages (cumulative microseconds) of one run."""
    code = (
        "import runpy, sys; sys.argv = ['provisioner', *sys.argv[1:]]\n"
        "try: runpy.run_module('provisioner.cli.main', run_name='__main__')\n"
        "except SystemExit: pass"
    )
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code, *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    # Each package's first import, with everything it pulled in (nested packages count in
    # their importer too); our own packages are what is being measured, so they are left out.
    first: dict[str, float] = {}
    for line in out.stderr.splitlines():
        if not line.startswith("import time:") or "imported package" in line:
            continue
        _, cumulative, name = line.removeprefix("import time:").split("|")
        name = name.strip()
        if "." in name or name in ("provisioner", "stacks") or name.startswith("_"):
            continue
        first.setdefault(name, float(cumulative))
    return sorted(first.items(), key=lambda r: -r[1])[:top]


def seed(home: str) -> None:
    """60 ended or live instances, when the ledger has none (a PostgreSQL one may be reused)."""
    from datetime import UTC, datetime, timedelta
    from decimal import Decimal

    import sqlalchemy as sa

    from provisioner.config import Settings
    from provisioner.ledger.ledger import Ledger
    from provisioner.ledger.models import Instance
    from provisioner.ledger.rollups import backfill

    ledger = Ledger(Settings(home=Path(home)).effective_database_url)
    now = datetime.now(UTC)
    rows = []
    for i in range(60):
        created = now - timedelta(hours=60 - i)
        live = i >= 57
        rows.append(
            {
                "id": f"inst-{i:012d}", "user_id": "bench", "provider": "AWS",
                "instance_type": "g4dn.xlarge", "region": "us-east-1",
                "status": "READY" if live else "TERMINATED", "disk_size_gb": 50,
                "auto_terminate_minutes": 60, "cost_per_hour": Decimal("0.526"),
                "storage_price_gb_month": Decimal("0.08"),
                "total_cost": None if live else Decimal("0.5"),
                "compute_cost": None if live else Decimal("0.49"),
                "storage_cost": None if live else Decimal("0.01"),
                "tags": {}, "metadata": {}, "allowed_ssh_cidrs": [], "engine": "simulated",
                "stack_name": f"inst-{i:012d}", "created_at": created,
                "expires_at": created + timedelta(hours=1),
                "hard_deadline": created + timedelta(hours=4), "updated_at": created,
                "terminated_at": None if live else created + timedelta(minutes=50),
                "billed_from": created, "destroy_attempts": 0,
            }
        )  # fmt: skip
    table = Instance.__table__  # type: ignore[attr-defined]
    with ledger.engine.begin() as conn:
        if not conn.execute(sa.select(sa.func.count()).select_from(table)).scalar():
            conn.execute(sa.insert(table), rows)
            backfill(conn, now)
    ledger.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--top", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "PROVISIONER_HOME": home, "PROVISIONER_ENGINE": "simulated"}
        provisioner = str(VENV_BIN / "provisioner")
        subprocess.run([provisioner, "list"], check=True, capture_output=True, env=env)  # migrate
        seed(home)
        bare = median_seconds([sys.executable, "-c", "pass"], args.runs, env)
        rows = [("python -c pass", bare, [])]
        for command in COMMANDS:
            seconds = median_seconds([provisioner, *command], args.runs, env)
            rows.append(("provisioner " + command[0], seconds, top_imports(command, env, args.top)))
        for name, words, cword in COMPLETIONS:
            tab = {**env, "_PROVISIONER_COMPLETE": "complete_bash", "COMP_WORDS": words}
            tab["COMP_CWORD"] = str(cword)
            seconds = median_seconds([provisioner], args.runs, tab)
            rows.append((name, seconds, top_imports([], tab, args.top)))
    database = "PostgreSQL" if os.environ.get("PROVISIONER_DATABASE_URL") else "SQLite"
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"ledger: {database}, at the schema head, 60 instances; median of {args.runs} runs")
    print(f"load average (1, 5, 15 min) at the end: {load}")
    print(f"{'command':<22}{'median ms':>12}{'x bare':>10}")
    for name, seconds, _ in rows:
        print(f"{name:<22}{seconds * 1000:>12.1f}{seconds / bare:>10.1f}")
    print(f"\nslowest packages imported (cumulative ms, -X importtime, one run), top {args.top}:")
    for name, _, imports in rows[1:]:
        listed = ", ".join(f"{module} {us / 1000:.0f}" for module, us in imports)
        print(f"  {name:<20} {listed}")


if __name__ == "__main__":
    main()
