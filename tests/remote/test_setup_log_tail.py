"""A setup script's log comes back as a bounded tail (#26): 300 MB of setup output used to be read
whole into the server's memory (264 MB -> 1.11 GB) and written whole to setup.log."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from remote.conftest import needs_sshd

from provisioner.ops.remote_access import SETUP_LOG_TAIL_BYTES
from provisioner.remote import runlog

MB = 1024 * 1024

# Provisions in a fresh process and reports its peak RSS before and after the second up, so the
# growth is that up's alone (the test process's own peak says nothing).
CHILD = r"""
import json, sys
from pathlib import Path
from provisioner.config import Settings
from provisioner.ops.service import Provisioner
from provisioner.rules.validation import ProvisionRequest

def peak():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024

def up(script):
    return service.provision(ProvisionRequest(
        provider="AWS", instance_type="g4dn.xlarge", region="us-east-1", disk_size_gb=50,
        auto_terminate_minutes=30, user_id="user-123", task_id=None, purpose=None,
        allowed_ssh_cidrs=("127.0.0.1/32",), setup_script=script,
    ))

service = Provisioner(Settings(home=Path(sys.argv[1]), engine="simulated"))
# A first up with a small script loads what any up loads (Pulumi, the programs): not measured.
service.terminate(up("echo warm-up\n").id)
before = peak()
instance = up("head -c 314572800 /dev/zero | tr '\\0' x; echo; echo the-last-line\n")
after = peak()
service.terminate(instance.id)
print(json.dumps({"id": instance.id, "status": instance.status, "growth": after - before}))
"""


@needs_sshd
def test_300_mb_of_setup_output_keeps_memory_flat_and_the_log_bounded(home: Path):
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(home)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    log = runlog.setup_log_path(home, result["id"])
    text = log.read_text()

    assert result["status"] == "READY"
    assert result["growth"] < 20 * MB, f"peak RSS grew {result['growth'] / MB:.1f} MB"
    assert log.stat().st_size <= SETUP_LOG_TAIL_BYTES + 200
    assert text.splitlines()[-1] == "the-last-line"
    assert text.startswith("[setup log: the first ")
    print(f"peak RSS growth {result['growth'] / MB:.1f} MB; setup.log {log.stat().st_size} bytes")
