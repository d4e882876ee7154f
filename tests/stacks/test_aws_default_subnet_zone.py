"""#25: the zone is chosen only among zones that offer the type *and* have a default subnet. A
default VPC whose first zone has no default subnet (deleted, or a zone added later) made every up
there fail with a misleading "no default VPC"."""

from __future__ import annotations

from typing import Any

import pytest
from pulumi.runtime import MockCallArgs

from provisioner.engine.simulated.fakecloud import FakeCloud
from provisioner.engine.simulated.mockrun import run_program
from stacks import program_for

INSTANCE = "aws:ec2/instance:Instance"


class WithoutDefaultSubnets(FakeCloud):
    """An account whose default VPC has no default subnet in `missing`."""

    def __init__(self, missing: set[str]):
        super().__init__(seed="subnets")
        self.missing = missing

    def call(self, args: MockCallArgs) -> dict[str, Any]:  # type: ignore[override]
        answer = super().call(args)
        if args.token == "aws:ec2/getSubnets:getSubnets":
            gone = {self.subnet_id("us-east-1", zone) for zone in self.missing}
            answer = {**answer, "ids": [i for i in answer["ids"] if i not in gone]}
        return answer


def test_a_zone_without_a_default_subnet_is_passed_over(make_spec):
    cloud = WithoutDefaultSubnets({"us-east-1a"})
    result = run_program(program_for(make_spec(instance_type="g5.xlarge")), cloud)
    instance = result.one(INSTANCE).inputs
    assert instance["availabilityZone"] == "us-east-1b"
    assert instance["subnetId"] == cloud.subnet_id("us-east-1", "us-east-1b")
    assert result.outputs["metadata"]["availabilityZone"] == "us-east-1b"


def test_no_default_subnet_anywhere_names_the_zones_and_the_fix(make_spec):
    cloud = WithoutDefaultSubnets({"us-east-1a", "us-east-1b", "us-east-1c", "us-east-1d"})
    with pytest.raises(Exception) as err:
        run_program(program_for(make_spec(instance_type="g5.xlarge")), cloud)
    text = str(err.value)
    assert "no default subnet in us-east-1a, us-east-1b" in text
    assert "PROVISIONER_AWS_SUBNET_ID=us-east-1=subnet-" in text


def test_an_asked_zone_without_a_default_subnet_is_not_swapped_for_another(make_spec):
    cloud = WithoutDefaultSubnets({"us-east-1b"})
    with pytest.raises(Exception) as err:
        run_program(program_for(make_spec(instance_type="g5.xlarge", zone="us-east-1b")), cloud)
    assert "no default subnet in us-east-1b " in str(err.value)
