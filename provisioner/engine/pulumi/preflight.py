"""Asking the clouds what they will refuse, for `doctor` and before an `up` (judged in
`preflight.py`).

- AWS: through Pulumi itself, no second toolchain: the invoke-only program `stacks.probes` runs
  as a *preview* of a per-region probe stack (`preflight-aws-<region>`, which never holds a
  resource), with the same CLI, plugin, credentials chain and workspace as every up. The program
  runs in this process, so the invokes' answers come back through a plain dict.
- Azure: azure-native 3.29 has no invoke for resource-provider registration or compute usages,
  so these two reads go to the ARM REST API (httpx, already a dependency) with a token from
  `azure_credential()`: the provider's `ARM_*` service principal or managed identity first, then
  azure-identity's DefaultAzureCredential. azure-identity is
  the optional extra `provisioner[azure]`; without it the Azure lines say CANNOT CHECK and why.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import httpx

from provisioner.engine.base import DoctorCheck
from provisioner.engine.preflight import (
    AZURE_PROVIDERS,
    CANNOT,
    Target,
    aws_checks,
    aws_quota_codes,
    aws_usage_probes,
    azure_checks,
)
from stacks.probes import AwsProbe

ARM_URL = "https://management.azure.com"
ARM_SCOPE = "https://management.azure.com/.default"
PROVIDERS_API = "2021-04-01"
USAGES_API = "2024-07-01"

ProbeRunner = Callable[[AwsProbe], None]  # fills probe.results (or raises)
TokenSource = Callable[[], str]


def probe_stack_name(provider: str, region: str) -> str:
    return f"preflight-{provider.lower()}-{region}"


def run_aws(target: Target, runner: ProbeRunner, *, cheap: bool) -> list[DoctorCheck]:
    probe = AwsProbe(
        region=target.region,
        quota_codes=aws_quota_codes(target, cheap=cheap),
        usage=aws_usage_probes(target, cheap=cheap),
        subnet_id=target.subnet_id,
        network=not cheap,
        identity=not cheap,
    )
    if cheap and not probe.quota_codes:
        return []
    try:
        runner(probe)
    except Exception as exc:  # the CLI, plugin or backend: every line says it could not ask
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return [
            DoctorCheck(f"aws {target.region}", True, f"could not ask AWS: {reason}", state=CANNOT)
        ]
    return aws_checks(target, probe.results, cheap=cheap)


def tagged_instances(
    region: str, instance_id: str, runner: ProbeRunner, *, attempt: int = 1
) -> list[str]:
    """EC2 instances (not terminated) tagged provisioner:instance-id=`instance_id` (and, from
    the second attempt on, provisioner:attempt=`attempt`)."""
    probe = AwsProbe(
        region=region, network=False, identity=False, instance_id=instance_id, attempt=attempt
    )
    runner(probe)
    found = probe.results.get("taggedInstances")
    if isinstance(found, dict):
        raise RuntimeError(f"cannot list instances tagged {instance_id}: {found['error']}")
    return list(found or [])


# -- Azure -------------------------------------------------------------------------------------


def azure_subscription() -> str | None:
    return os.environ.get("ARM_SUBSCRIPTION_ID") or os.environ.get("AZURE_SUBSCRIPTION_ID")


def azure_credential() -> Any:
    """The credential the azure-native provider would use (#25): a service principal from
    `ARM_TENANT_ID`/`ARM_CLIENT_ID`/`ARM_CLIENT_SECRET`, a managed identity with `ARM_USE_MSI`,
    else azure-identity's DefaultAzureCredential (`AZURE_*` variables, `az login`, ...), which
    alone ignores the `ARM_*` names."""
    try:
        from azure.identity import (
            ClientSecretCredential,
            DefaultAzureCredential,
            ManagedIdentityCredential,
        )
    except ImportError as exc:
        raise LookupError(
            "azure-identity is not installed: pip install 'provisioner[azure]' to let doctor "
            "and up read provider registrations and quotas"
        ) from exc
    tenant, client, secret = (
        os.environ.get(f"ARM_{name}") for name in ("TENANT_ID", "CLIENT_ID", "CLIENT_SECRET")
    )
    if tenant and client and secret:
        return ClientSecretCredential(tenant, client, secret)
    if os.environ.get("ARM_USE_MSI", "").lower() == "true":
        return (
            ManagedIdentityCredential(client_id=client) if client else ManagedIdentityCredential()
        )
    return DefaultAzureCredential()


def default_token() -> str:
    """A management-plane token from `azure_credential()`."""
    return str(azure_credential().get_token(ARM_SCOPE).token)


def one_line(exc: BaseException) -> str:
    """azure-identity's failures are multi-line dumps (one paragraph per credential tried)."""
    text = str(exc).strip()
    return text.splitlines()[0].strip() if text else type(exc).__name__


def run_azure(
    target: Target,
    *,
    cheap: bool,
    token: TokenSource = default_token,
    base_url: str = ARM_URL,
    subscription: str | None = None,
    transport: httpx.BaseTransport | None = None,
) -> list[DoctorCheck]:
    subscription = subscription or azure_subscription()
    if not subscription:
        return [
            DoctorCheck(
                "azure preconditions",
                True,
                "no subscription to ask about: set AZURE_SUBSCRIPTION_ID (or ARM_SUBSCRIPTION_ID)",
                state=CANNOT,
            )
        ]
    try:
        bearer = token()
    except Exception as exc:  # no credential, or no azure-identity
        return [
            DoctorCheck(
                "azure preconditions", True, f"cannot ask Azure: {one_line(exc)}", state=CANNOT
            )
        ]
    root = f"{base_url.rstrip('/')}/subscriptions/{subscription}/providers"
    headers = {"Authorization": f"Bearer {bearer}"}
    with httpx.Client(headers=headers, timeout=20, transport=transport) as client:
        providers = {ns: _get(client, f"{root}/{ns}", PROVIDERS_API) for ns in AZURE_PROVIDERS}
        usages = None
        if target.instance_type or not cheap:
            usages = _get(
                client, f"{root}/Microsoft.Compute/locations/{target.region}/usages", USAGES_API
            )
    return azure_checks(target, providers, usages, cheap=cheap)


def _get(client: httpx.Client, url: str, api_version: str) -> dict[str, Any]:
    try:
        response = client.get(url, params={"api-version": api_version})
    except httpx.HTTPError as exc:
        return {"error": f"ConnectError: {exc}"}
    try:
        body = response.json()
    except ValueError:
        body = {}
    if response.status_code >= 400:
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict):
            return {"error": f"{error.get('code')}: {error.get('message')}"}
        return {"error": f"HTTP {response.status_code}"}
    return body if isinstance(body, dict) else {}
