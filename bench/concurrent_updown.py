"""Simulated up/down at 1, 4 and 16 concurrent requests through the service (real SQLite ledger,
0 s sim delay: the figure is our overhead), against the bare program run under mocks at the same
concurrency (the floor). Median latency per up and down, and ups per second. Prints figures.

Usage: .venv/bin/python bench/concurrent_updown.py [--per-thread N] [--levels 1,4,16]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from provisioner.config import Settings
from provisioner.engine.simulated.fakecloud import FakeCloud
from provisioner.engine.simulated.mockrun import run_program
from provisioner.ops.service import Provisioner
from provisioner.rules.validation import ProvisionRequest
from stacks import program_for


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--per-thread", type=int, default=4)
    parser.add_argument("--levels", default="1,4,16")
    args = parser.parse_args()
    request = ProvisionRequest(provider="AWS", instance_type="g4dn.xlarge", user_id="bench")
    with tempfile.TemporaryDirectory() as home:
        service = Provisioner(Settings(home=Path(home), engine="simulated"))
        spec = service._spec(service.ledger.require(service.provision(request).id))  # warm
        for level in (int(x) for x in args.levels.split(",")):
            ups: list[float] = []
            downs: list[float] = []
            floors: list[float] = []

            def one(_: int, ups: list[float] = ups, downs: list[float] = downs) -> None:
                t0 = time.perf_counter()
                instance = service.provision(request)
                t1 = time.perf_counter()
                service.terminate(instance.id)
                ups.append(t1 - t0)
                downs.append(time.perf_counter() - t1)

            def bare(_: int, floors: list[float] = floors) -> None:
                t0 = time.perf_counter()
                run_program(program_for(spec), FakeCloud(seed=spec.instance_id))
                floors.append(time.perf_counter() - t0)

            n = level * args.per_thread
            with ThreadPoolExecutor(level) as pool:
                t0 = time.perf_counter()
                list(pool.map(one, range(n)))
                wall = time.perf_counter() - t0
                t0 = time.perf_counter()
                list(pool.map(bare, range(n)))
                floor_wall = time.perf_counter() - t0
            up, down, floor = (statistics.median(x) * 1000 for x in (ups, downs, floors))
            print(
                f"{level:>2} concurrent: up median {up:7.1f} ms, down {down:6.1f} ms, "
                f"{n / wall:5.1f} up+down/s | bare program {floor:6.1f} ms, "
                f"{n / floor_wall:5.1f}/s | up/floor {up / floor:4.2f}x"
            )


if __name__ == "__main__":
    main()
