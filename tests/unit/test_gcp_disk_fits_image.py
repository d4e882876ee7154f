"""#25: the disk-vs-image check on GCP too. The boot disk is the requested disk; a request below
the Deep Learning VM image's 50 GB used to fail at create, after the network was made."""

from __future__ import annotations

import pytest

from provisioner.config import Settings
from provisioner.rules.catalog import load_catalog
from provisioner.rules.errors import ValidationError
from provisioner.rules.validation import ProvisionRequest, validate_request


def request(disk: int) -> ProvisionRequest:
    return ProvisionRequest(
        provider="GCP", instance_type="g2-standard-4", region="us-central1", disk_size_gb=disk,
        user_id="u",
    )  # fmt: skip


def test_a_gcp_disk_smaller_than_the_dlvm_image_is_refused_naming_the_minimum() -> None:
    with pytest.raises(ValidationError) as err:
        validate_request(request(30), Settings(), load_catalog())
    assert err.value.field == "config.diskSizeGB"
    assert "at least 50 GB" in err.value.message and "got 30" in err.value.message


def test_the_image_size_itself_and_an_own_image_are_accepted() -> None:
    assert validate_request(request(50), Settings(), load_catalog()).disk_size_gb == 50
    own = Settings(gcp_image="projects/me/global/images/small")
    assert validate_request(request(30), own, load_catalog()).disk_size_gb == 30
