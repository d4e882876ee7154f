"""Latency of a simulated up and down through the service (real SQLite ledger), against the bare
program run under mocks (the floor). Prints figures.

Usage: .venv/bin/python bench/simulated_updown.py [--runs N]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from provisioner.config import Settings
from provisioner.engine.simulated.fakecloud import FakeCloud
from provisioner.engine.simulated.mockrun import run_program
from provisioner.ops.service import Provisioner
from provisioner.rules.validation import ProvisionRequest
from stacks import program_for


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        service = Provisioner(Settings(home=Path(home), engine="simulated"))
        for provider, itype in (("AWS", "g4dn.xlarge"), ("AZURE", "Standard_NC4as_T4_v3")):
            request = ProvisionRequest(provider=provider, instance_type=itype, user_id="bench")
            service.terminate(service.provision(request).id)  # warm imports and caches
            ups, downs, floors = [], [], []
            for _ in range(args.runs):
                started = time.perf_counter()
                instance = service.provision(request)
                ups.append(time.perf_counter() - started)
                started = time.perf_counter()
                service.terminate(instance.id)
                downs.append(time.perf_counter() - started)
                spec = service._spec(service.ledger.require(instance.id))
                started = time.perf_counter()
                run_program(program_for(spec), FakeCloud(seed=spec.instance_id))
                floors.append(time.perf_counter() - started)
            up, down, floor = (statistics.median(x) * 1000 for x in (ups, downs, floors))
            print(
                f"{provider:<6} up median {up:7.1f} ms   down median {down:6.1f} ms   "
                f"bare program under mocks {floor:6.1f} ms   up/floor {up / floor:4.2f}x"
            )


if __name__ == "__main__":
    main()
