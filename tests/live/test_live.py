"""Live tests: real GPU VMs through PulumiEngine, always destroyed.

Opt in with `pytest -m live tests/live`. Each test is skipped unless the `pulumi` CLI is on PATH
and the cloud's credentials exist. They cost money (a few minutes of the cheapest T4 VM) and
need GPU quota in the region.

State and the generated passphrase live in `PROVISIONER_LIVE_HOME` (default
`~/.provisioner-live`), not in a pytest temp dir, so if a destroy ever fails the stack can still be
destroyed by hand: `PULUMI_BACKEND_URL=file://$HOME/.provisioner-live/pulumi-state
PULUMI_CONFIG_PASSPHRASE_FILE=$HOME/.provisioner-live/pulumi-passphrase pulumi destroy -s <id>`
from `$HOME/.provisioner-live/workspaces/<id>`. The VM's own deadman also ends it at the spec's
hard deadline (one hour) whatever happens here.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from provisioner.config import Settings
from provisioner.engine.base import EngineEvent, StackOutputs
from provisioner.engine.pulumi.engine import PulumiEngine
from stacks.spec import InstanceSpec

pytestmark = pytest.mark.live

HAS_PULUMI = shutil.which("pulumi") is not None
HAS_AWS = any(
    os.environ.get(name)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_PROFILE", "AWS_WEB_IDENTITY_TOKEN_FILE")
) or any(Path(p).expanduser().exists() for p in ("~/.aws/credentials", "~/.aws/config"))
HAS_GCP = bool(
    os.environ.get("GOOGLE_APPLICATION_CREDENTIALS")
    or Path("~/.config/gcloud/application_default_credentials.json").expanduser().exists()
) and bool(os.environ.get("PROVISIONER_GCP_PROJECT"))
HAS_AZURE = all(
    os.environ.get(f"ARM_{name}") or os.environ.get(f"AZURE_{name}")
    for name in ("SUBSCRIPTION_ID", "TENANT_ID", "CLIENT_ID", "CLIENT_SECRET")
)


@pytest.fixture
def live_engine() -> PulumiEngine:
    home = Path(os.environ.get("PROVISIONER_LIVE_HOME", "~/.provisioner-live")).expanduser()
    return PulumiEngine(Settings(home=home, provisioning_timeout_minutes=25))


def live_spec(**fields: object) -> InstanceSpec:
    now = datetime.now(UTC)
    stamp = "%Y-%m-%dT%H:%M:%SZ"
    base: dict[str, object] = {
        "instance_id": f"live-{uuid.uuid4().hex[:10]}",
        "expires_at": (now + timedelta(minutes=30)).strftime(stamp),
        "hard_deadline": (now + timedelta(minutes=60)).strftime(stamp),
        "user_id": "live-test",
        "task_id": "pytest-live",
        "tags": {"purpose": "provisioner live test"},
    }
    base.update(fields)
    return InstanceSpec(**base)  # type: ignore[arg-type]


def provision_and_destroy(engine: PulumiEngine, spec: InstanceSpec) -> StackOutputs:
    """Up, check the outputs, and destroy in any case; destroy failures are reported loudly."""
    events: list[EngineEvent] = []
    try:
        outputs = engine.up(spec, message=f"live test {spec.instance_id}", on_event=events.append)
        assert outputs.cloud_instance_id, outputs
        addresses = [ip for ip in (outputs.public_ip, outputs.private_ip) if ip]
        assert addresses, outputs
        for address in addresses:
            ipaddress.ip_address(address)
        assert any(e.kind == "resource" and e.status == "done" for e in events)
        return outputs
    finally:
        try:
            engine.destroy(spec.instance_id, message=f"live test {spec.instance_id} cleanup")
        except Exception as exc:
            raise AssertionError(
                f"DESTROY FAILED for stack {spec.instance_id} ({exc}); it may still be billing: "
                f"destroy it by hand from {engine.settings.home / 'workspaces' / spec.instance_id}"
            ) from exc
        history = engine.history(spec.instance_id) or []
        assert history and history[-1].kind == "destroy" and history[-1].result == "succeeded"


@pytest.mark.skipif(not HAS_PULUMI, reason="the pulumi CLI is not on PATH")
@pytest.mark.skipif(not HAS_AWS, reason="no AWS credentials (AWS_* variables or ~/.aws)")
def test_aws_g4dn_xlarge(live_engine: PulumiEngine) -> None:
    settings = live_engine.settings
    spec = live_spec(
        provider="AWS",
        instance_type="g4dn.xlarge",  # the cheapest T4
        region="us-east-1",
        # The Deep Learning Base AMI's root snapshot is 75 GB; a smaller root volume is refused.
        disk_gb=75,
        image=settings.aws_ami,
        subnet_id=settings.aws_subnet_id,
    )
    outputs = provision_and_destroy(live_engine, spec)
    assert outputs.cloud_instance_id and outputs.cloud_instance_id.startswith("i-")


@pytest.mark.skipif(not HAS_PULUMI, reason="the pulumi CLI is not on PATH")
@pytest.mark.skipif(not HAS_AZURE, reason="no ARM_*/AZURE_* service principal in the environment")
def test_azure_nc4as_t4_v3(live_engine: PulumiEngine) -> None:
    from provisioner.remote.keys import throwaway_public_key

    spec = live_spec(
        provider="AZURE",
        instance_type="Standard_NC4as_T4_v3",
        region="eastus",
        # Above the Ubuntu-HPC image's OS disk size; smaller is refused.
        disk_gb=128,
        ssh_public_key=throwaway_public_key(),
        image=live_engine.settings.azure_image,
    )
    provision_and_destroy(live_engine, spec)


@pytest.mark.skipif(not HAS_PULUMI, reason="the pulumi CLI is not on PATH")
@pytest.mark.skipif(
    not HAS_GCP, reason="no GCP Application Default Credentials and PROVISIONER_GCP_PROJECT"
)
def test_gcp_n1_standard_4_t4(live_engine: PulumiEngine) -> None:
    """The cheapest GCP GPU VM (N1 + T4); needs T4 and GPUS_ALL_REGIONS quota in us-central1."""
    pytest.importorskip("pulumi_gcp", reason="the gcp extra is not installed")
    from provisioner.remote.keys import throwaway_public_key
    from provisioner.rules.catalog import load_catalog

    itype = load_catalog().get("GCP", "n1-standard-4+t4")
    assert itype is not None
    spec = live_spec(
        provider="GCP",
        instance_type=itype.name,
        region="us-central1",
        zones=itype.zones_in("us-central1"),
        project=os.environ["PROVISIONER_GCP_PROJECT"],
        disk_gb=100,  # above the Deep Learning VM image's disk size
        ssh_public_key=throwaway_public_key(),
        image=live_engine.settings.gcp_image,
    )
    outputs = provision_and_destroy(live_engine, spec)
    assert outputs.cloud_instance_id and "/zones/us-central1-" in outputs.cloud_instance_id
    assert outputs.metadata["project"] == os.environ["PROVISIONER_GCP_PROJECT"]
