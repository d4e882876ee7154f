"""Zones that offer the type, and spot, in the real programs under Pulumi's mocks (#12)."""

from __future__ import annotations

import pytest

from provisioner.engine.simulated.fakecloud import FakeCloud
from provisioner.engine.simulated.mockrun import run_program
from stacks import program_for

INSTANCE = "aws:ec2/instance:Instance"
VM = "azure-native:compute:VirtualMachine"
ZONES = {"us-east-1": ["us-east-1a", "us-east-1b", "us-east-1c", "us-east-1d"]}


def run_in(spec, offered=None):
    cloud = FakeCloud(seed=spec.stack_name, zones=ZONES, offered=offered)
    return run_program(program_for(spec), cloud)


def test_aws_launches_only_in_a_zone_that_offers_the_type(make_spec):
    # us-east-1a and 1b do not offer it: the first offering zone in name order is taken.
    def offered(region, itype, zones):
        return [z for z in zones if z not in ("us-east-1a", "us-east-1b")]

    result = run_in(make_spec(instance_type="g5.xlarge"), offered)
    instance = result.one(INSTANCE)
    assert instance.inputs["availabilityZone"] == "us-east-1c"
    subnet = FakeCloud(zones=ZONES).subnet_id("us-east-1", "us-east-1c")
    assert instance.inputs["subnetId"] == subnet
    assert result.outputs["metadata"]["zone"] == "us-east-1c"


def test_aws_asked_zone_is_used(make_spec):
    result = run_in(make_spec(zone="us-east-1d"))
    assert result.one(INSTANCE).inputs["availabilityZone"] == "us-east-1d"


def test_aws_asked_zone_that_does_not_offer_the_type_fails_with_awss_wording(make_spec):
    def offered(region, itype, zones):
        return ["us-east-1a"]

    with pytest.raises(Exception, match=r"Unsupported: Your requested instance type \(g4dn"):
        run_in(make_spec(zone="us-east-1d"), offered)


def test_aws_spot_is_a_one_time_request_that_terminates(make_spec):
    result = run_in(make_spec(spot=True, spot_max_price=0.3))
    market = result.one(INSTANCE).inputs["instanceMarketOptions"]
    assert market["marketType"] == "spot"
    assert market["spotOptions"] == {
        "spotInstanceType": "one-time",
        "instanceInterruptionBehavior": "terminate",
        "maxPrice": "0.3000",
    }
    assert result.outputs["metadata"]["spot"] is True


def test_aws_on_demand_has_no_market_options(make_spec):
    assert "instanceMarketOptions" not in run_in(make_spec()).one(INSTANCE).inputs


def test_azure_spot_priority_delete_on_eviction_and_max_price_minus_one(make_azure_spec):
    result = run_in(make_azure_spec(spot=True, zone="2"))
    vm = result.one(VM).inputs
    assert vm["priority"] == "Spot"
    assert vm["evictionPolicy"] == "Delete"
    assert vm["billingProfile"] == {"maxPrice": -1}
    assert vm["zones"] == ["2"]
    assert result.outputs["metadata"]["zone"] == "2"


def test_azure_on_demand_is_regional_and_regular(make_azure_spec):
    vm = run_in(make_azure_spec()).one(VM).inputs
    assert "priority" not in vm and "zones" not in vm and "billingProfile" not in vm


def test_each_attempt_has_its_own_stack_name(make_spec):
    assert make_spec(instance_id="inst-1").stack_name == "inst-1"
    assert make_spec(instance_id="inst-1", attempt=3).stack_name == "inst-1-a3"
