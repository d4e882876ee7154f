"""#25: idle auto-stop that stops the billing on every cloud. The idle guard's `shutdown -h now`
terminates an AWS instance, but leaves an Azure VM "Stopped (allocated)", billing compute, and
the VM holds no credential to deallocate itself. The sweep learns that the VM's OS powered off
(Engine.liveness: stopped) and destroys it. The simulated engine runs the same programs and
plays the guard: the VM powers off `idle_minutes` after its last use (an ssh, exec or run)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import time_machine
from factories import azure_request, make_request

from provisioner.config import Settings
from provisioner.ops.reaper import Reaper
from provisioner.ops.service import Provisioner

START = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def make_service(home) -> Provisioner:
    return Provisioner(Settings(home=home, engine="simulated"))


def azure(**overrides):
    fields = {"instance_type": "Standard_NC4as_T4_v3", "idle_minutes": 20}
    return azure_request(**{**fields, "auto_terminate_minutes": 120, **overrides})


def held(service: Provisioner, stack: str) -> int:
    engine = service.engine_for("simulated")
    return next(s.resource_count or 0 for s in engine.list_stacks() if s.name == stack)


def test_azure_idle_minutes_lead_to_a_destroy_by_the_sweep(home):
    with time_machine.travel(START, tick=False) as traveller:
        service = make_service(home)
        out = service.provision(azure())
        assert out.status == "READY"
        reaper = Reaper(service)

        traveller.shift(timedelta(minutes=19))
        reaper.sweep()
        assert service.get(out.id).status == "READY", "not idle for 20 minutes yet"

        traveller.shift(timedelta(minutes=2))
        result = reaper.sweep()

        final = service.get(out.id)
        assert final.status == "TERMINATED"
        assert [(a.kind, a.outcome) for a in result.actions] == [("idle", "done")]
        assert "powered the OS off" in result.actions[0].detail
        assert held(service, out.id) == 0, "the stopped but allocated VM is destroyed"
        # Azure billed the stopped VM until the destroy: the ledger says so, not the stop time.
        assert final.terminated_at == START + timedelta(minutes=21)
        assert final.expires_at > final.terminated_at, "long before its TTL"


def test_using_the_vm_keeps_it(home):
    with time_machine.travel(START, tick=False) as traveller:
        service = make_service(home)
        out = service.provision(azure())
        reaper = Reaper(service)
        traveller.shift(timedelta(minutes=15))
        service.engine_for("simulated").ssh_endpoint(out.id)  # `provisioner ssh`
        traveller.shift(timedelta(minutes=15))
        reaper.sweep()
        assert service.get(out.id).status == "READY", "used 15 minutes ago"
        traveller.shift(timedelta(minutes=6))
        reaper.sweep()
        assert service.get(out.id).status == "TERMINATED"


def test_without_idle_minutes_nothing_stops(home):
    with time_machine.travel(START, tick=False) as traveller:
        service = make_service(home)
        out = service.provision(azure(idle_minutes=None))
        traveller.shift(timedelta(minutes=100))
        result = Reaper(service).sweep()
        assert service.get(out.id).status == "READY"
        assert result.actions == []


def test_aws_terminates_itself_and_is_billed_until_then(home):
    """On AWS the OS shutdown terminates the instance (nothing left billing): the sweep finds it
    gone and ends the row at the moment it stopped."""
    with time_machine.travel(START, tick=False) as traveller:
        service = make_service(home)
        out = service.provision(make_request(idle_minutes=20, auto_terminate_minutes=120))
        traveller.shift(timedelta(minutes=25))
        Reaper(service).sweep()
        final = service.get(out.id)
        assert final.status == "TERMINATED"
        assert final.terminated_at == START + timedelta(minutes=20)
