"""GCP credentials and project: Application Default Credentials (ADC), never stored or logged.

ADC is Google's standard chain: `GOOGLE_APPLICATION_CREDENTIALS` (a key or workload identity
federation file), `gcloud auth application-default login`, or the metadata server (GCE, GKE
workload identity). The project is `PROVISIONER_GCP_PROJECT`, else the one ADC knows (the key
file's, `GOOGLE_CLOUD_PROJECT`, or gcloud's configured project). pulumi-gcp's provider reads the
same chain by itself; provisioner only needs the project for the stack and a short-lived access
token for `doctor`'s checks and `catalog refresh`'s Billing Catalog query, each used at once and
dropped. google-auth comes with the `gcp` extra; without it these report the extra to install.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

SCOPE = "https://www.googleapis.com/auth/cloud-platform"
EXTRA_HINT = "pip install 'provisioner[gcp]'"


class GcpAuthError(Exception):
    """No usable Application Default Credentials (the message says what to do)."""


def adc_sources() -> list[str]:
    """Where ADC would come from, by name only (never a value)."""
    sources = []
    explicit = os.environ.get("GOOGLE_APPLICATION_CREDENTIALS")
    if explicit:
        sources.append(f"GOOGLE_APPLICATION_CREDENTIALS ({explicit})")
    config = Path(os.environ.get("CLOUDSDK_CONFIG") or "~/.config/gcloud").expanduser()
    well_known = config / "application_default_credentials.json"
    if well_known.exists():
        sources.append(str(well_known))
    return sources


def on_google_cloud() -> bool:
    """Whether this machine is a GCE VM (or GKE node): its metadata server then serves ADC.
    Read from DMI as google-auth does, without its network probe (seconds, off GCP)."""
    try:
        return Path("/sys/class/dmi/id/product_name").read_text().startswith("Google")
    except OSError:
        return False


def _default() -> tuple[Any, str | None]:
    if not adc_sources() and not on_google_cloud():
        raise GcpAuthError(
            "no Application Default Credentials: run `gcloud auth application-default login` "
            "or set GOOGLE_APPLICATION_CREDENTIALS"
        )
    try:
        import google.auth
        from google.auth import exceptions
    except ImportError as exc:
        raise GcpAuthError(f"google-auth is not installed: {EXTRA_HINT}") from exc
    try:
        return google.auth.default(scopes=[SCOPE])
    except exceptions.DefaultCredentialsError as exc:
        raise GcpAuthError(
            "no Application Default Credentials: run `gcloud auth application-default login` "
            "or set GOOGLE_APPLICATION_CREDENTIALS"
        ) from exc


def resolve_project(configured: str | None) -> str | None:
    """`PROVISIONER_GCP_PROJECT` when set, else ADC's project, else None."""
    if configured:
        return configured
    try:
        _credentials, project = _default()
    except GcpAuthError:
        return None
    return project or None


def access_token() -> str:
    """A fresh OAuth access token from ADC (cloud-platform scope); GcpAuthError if none."""
    credentials, _project = _default()
    try:
        from google.auth.transport.requests import Request

        credentials.refresh(Request())
    except ImportError as exc:
        raise GcpAuthError(f"google-auth's requests transport is missing: {EXTRA_HINT}") from exc
    except Exception as exc:  # google.auth.exceptions.RefreshError, transport errors
        raise GcpAuthError(f"ADC could not get an access token ({type(exc).__name__})") from exc
    return str(credentials.token)
