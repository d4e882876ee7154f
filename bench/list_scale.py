"""`provisioner list` over big ledgers: the real command in a subprocess (start-up included), on
SQLite, for the default page, `--json` and `--all --json`. Prints wall time and the child's peak
memory; asserts nothing.

Rows are bulk-loaded as bench/ledger_scale.py does (90% ended, 10% live, 100 users).

Usage: .venv/bin/python bench/list_scale.py [--sizes 1000,10000,100000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from ledger_scale import load

from provisioner.ledger.ledger import Ledger

VARIANTS = (("list", []), ("list --json", ["--json"]), ("list --all --json", ["--all", "--json"]))


def run(home: Path, url: str, args: list[str]) -> tuple[float, int, int]:
    """(seconds, output bytes, peak RSS KiB) of one `provisioner list` run."""
    env = {**os.environ, "PROVISIONER_HOME": str(home), "PROVISIONER_DATABASE_URL": url}
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "provisioner.cli.main", "list", *args],
        env=env,
        capture_output=True,
        check=True,
    )
    took = time.perf_counter() - started
    return took, len(done.stdout), resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--repeats", type=int, default=3, help="best of N runs")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        for n in (int(s) for s in args.sizes.split(",")):
            url = f"sqlite:///{home / f'list-{n}.db'}"
            ledger = Ledger(url)
            took = load(ledger, n, active=False, now=datetime.now(UTC))
            ledger.dispose()
            print(f"sqlite {n:>9,} rows (loaded in {took:.1f} s)")
            for name, extra in VARIANTS:
                best = min((run(home, url, extra) for _ in range(args.repeats)), key=lambda r: r[0])
                print(
                    f"  {name:<20} {best[0]:6.2f} s  {best[1] / 1024:10,.0f} KiB out  "
                    f"peak RSS (any child so far) {best[2] / 1024:6.0f} MiB"
                )


if __name__ == "__main__":
    main()
