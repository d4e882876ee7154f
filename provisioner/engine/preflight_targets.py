"""From settings and the catalog to preflight targets, and the check that every process sharing a
backend can open every stack (#13). No cloud SDK here: this runs before any engine is built."""

from __future__ import annotations

import os
from urllib.parse import urlparse

from provisioner.config import Settings
from provisioner.engine.base import DoctorCheck
from provisioner.engine.preflight import Target
from provisioner.rules.catalog import load_catalog
from provisioner.rules.validation import DEFAULT_REGIONS

PASSPHRASE_VARS = ("PULUMI_CONFIG_PASSPHRASE", "PULUMI_CONFIG_PASSPHRASE_FILE")
KMS_SCHEMES = ("awskms", "azurekeyvault", "gcpkms", "hashivault")


def preflight_target(
    settings: Settings,
    provider: str,
    region: str | None = None,
    instance_type: str | None = None,
    *,
    spot: bool = False,
) -> Target:
    provider = provider.upper()
    region = (region or DEFAULT_REGIONS.get(provider, "")).lower()
    vcpus = None
    if instance_type:
        itype = load_catalog(home=settings.home).get(provider, instance_type)
        vcpus = itype.vcpus if itype else None
        instance_type = itype.name if itype else instance_type
    return Target(
        provider=provider,
        region=region,
        instance_type=instance_type,
        vcpus=vcpus,
        spot=spot,
        subnet_id=settings.aws_subnet_for(region) if provider == "AWS" else None,
    )


def shared_backend(url: str) -> bool:
    """A self-managed backend other machines reach (s3://, azblob://, gs://): every replica and
    CLI using it must decrypt every stack."""
    return urlparse(url).scheme in ("s3", "azblob", "gs")


def secrets_problem(settings: Settings, url: str) -> str | None:
    """Why the processes sharing `url` could not all open its stacks, or None."""
    provider = settings.pulumi_secrets_provider
    if urlparse(url).scheme in ("http", "https"):
        return None  # Pulumi Cloud keeps each stack's key
    if provider != "passphrase":
        if urlparse(provider).scheme not in KMS_SCHEMES:
            return (
                f"PROVISIONER_PULUMI_SECRETS_PROVIDER={provider!r} is neither 'passphrase' nor "
                f"a KMS URL ({', '.join(s + '://' for s in KMS_SCHEMES)})"
            )
        return None
    if shared_backend(url) and not any(os.environ.get(var) for var in PASSPHRASE_VARS):
        return (
            f"the backend {url} is shared, but the passphrase would be this machine's own "
            "generated file: give every replica and CLI the same PULUMI_CONFIG_PASSPHRASE_FILE "
            "(or PULUMI_CONFIG_PASSPHRASE), or set PROVISIONER_PULUMI_SECRETS_PROVIDER to a "
            "KMS key (awskms://alias/..., azurekeyvault://...)"
        )
    return None


def shared_secrets_check(settings: Settings, url: str) -> DoctorCheck:
    problem = secrets_problem(settings, url)
    if problem:
        return DoctorCheck("shared secrets", False, problem, fix=problem.split(": ", 1)[-1])
    provider = settings.pulumi_secrets_provider
    where = "the stack's state in the backend (every process reads it from there)"
    return DoctorCheck("shared secrets", True, f"{provider}; salt/key kept in {where}")
