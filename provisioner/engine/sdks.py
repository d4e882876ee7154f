"""Which cloud SDKs are installed. Each is an extra of the package (`provisioner[aws]`,
`provisioner[azure]`, `provisioner[gcp]`, or `provisioner[all]`), so an install carries only the
clouds it uses; a command for a cloud whose SDK is missing says which extra to install (#16)."""

from __future__ import annotations

import importlib.util

from provisioner.rules.errors import ValidationError

# Provider -> (the SDK's Python package, the extra that installs it).
SDKS = {
    "AWS": ("pulumi_aws", "aws"),
    "AZURE": ("pulumi_azure_native", "azure"),
    "GCP": ("pulumi_gcp", "gcp"),
}


def sdk_installed(provider: str) -> bool:
    """True when the provider's SDK can be imported (checked without importing it)."""
    module, _ = SDKS[provider.upper()]
    try:
        return importlib.util.find_spec(module) is not None
    except ImportError:  # e.g. a meta-path hook that blocks it
        return False


def require_sdk(provider: str) -> None:
    """ValidationError (exit 2, HTTP 400) naming the extra when the provider's SDK is missing."""
    if provider.upper() not in SDKS or sdk_installed(provider):
        return
    _, extra = SDKS[provider.upper()]
    raise ValidationError(
        "provider",
        f"Provider {provider.upper()} needs its cloud SDK: pip install 'provisioner[{extra}]'",
    )
