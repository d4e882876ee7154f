"""Remote access (#11) on the simulated engine over real SSH: the time from `up` to READY with
and without SSH readiness, an `exec` round trip (`true`), and a 10 MB workdir sync by rsync and by
sftp. Prints figures; asserts nothing."""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from factories import make_request

from provisioner.config import Settings
from provisioner.ops.service import Provisioner
from provisioner.remote.sync import sync

ROUNDS = 5


def median_ms(samples: list[float]) -> str:
    return f"{statistics.median(samples) * 1000:.0f} ms"


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        service = Provisioner(Settings(home=home, engine="simulated"))
        service.terminate(service.provision(make_request()).id)  # warm-up: imports, migrations
        plain, ssh_ready, execs = [], [], []
        for _ in range(ROUNDS):
            start = time.perf_counter()
            instance = service.provision(make_request())
            plain.append(time.perf_counter() - start)
            service.terminate(instance.id)
            start = time.perf_counter()
            instance = service.provision(make_request(allowed_ssh_cidrs=("127.0.0.1/32",)))
            ssh_ready.append(time.perf_counter() - start)
            start = time.perf_counter()
            service.run_command(instance.id, "true")
            execs.append(time.perf_counter() - start)
            service.terminate(instance.id)
        print(f"up to READY, no SSH allowed (cloud signal): median {median_ms(plain)}")
        print(f"up to READY over SSH (host key + cloud-init): median {median_ms(ssh_ready)}")
        print(f"exec `true` (RUNNING -> READY, ssh, saved log): median {median_ms(execs)}")
        job = Path(tmp) / "job"
        job.mkdir()
        for n in range(10):
            (job / f"part{n}.bin").write_bytes(os.urandom(1024 * 1024))
        instance = service.provision(make_request(allowed_ssh_cidrs=("127.0.0.1/32",)))
        target = service.ssh_target(service.ledger.require(instance.id))
        for method in ("rsync", "sftp"):
            start = time.perf_counter()
            sync(target, job, method=method)
            print(f"sync 10 MB ({method}): {(time.perf_counter() - start) * 1000:.0f} ms")
        service.terminate(instance.id)


if __name__ == "__main__":
    main()
