"""`doctor`'s GCP checks against answers shaped like Compute Engine's (projects.get,
regions.get, the SERVICE_DISABLED error). Only the network is faked (httpx.MockTransport)."""

from __future__ import annotations

import httpx
import pytest

from provisioner.engine.pulumi.gcp_auth import GcpAuthError
from provisioner.engine.pulumi.gcp_doctor import gcp_checks

TOKEN = "ya29.secret-token-value"


def compute(project_quotas: list[dict], region_quotas: list[dict], status: int = 200):
    def answer(request: httpx.Request) -> httpx.Response:
        assert request.headers["Authorization"] == f"Bearer {TOKEN}"
        path = request.url.path
        if status != 200:
            return httpx.Response(
                status,
                json={
                    "error": {
                        "code": status,
                        "message": "Compute Engine API has not been used in project 123 "
                        "before or it is disabled.",
                        "status": "PERMISSION_DENIED",
                        "details": [{"reason": "SERVICE_DISABLED"}],
                    }
                },
            )
        if path == "/compute/v1/projects/my-project":
            return httpx.Response(200, json={"name": "my-project", "quotas": project_quotas})
        if path == "/compute/v1/projects/my-project/regions/us-central1":
            return httpx.Response(200, json={"name": "us-central1", "quotas": region_quotas})
        return httpx.Response(404)

    return httpx.Client(transport=httpx.MockTransport(answer))


def checks(client: httpx.Client, project: str | None = "my-project") -> dict:
    found = gcp_checks(
        project, token=lambda: TOKEN, project_of=lambda configured: configured, client=client
    )
    return {c.name: c for c in found}


def test_project_api_and_gpu_quotas_reported_without_the_token():
    found = checks(
        compute(
            [{"metric": "GPUS_ALL_REGIONS", "limit": 4.0, "usage": 1.0},
             {"metric": "CPUS_ALL_REGIONS", "limit": 32.0, "usage": 4.0}],
            [{"metric": "NVIDIA_L4_GPUS", "limit": 8.0, "usage": 0.0},
             {"metric": "PREEMPTIBLE_NVIDIA_L4_GPUS", "limit": 8.0, "usage": 0.0},
             {"metric": "CPUS", "limit": 24.0, "usage": 0.0}],
        )
    )  # fmt: skip
    assert found["gcp credentials"].ok
    assert found["gcp project"].detail == "my-project (PROVISIONER_GCP_PROJECT)"
    assert found["gcp compute api"].ok
    assert found["gcp gpu quota"].ok and found["gcp gpu quota"].detail == (
        "GPUS_ALL_REGIONS 1/4 used"
    )
    regional = found["gcp gpu quota us-central1"]
    assert regional.ok
    assert regional.detail == "NVIDIA_L4_GPUS 0/8, PREEMPTIBLE_NVIDIA_L4_GPUS 0/8"
    assert all(TOKEN not in c.detail for c in found.values())


def test_a_new_projects_zero_gpu_quota_fails_with_the_fix():
    found = checks(compute([{"metric": "GPUS_ALL_REGIONS", "limit": 0.0, "usage": 0.0}], []))
    assert not found["gcp gpu quota"].ok
    assert "request an increase" in found["gcp gpu quota"].detail
    assert not found["gcp gpu quota us-central1"].ok


def test_a_disabled_compute_api_says_how_to_enable_it():
    found = checks(compute([], [], status=403))
    assert not found["gcp compute api"].ok
    assert found["gcp compute api"].detail == (
        "the Compute Engine API is not enabled in my-project: "
        "gcloud services enable compute.googleapis.com --project my-project"
    )
    assert "gcp gpu quota" not in found


def test_no_project_and_no_credentials():
    found = checks(compute([], []), project=None)
    assert not found["gcp project"].ok and "PROVISIONER_GCP_PROJECT" in found["gcp project"].detail

    def no_adc() -> str:
        raise GcpAuthError("no Application Default Credentials: run `gcloud auth ...`")

    (only,) = gcp_checks("my-project", token=no_adc)
    assert only.name == "gcp credentials" and not only.ok


def test_without_any_adc_source_nothing_is_probed(tmp_path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.delenv("CLOUDSDK_CONFIG", raising=False)
    import provisioner.engine.pulumi.gcp_auth as auth

    monkeypatch.setattr(auth, "on_google_cloud", lambda: False)
    with pytest.raises(GcpAuthError, match="gcloud auth application-default login"):
        auth.access_token()
    assert auth.resolve_project("configured") == "configured"
    assert auth.resolve_project(None) is None
