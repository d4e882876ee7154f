"""FakeCloud: well-formed, deterministic values; the hook; concurrent and repeated runs."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from pulumi.runtime import MockCallArgs, MockResourceArgs

from provisioner.engine.simulated.fakecloud import FakeCloud
from provisioner.engine.simulated.mockrun import run_program
from stacks import program_for
from stacks.spec import OUTPUT_NAMES, TAG_INSTANCE_ID

INSTANCE = "aws:ec2/instance:Instance"


def test_same_seed_same_cloud_different_seed_different_cloud(make_spec):
    spec = make_spec()
    first = run_program(program_for(spec), FakeCloud(seed="stack-a"))
    again = run_program(program_for(spec), FakeCloud(seed="stack-a"))
    other = run_program(program_for(spec), FakeCloud(seed="stack-b"))
    assert first.outputs == again.outputs
    assert first.outputs["cloudInstanceId"] != other.outputs["cloudInstanceId"]


def test_without_a_seed_each_fake_cloud_differs(make_spec):
    spec = make_spec()
    ids = {run_program(program_for(spec), FakeCloud()).outputs["cloudInstanceId"] for _ in range(3)}
    assert len(ids) == 3


def test_aws_values_are_well_formed(make_spec, run):
    result = run(make_spec(region="ap-southeast-2"))
    instance = result.one(INSTANCE)
    assert re.fullmatch(r"i-[0-9a-f]{17}", instance.id)
    assert instance.state["availabilityZone"] == "ap-southeast-2a"
    assert instance.state["instanceState"] == "running"
    assert re.fullmatch(r"vol-[0-9a-f]{17}", instance.state["rootBlockDevice"]["volumeId"])
    # state is the inputs plus what the cloud adds
    assert instance.state["instanceType"] == instance.inputs["instanceType"]
    key = result.one("aws:ec2/keyPair:KeyPair")
    assert key.id == key.inputs["keyName"]
    assert re.fullmatch(r"key-[0-9a-f]{17}", key.state["keyPairId"])


def test_names_are_supplied_where_the_sdk_would_auto_name():
    cloud = FakeCloud(seed="n")
    args = MockResourceArgs(
        typ="aws:ec2/eip:Eip", name="my-eip", inputs={}, provider="", resource_id="", custom=True
    )
    _, state = cloud.new_resource(args)
    assert state["name"] == "my-eip"


def test_hook_runs_before_each_creation_and_its_failure_fails_it(make_spec):
    seen: list[str] = []
    lock = threading.Lock()

    def hook(args):
        with lock:
            seen.append(args.typ)
        if args.typ == INSTANCE:
            raise RuntimeError("InsufficientInstanceCapacity: no g4dn.xlarge in us-east-1a")

    with pytest.raises(RuntimeError, match="InsufficientInstanceCapacity"):
        run_program(program_for(make_spec()), FakeCloud(seed="h", on_resource=hook))
    assert INSTANCE in seen
    assert "aws:ec2/securityGroup:SecurityGroup" in seen


def test_hook_sees_every_resource_of_a_successful_run(make_azure_spec):
    seen: list[str] = []
    result = run_program(
        program_for(make_azure_spec()),
        FakeCloud(seed="h", on_resource=lambda a: seen.append(a.name)),
    )
    assert sorted(seen) == sorted(r.name for r in result.resources)


def test_concurrent_runs_do_not_cross_talk(make_spec, make_azure_spec):
    specs = [
        make_spec(instance_id="inst-c1", region="us-east-1", instance_type="g4dn.xlarge"),
        make_azure_spec(instance_id="inst-c2", region="eastus"),
        make_spec(instance_id="inst-c3", region="eu-west-1", instance_type="g5.2xlarge"),
        make_azure_spec(instance_id="inst-c4", region="westeurope", disk_gb=200),
    ]
    start = threading.Barrier(len(specs))

    def run_at_once(spec):
        start.wait()  # all four programs in flight together
        return run_program(
            program_for(spec), FakeCloud(seed=spec.instance_id), stack=spec.instance_id
        )

    with ThreadPoolExecutor(max_workers=len(specs)) as pool:
        runs = list(pool.map(run_at_once, specs))
    for spec, result in zip(specs, runs, strict=True):
        assert set(result.outputs) == set(OUTPUT_NAMES)
        metadata = result.outputs["metadata"]
        if spec.provider == "AWS":
            instance = result.one(INSTANCE)
            assert instance.inputs["tags"][TAG_INSTANCE_ID] == spec.instance_id
            assert metadata["region"] == spec.region
            assert metadata["instanceType"] == spec.instance_type
            assert result.outputs["cloudInstanceId"] == instance.id
        else:
            assert metadata == {
                "resourceGroup": f"provisioner-{spec.instance_id}",
                "location": spec.region,
                "vmSize": spec.instance_type,
                "spot": False,
            }
            assert result.outputs["cloudInstanceId"].endswith(f"/provisioner-{spec.instance_id}")
        assert all(
            r.inputs.get("tags", {}).get(TAG_INSTANCE_ID, spec.instance_id) == spec.instance_id
            for r in result.resources
        )


def test_one_fake_cloud_shared_by_concurrent_runs(make_spec):
    cloud = FakeCloud(seed="shared")
    specs = [
        make_spec(instance_id=f"inst-s{i}", region=r)
        for i, r in enumerate(["us-east-1", "us-west-2", "eu-central-1", "ap-northeast-1"])
    ]
    with ThreadPoolExecutor(max_workers=4) as pool:
        runs = list(
            pool.map(lambda s: run_program(program_for(s), cloud, stack=s.instance_id), specs)
        )
    for spec, result in zip(specs, runs, strict=True):
        assert result.outputs["metadata"]["availabilityZone"] == f"{spec.region}a"
        assert result.one(INSTANCE).inputs["tags"][TAG_INSTANCE_ID] == spec.instance_id
    assert len({result.outputs["cloudInstanceId"] for result in runs}) == len(specs)
    assert len({result.outputs["publicIp"] for result in runs}) == len(specs)


def test_repeated_runs_in_one_process(make_spec, make_azure_spec):
    for spec in (make_spec(), make_azure_spec(), make_spec()):
        first = run_program(program_for(spec), FakeCloud(seed="r"))
        second = run_program(program_for(spec), FakeCloud(seed="r"))
        assert set(second.outputs) == set(OUTPUT_NAMES)
        assert second.outputs == first.outputs
        assert len(second.resources) == len(first.resources)


def test_unknown_invokes_fail_loudly():
    with pytest.raises(NotImplementedError, match="aws:index/getRegion:getRegion"):
        FakeCloud(seed="x").call(
            MockCallArgs(token="aws:index/getRegion:getRegion", args={}, provider="")
        )


FIRST_USE_IN_THREADS = """
from concurrent.futures import ThreadPoolExecutor
from provisioner.engine.simulated.fakecloud import FakeCloud
from provisioner.engine.simulated.mockrun import run_program
from stacks import program_for
from stacks.spec import InstanceSpec

def run(i):
    spec = InstanceSpec(
        instance_id=f"inst-{i}", provider="AWS" if i % 2 else "AZURE",
        instance_type="t", region="r", disk_gb=30, expires_at="2025-01-01T00:00:00Z",
        hard_deadline="2025-01-01T01:00:00Z", user_id="u", ssh_public_key="ssh-ed25519 AAAA",
    )
    return run_program(program_for(spec), FakeCloud(seed=str(i)), stack=spec.instance_id)

with ThreadPoolExecutor(8) as pool:
    assert all(r.outputs["publicIp"] for r in pool.map(run, range(8)))
"""


def test_first_use_of_the_sdks_from_many_threads_at_once():
    """The SDKs' lazily loaded submodules must be loaded before programs race to use them."""
    root = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "-c", FIRST_USE_IN_THREADS], cwd=root, check=True)
