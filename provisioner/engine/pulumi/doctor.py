"""`pulumi doctor` checks: is the CLI there, the state backend reachable, are cloud credentials
and the secrets passphrase in place. They only look (no installs, no network, no CLI runs
beyond `pulumi version`) and never report credential values.

Also home to what the engine and these checks both need to know about the backend URL and the
Azure variables.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import unquote, urlparse

from pulumi import automation as auto

from provisioner.engine.base import DoctorCheck
from provisioner.engine.pulumi.cli import (
    INSTALL_DOCS,
    MIN_CLI_VERSION,
    CliCommand,
    cli_roots,
    short_reason,
)

# The seed's Azure variables, handed to the azure-native provider under the names it reads.
ARM_FROM_AZURE = {
    "ARM_SUBSCRIPTION_ID": "AZURE_SUBSCRIPTION_ID",
    "ARM_TENANT_ID": "AZURE_TENANT_ID",
    "ARM_CLIENT_ID": "AZURE_CLIENT_ID",
    "ARM_CLIENT_SECRET": "AZURE_CLIENT_SECRET",
}


def is_cloud(url: str) -> bool:
    """Pulumi Cloud (or a self-hosted Pulumi service) rather than a DIY backend."""
    return urlparse(url).scheme in ("http", "https")


def file_backend_path(url: str) -> Path | None:
    if not url.startswith("file://"):
        return None
    return Path(unquote(url[len("file://") :].split("?", 1)[0])).expanduser()


# -- the checks ----------------------------------------------------------------------------


def cli_check(command: auto.PulumiCommand | None) -> DoctorCheck:
    """The CLI in use, else the first usable one found (never installs)."""
    problems: list[str] = []
    if command is None:
        for root in cli_roots():
            try:
                command = CliCommand(root=root, version=MIN_CLI_VERSION)
                break
            except Exception as exc:  # each candidate may fail its own way
                problems.append(short_reason(exc))
    if command is None:
        reason = "; ".join(problems) or "not on PATH nor under ~/.pulumi"
        return DoctorCheck(
            "pulumi cli",
            False,
            f"not found ({reason}): install it ({INSTALL_DOCS}) or use --simulate",
        )
    return DoctorCheck("pulumi cli", True, f"{command.command} v{command.version}")


def backend_check(url: str) -> DoctorCheck:
    path = file_backend_path(url)
    if path is None:
        if is_cloud(url):
            token = (
                "PULUMI_ACCESS_TOKEN" in os.environ
                or (Path.home() / ".pulumi" / "credentials.json").exists()
            )
            note = "" if token else " (no PULUMI_ACCESS_TOKEN and no `pulumi login` found)"
            return DoctorCheck("backend", token, f"{url}{note}")
        return DoctorCheck("backend", True, f"{url} (access through the cloud's credentials)")
    existing = path
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    writable = os.access(existing, os.W_OK)
    state = "writable" if writable else f"not writable ({existing})"
    return DoctorCheck("backend", writable, f"{url}: {state}")


def aws_credentials_check() -> DoctorCheck:
    variables = [
        name
        for name in (
            "AWS_ACCESS_KEY_ID",
            "AWS_PROFILE",
            "AWS_WEB_IDENTITY_TOKEN_FILE",
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        )
        if os.environ.get(name)
    ]
    files = [
        Path(os.environ.get(var) or default).expanduser()
        for var, default in (
            ("AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials"),
            ("AWS_CONFIG_FILE", "~/.aws/config"),
        )
    ]
    sources = variables + [str(path) for path in files if path.exists()]
    if sources:
        return DoctorCheck("aws credentials", True, "found: " + ", ".join(sources))
    return DoctorCheck(
        "aws credentials",
        False,
        "none found (AWS_* variables, ~/.aws/credentials or ~/.aws/config); an instance role "
        "is not checked",
    )


def azure_credentials_check() -> DoctorCheck:
    names = [*ARM_FROM_AZURE, *ARM_FROM_AZURE.values(), "ARM_USE_MSI", "ARM_USE_OIDC"]
    variables = [name for name in names if os.environ.get(name)]
    cli_login = Path("~/.azure").expanduser()
    sources = variables + ([str(cli_login)] if cli_login.exists() else [])
    if sources:
        return DoctorCheck("azure credentials", True, "found: " + ", ".join(sources))
    return DoctorCheck(
        "azure credentials", False, "none found (ARM_*/AZURE_* variables or `az login`)"
    )


def passphrase_check(url: str, path: Path) -> DoctorCheck:
    """How stack secrets are encrypted; `path` is the passphrase file the engine generates."""
    if is_cloud(url):
        return DoctorCheck("secrets", True, "Pulumi Cloud encrypts stack secrets")
    if "PULUMI_CONFIG_PASSPHRASE" in os.environ:
        return DoctorCheck("secrets", True, "passphrase from PULUMI_CONFIG_PASSPHRASE")
    if "PULUMI_CONFIG_PASSPHRASE_FILE" in os.environ:
        given = Path(os.environ["PULUMI_CONFIG_PASSPHRASE_FILE"]).expanduser()
        return DoctorCheck(
            "secrets",
            os.access(given, os.R_OK),
            f"passphrase from PULUMI_CONFIG_PASSPHRASE_FILE ({given}"
            f"{'' if os.access(given, os.R_OK) else ': not readable'})",
        )
    if not path.exists():
        return DoctorCheck("secrets", True, f"passphrase file {path} is made on first use")
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        return DoctorCheck(
            "secrets", False, f"passphrase file {path} has mode {mode:o}: chmod 600 it"
        )
    return DoctorCheck("secrets", True, f"passphrase file {path} (mode 600)")


__all__ = [
    "ARM_FROM_AZURE",
    "aws_credentials_check",
    "azure_credentials_check",
    "backend_check",
    "cli_check",
    "file_backend_path",
    "is_cloud",
    "passphrase_check",
]
