"""Warm pool vs cold start (#22), on the simulated engine over real SSH: submit -> RUNNING on a
warm pool VM, against a cold `up` + run of the same command. Simulated: the figures measure this
project's own overhead (ledger, Pulumi mocks, sshd, SSH round trips), not a cloud's boot time
(1.5-7 min on a real cloud, which the warm pool skips)."""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

from provisioner.config import Settings
from provisioner.engine.simulated import sshd as sim_sshd
from provisioner.ledger import jobs as job_rows
from provisioner.ops.pools_service import create_pool, submit
from provisioner.ops.scheduler import Scheduler
from provisioner.ops.service import Provisioner
from provisioner.rules.validation import ProvisionRequest

ROUNDS = 5


def request() -> ProvisionRequest:
    return ProvisionRequest(
        provider="AWS",
        instance_type="g4dn.xlarge",
        user_id="bench",
        region="us-east-1",
        auto_terminate_minutes=60,
        allowed_ssh_cidrs=("127.0.0.1/32",),
    )


def main() -> int:
    if sim_sshd.sshd_binary() is None:
        print("needs sshd (simulated VMs' SSH endpoints)")
        return 77
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        service = Provisioner(Settings(home=home, engine="simulated"))
        try:
            cold = []
            for _ in range(ROUNDS):
                start = time.perf_counter()
                instance = service.provision(request())
                service.run_command(instance.id, "true")
                cold.append(time.perf_counter() - start)
                service.terminate(instance.id)
            create_pool(service, "warm", request(), minimum=1, maximum=1)
            scheduler = Scheduler(service)
            scheduler.sweep()
            warm = []
            for _ in range(ROUNDS):
                start = time.perf_counter()
                job = submit(service, "warm", ["true"], user_id="bench")
                scheduler.sweep()
                assert job_rows.get_job(service.ledger, job.id).status in ("RUNNING", "SUCCEEDED")
                warm.append(time.perf_counter() - start)
                time.sleep(0.2)
                scheduler.sweep()  # finish and scrub
            print(
                f"cold up + run (simulated): median {statistics.median(cold):.2f} s over {ROUNDS}"
            )
            print(
                f"warm submit -> RUNNING (one sweep): median {statistics.median(warm):.2f} s "
                f"over {ROUNDS}"
            )
        finally:
            for folder in sim_sshd.existing(home):
                sim_sshd.stop(folder)
            service.ledger.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
