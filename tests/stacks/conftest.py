"""Factories for the stacks tests: specs with sensible defaults, and a runner under FakeCloud."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from provisioner.engine.simulated.fakecloud import FakeCloud
from provisioner.engine.simulated.mockrun import MockRun, run_program
from stacks import program_for
from stacks.spec import InstanceSpec

SSH_KEY = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMEMgR02k50mUgkreZfTH914oRZuMYV56LlztoBjLF7L "
    "tester@example"
)
NASTY = "$(rm -rf /)"

_DEFAULTS: dict[str, Any] = {
    "instance_id": "inst-0001",
    "provider": "AWS",
    "instance_type": "g4dn.xlarge",
    "region": "us-east-1",
    "disk_gb": 50,
    "expires_at": "2025-06-01T12:30:00Z",
    "hard_deadline": "2025-06-01T15:45:00Z",
    "user_id": "user-1",
    "task_id": "task-1",
    "ssh_public_key": SSH_KEY,
    "tags": {"team": "vision", "purpose": NASTY},
}

AZURE_DEFAULTS: dict[str, Any] = {
    "provider": "AZURE",
    "instance_type": "Standard_NC4as_T4_v3",
    "region": "eastus",
}

GCP_DEFAULTS: dict[str, Any] = {
    "provider": "GCP",
    "instance_type": "g2-standard-4",
    "region": "us-central1",
    "project": "tests-project",
}


def build_spec(**overrides: Any) -> InstanceSpec:
    fields = {**_DEFAULTS, **overrides}
    fields["allowed_ssh_cidrs"] = tuple(fields.get("allowed_ssh_cidrs", ()))
    return InstanceSpec(**fields)


@pytest.fixture
def make_spec() -> Callable[..., InstanceSpec]:
    """`make_spec(**overrides)`: an AWS g4dn.xlarge spec in us-east-1 unless overridden."""
    return build_spec


@pytest.fixture
def make_azure_spec() -> Callable[..., InstanceSpec]:
    return lambda **overrides: build_spec(**{**AZURE_DEFAULTS, **overrides})


@pytest.fixture
def make_gcp_spec() -> Callable[..., InstanceSpec]:
    return lambda **overrides: build_spec(**{**GCP_DEFAULTS, **overrides})


def run_spec(spec: InstanceSpec, seed: str | None = None) -> MockRun:
    return run_program(program_for(spec), FakeCloud(seed=seed or spec.instance_id))


@pytest.fixture
def run() -> Callable[[InstanceSpec], MockRun]:
    return run_spec
