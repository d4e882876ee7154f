"""`doctor`'s GCP checks: credentials (ADC), the project, the Compute Engine API, GPU quota.

With credentials, two read-only Compute Engine calls: `projects.get` (fails when the API is not
enabled; its quotas hold GPUS_ALL_REGIONS, the project-wide GPU limit, which is 0 on new
projects) and `regions.get` for the default region (its quotas hold the per-model GPU limits,
NVIDIA_L4_GPUS, NVIDIA_T4_GPUS, ..., and their PREEMPTIBLE_ spot counterparts). A VM needs both
quotas above its GPU count. Nothing but names, numbers and HTTP statuses is reported.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from provisioner.engine.base import DoctorCheck
from provisioner.engine.pulumi.gcp_auth import (
    GcpAuthError,
    access_token,
    adc_sources,
    resolve_project,
)

COMPUTE_API = "https://compute.googleapis.com/compute/v1"
DEFAULT_REGION = "us-central1"
GLOBAL_GPU_QUOTA = "GPUS_ALL_REGIONS"


def _gpu_quotas(quotas: list[dict[str, Any]]) -> dict[str, tuple[float, float]]:
    """{metric: (usage, limit)} of the GPU quotas (NVIDIA_L4_GPUS, GPUS_ALL_REGIONS, ...)."""
    return {
        str(q.get("metric")): (float(q.get("usage", 0)), float(q.get("limit", 0)))
        for q in quotas
        if "GPUS" in str(q.get("metric", "")).split("_")
    }


def _api_problem(response: httpx.Response, project: str) -> str:
    try:
        error = response.json().get("error", {})
    except ValueError:
        error = {}
    text = str(error)
    if "SERVICE_DISABLED" in text or "accessNotConfigured" in text:
        return (
            f"the Compute Engine API is not enabled in {project}: "
            f"gcloud services enable compute.googleapis.com --project {project}"
        )
    reason = error.get("status") or response.reason_phrase
    return f"Compute Engine answered {response.status_code} {reason} for project {project}"


def gcp_checks(
    configured_project: str | None,
    *,
    region: str = DEFAULT_REGION,
    token: Callable[[], str] = access_token,
    project_of: Callable[[str | None], str | None] = resolve_project,
    client: httpx.Client | None = None,
) -> list[DoctorCheck]:
    sources = adc_sources()
    try:
        bearer = token()
    except GcpAuthError as exc:
        return [DoctorCheck("gcp credentials", False, str(exc))]
    found = ", ".join(sources) or "ADC (metadata server or gcloud)"
    checks = [DoctorCheck("gcp credentials", True, f"Application Default Credentials: {found}")]
    project = project_of(configured_project)
    if not project:
        checks.append(
            DoctorCheck(
                "gcp project",
                False,
                "unknown: set PROVISIONER_GCP_PROJECT (or `gcloud config set project`)",
            )
        )
        return checks
    origin = "PROVISIONER_GCP_PROJECT" if configured_project else "from ADC"
    checks.append(DoctorCheck("gcp project", True, f"{project} ({origin})"))
    http = client or httpx.Client(timeout=20.0)
    headers = {"Authorization": f"Bearer {bearer}"}
    try:
        answer = http.get(f"{COMPUTE_API}/projects/{project}", headers=headers)
        if answer.status_code != 200:
            checks.append(DoctorCheck("gcp compute api", False, _api_problem(answer, project)))
            return checks
        checks.append(DoctorCheck("gcp compute api", True, f"enabled in {project}"))
        usage, limit = _gpu_quotas(answer.json().get("quotas", [])).get(
            GLOBAL_GPU_QUOTA, (0.0, 0.0)
        )
        regional = http.get(f"{COMPUTE_API}/projects/{project}/regions/{region}", headers=headers)
    except httpx.HTTPError as exc:
        checks.append(DoctorCheck("gcp compute api", False, f"unreachable ({type(exc).__name__})"))
        return checks
    finally:
        if client is None:
            http.close()
    checks.append(
        DoctorCheck(
            "gcp gpu quota",
            limit > usage,
            f"{GLOBAL_GPU_QUOTA} {usage:g}/{limit:g} used"
            + ("" if limit > usage else ": request an increase (IAM & Admin > Quotas)"),
        )
    )
    if regional.status_code == 200:
        per_model = _gpu_quotas(regional.json().get("quotas", []))
        listed = ", ".join(
            f"{metric} {used:g}/{cap:g}" for metric, (used, cap) in sorted(per_model.items())
        )
        checks.append(
            DoctorCheck(
                f"gcp gpu quota {region}",
                any(cap > used for used, cap in per_model.values()),
                listed or "no GPU quotas in this region",
            )
        )
    else:
        checks.append(
            DoctorCheck(f"gcp gpu quota {region}", False, _api_problem(regional, project))
        )
    return checks
