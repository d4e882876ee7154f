"""#25: doctor's and up's Azure reads use the credential the azure-native provider uses. The
provider reads ARM_* variables; azure-identity's DefaultAzureCredential ignores them, so a
service principal given as ARM_* worked for `up` while doctor said it had no credential. And a
failed credential chain is one line, not azure-identity's paragraph per credential tried."""

from __future__ import annotations

import pytest
from azure.identity import ClientSecretCredential, DefaultAzureCredential

from provisioner.engine.preflight import Target
from provisioner.engine.pulumi.preflight import azure_credential, run_azure

SP = {"ARM_TENANT_ID": "tenant-1", "ARM_CLIENT_ID": "client-1", "ARM_CLIENT_SECRET": "s3cret"}


def test_arm_service_principal_variables_are_used(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SP.items():
        monkeypatch.setenv(name, value)
    assert isinstance(azure_credential(), ClientSecretCredential)


def test_without_arm_variables_the_default_chain_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [*SP, "ARM_USE_MSI"]:
        monkeypatch.delenv(name, raising=False)
    assert isinstance(azure_credential(), DefaultAzureCredential)


def test_a_failed_credential_chain_is_one_line() -> None:
    def token() -> str:
        raise RuntimeError(
            "DefaultAzureCredential failed to retrieve a token from the included credentials.\n"
            "Attempted credentials:\n\tEnvironmentCredential: incomplete\n\tAzureCliCredential: "
            "Azure CLI not found on path\nTo mitigate this issue, please refer to ..."
        )

    (check,) = run_azure(
        Target("AZURE", "eastus", "Standard_NC4as_T4_v3"), cheap=True, token=token,
        subscription="00000000-0000-0000-0000-000000000000",
    )  # fmt: skip
    assert check.state == "CANNOT CHECK"
    assert check.detail == (
        "cannot ask Azure: DefaultAzureCredential failed to retrieve a token from the included "
        "credentials."
    )
