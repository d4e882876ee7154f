"""The rules behind a first real `up` (#13): images per GPU family, disks the image allows and
their cost, per-region overrides, the hard-lifetime bound, shared secrets, retired types."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import ValidationError as SettingsError

from provisioner.config import Settings
from provisioner.engine.preflight_targets import secrets_problem, shared_secrets_check
from provisioner.rules.billing import billed_disks, storage_price_gb_month
from provisioner.rules.catalog import Catalog, load_catalog
from provisioner.rules.cloud_errors import class_for_size, classify
from provisioner.rules.errors import ValidationError
from provisioner.rules.validation import ProvisionRequest, refuse_retired, validate_request


@pytest.fixture
def catalog() -> Catalog:
    return load_catalog()


# -- 3. images -----------------------------------------------------------------------------


def test_every_current_type_maps_to_exactly_one_image(catalog: Catalog) -> None:
    # GCP's program boots a Deep Learning VM image family of its own (stacks/gcp.py, #14).
    for itype in (t for t in catalog.types if t.provider != "GCP"):
        images = [
            image for image in catalog.images.get(itype.provider, ()) if itype.name in image.types
        ]
        if itype.retired:
            continue
        assert len(images) == 1, f"{itype.provider}/{itype.name} maps to {images}"


def test_images_list_only_catalog_types(catalog: Catalog) -> None:
    names = {(t.provider, t.name) for t in catalog.types}
    for provider, images in catalog.images.items():
        for image in images:
            assert {(provider, t) for t in image.types} <= names


def test_a10_gets_the_grid_driver_and_the_others_a_driver_image(catalog: Catalog) -> None:
    a10 = catalog.image_for("AZURE", "Standard_NV6ads_A10_v5")
    assert a10 is not None and a10.extension == "NvidiaGpuDriverLinux"
    assert "GRID" in a10.driver
    t4 = catalog.image_for("AZURE", "Standard_NC4as_T4_v3")
    assert t4 is not None and t4.extension is None and t4.ref.startswith("microsoft-dsvm:")


def test_no_arm_gpu_type_is_offered_on_an_x86_image(catalog: Catalog) -> None:
    """g5g (Graviton + T4G) would need an arm64 image: it is excluded, not mis-served."""
    for itype in catalog.types:
        image = catalog.image_for(itype.provider, itype.name)
        if image is not None:
            assert image.architecture == "x86_64"
            assert not itype.name.startswith("g5g")


# -- 4. disks --------------------------------------------------------------------------------


def seed_aws_example() -> ProvisionRequest:
    return ProvisionRequest(
        provider="AWS",
        instance_type="g4dn.xlarge",
        region="us-east-1",
        disk_size_gb=50,
        auto_terminate_minutes=30,
        user_id="user-123",
        task_id="batch-789",
    )


def test_the_seed_aws_example_validates(catalog: Catalog) -> None:
    valid = validate_request(seed_aws_example(), Settings(), catalog)
    assert valid.disk_size_gb == 50
    assert billed_disks(catalog, "AWS", 50, "g4dn.xlarge") == [75, 50]


def test_every_aws_disk_is_in_the_storage_price(catalog: Catalog) -> None:
    """The 75 GB root and the 50 GB data disk are both billed: price x 50 GB covers 125 GB."""
    price = storage_price_gb_month(catalog, "AWS", 50, instance_type="g4dn.xlarge")
    assert price * 50 == pytest.approx(Decimal("0.08") * 125, abs=Decimal("0.0001"))
    assert price > storage_price_gb_month(catalog, "AWS", 50)


def test_an_azure_disk_smaller_than_the_image_is_refused_naming_the_minimum(
    catalog: Catalog,
) -> None:
    request = ProvisionRequest(
        provider="AZURE", instance_type="Standard_NC4as_T4_v3", disk_size_gb=50, user_id="u"
    )
    with pytest.raises(ValidationError) as err:
        validate_request(request, Settings(), catalog)
    assert err.value.field == "config.diskSizeGB"
    assert "at least 64 GB" in err.value.message


# -- 5. per-region overrides ---------------------------------------------------------------


def test_ami_and_subnet_maps_are_per_region() -> None:
    settings = Settings(
        aws_ami="us-east-1=ami-0aaa,us-west-2=ami-0bbb", aws_subnet_id="us-west-2=subnet-0ccc"
    )
    assert settings.aws_ami_for("us-east-1") == "ami-0aaa"
    assert settings.aws_ami_for("US-WEST-2") == "ami-0bbb"
    assert settings.aws_ami_for("eu-west-1") is None  # the default DLAMI lookup
    assert settings.aws_subnet_for("us-west-2") == "subnet-0ccc"
    assert settings.aws_subnet_for("us-east-1") is None  # the default VPC


def test_a_bare_id_still_applies_to_every_region() -> None:
    assert Settings(aws_ami="ami-0aaa").aws_ami_for("eu-west-1") == "ami-0aaa"


@pytest.mark.parametrize("value", ["us-east-1=", "us-east-1=ami-1,us-east-1=ami-2", "=ami-1"])
def test_a_malformed_map_is_refused(value: str) -> None:
    with pytest.raises(SettingsError):
        Settings(aws_ami=value)


# -- 7. the hard lifetime stays under a day ---------------------------------------------------


def test_hard_lifetime_is_bounded_below_a_day() -> None:
    assert Settings(hard_lifetime_minutes=23 * 60).hard_lifetime_minutes == 1380
    with pytest.raises(SettingsError):
        Settings(hard_lifetime_minutes=24 * 60)


# -- 8. shared secrets ------------------------------------------------------------------------


def test_a_shared_backend_needs_a_shared_passphrase_or_kms(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for var in ("PULUMI_CONFIG_PASSPHRASE", "PULUMI_CONFIG_PASSPHRASE_FILE"):
        monkeypatch.delenv(var, raising=False)
    settings = Settings(home=tmp_path)
    problem = secrets_problem(settings, "s3://bucket/state")
    assert problem and "PULUMI_CONFIG_PASSPHRASE_FILE" in problem
    assert not shared_secrets_check(settings, "s3://bucket/state").ok
    assert secrets_problem(settings, (tmp_path / "state").as_uri()) is None
    kms = Settings(home=tmp_path, pulumi_secrets_provider="awskms://alias/provisioner")
    assert secrets_problem(kms, "s3://bucket/state") is None
    assert shared_secrets_check(kms, "s3://bucket/state").ok
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE_FILE", str(tmp_path / "shared"))
    assert secrets_problem(settings, "azblob://container") is None


def test_an_unknown_secrets_provider_is_named(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, pulumi_secrets_provider="rot13://x")
    assert "rot13" in str(secrets_problem(settings, "s3://b"))


# -- 9. retired types -------------------------------------------------------------------------


def test_a_retired_type_is_refused_naming_its_replacement(catalog: Catalog) -> None:
    nc6 = catalog.get("AZURE", "Standard_NC6")
    assert nc6 is not None
    with pytest.raises(ValidationError) as err:
        refuse_retired(nc6, catalog)
    assert "Standard_NC4as_T4_v3" in err.value.message
    assert "--allow-retired" in err.value.message


def test_every_retired_type_has_a_current_replacement(catalog: Catalog) -> None:
    for itype in catalog.types:
        if itype.retired:
            replacement = catalog.replacement_for(itype.provider, itype.name)
            assert replacement is not None, itype.name
            current = catalog.get(itype.provider, replacement)
            assert current is not None and not current.retired


def test_sku_not_available_on_a_retired_size_is_retired_not_capacity() -> None:
    message = 'Code="SkuNotAvailable" Message="The requested VM size Standard_NC6 is not available'
    failure_class, code = classify(message, "AZURE")
    assert failure_class.value == "capacity"
    assert class_for_size(failure_class.value, "AZURE", code, size_retired=True) == "retired"
    assert class_for_size(failure_class.value, "AZURE", code, size_retired=False) == "capacity"
