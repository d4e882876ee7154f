"""Start-up cost of the CLI against a bare interpreter (`python -c pass`). Prints figures.

Usage: .venv/bin/python bench/startup.py [--runs N]
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


def median_seconds(command: list[str], runs: int, env: dict[str, str]) -> float:
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True, env=env)
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "PROVISIONER_HOME": home, "PROVISIONER_ENGINE": "simulated"}
        provisioner = str(VENV_BIN / "provisioner")
        subprocess.run([provisioner, "list"], check=True, capture_output=True, env=env)  # migrate
        bare = median_seconds([sys.executable, "-c", "pass"], args.runs, env)
        rows = [
            ("python -c pass", bare),
            ("provisioner --help", median_seconds([provisioner, "--help"], args.runs, env)),
            ("provisioner list", median_seconds([provisioner, "list"], args.runs, env)),
        ]
    print(f"{'command':<22}{'median ms':>12}{'x bare':>10}")
    for name, seconds in rows:
        print(f"{name:<22}{seconds * 1000:>12.1f}{seconds / bare:>10.1f}")


if __name__ == "__main__":
    main()
