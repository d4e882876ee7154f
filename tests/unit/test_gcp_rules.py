"""GCP in the pure rules: billing, disk price, error classification, validation."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from provisioner.config import Settings
from provisioner.rules.billing import billed_seconds, cost_split, storage_price_gb_month
from provisioner.rules.catalog import load_catalog
from provisioner.rules.cloud_errors import CLOUD_ERROR_CODES, FailureClass, classify
from provisioner.rules.errors import ValidationError
from provisioner.rules.validation import ProvisionRequest, validate_request

CATALOG = load_catalog()
T0 = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("ran", "billed"),
    [
        (timedelta(seconds=10), 60),  # the one-minute minimum
        (timedelta(seconds=90.2), 91),  # then per second, rounded up
        (timedelta(hours=1), 3600),
        (timedelta(0), 0),
    ],
)
def test_gcp_bills_per_second_with_a_one_minute_minimum(ran, billed):
    assert billed_seconds(CATALOG.billing["GCP"], T0, T0 + ran) == billed


def test_a_g2_hour_with_its_pd_balanced_disk():
    price = CATALOG.get("GCP", "g2-standard-4").price_in("us-central1")
    per_gb = storage_price_gb_month(CATALOG, "GCP", 100)
    assert per_gb == Decimal("0.10")
    split = cost_split(
        CATALOG,
        provider="GCP",
        price_per_hour=price,
        price_gb_month=per_gb,
        disk_gb=100,
        start=T0,
        end=T0 + timedelta(hours=1),
    )
    assert split.compute == Decimal("0.7068").quantize(split.compute)
    assert split.storage == (Decimal("10") / 730).quantize(split.storage)  # $10/month for 1 h


@pytest.mark.parametrize(
    ("message", "failure_class", "code"),
    [
        (
            "Error waiting for instance to create: The zone 'projects/p/zones/us-central1-a' "
            "does not have enough resources available to fulfill the request.  Try a different "
            "zone, or try again later.",
            FailureClass.CAPACITY,
            "ZONE_RESOURCE_POOL_EXHAUSTED",
        ),
        (
            "code: ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS: The zone ... resource type:compute",
            FailureClass.CAPACITY,
            "ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS",
        ),
        (
            "googleapi: Error 403: Quota 'GPUS_ALL_REGIONS' exceeded.  Limit: 0.0 globally.",
            FailureClass.QUOTA,
            "GPUS_ALL_REGIONS",
        ),
        (
            "googleapi: Error 403: Quota 'NVIDIA_L4_GPUS' exceeded.  Limit: 1.0 in region "
            "us-central1., quotaExceeded",
            FailureClass.QUOTA,
            "QUOTA_EXCEEDED",
        ),
        (
            "Invalid value for field 'resource.machineType': 'zones/europe-west1-d/machineTypes/"
            "g2-standard-4'. Machine type with name 'g2-standard-4' does not exist in zone "
            "'europe-west1-d'., invalid",
            FailureClass.ZONE_UNSUPPORTED,
            "does not exist in zone",
        ),
        (
            "googleapi: Error 403: Compute Engine API has not been used in project 123 before "
            "or it is disabled., accessNotConfigured",
            FailureClass.AUTH,
            "SERVICE_DISABLED",
        ),
        (
            "googleapi: Error 403: Rate Limit Exceeded, rateLimitExceeded",
            FailureClass.TRANSIENT,
            None,
        ),
    ],
)
def test_gcp_refusals_are_classified(message, failure_class, code):
    assert classify(message) == (failure_class, code)
    assert classify(message, "GCP") == (failure_class, code)


def test_every_gcp_code_names_its_source():
    gcp = [e for e in CLOUD_ERROR_CODES if e.provider == "GCP"]
    assert {"ZONE_RESOURCE_POOL_EXHAUSTED", "QUOTA_EXCEEDED", "GPUS_ALL_REGIONS"} <= {
        e.code for e in gcp
    }
    assert all(e.source.startswith("https://cloud.google.com/") for e in gcp)


def test_gcp_requests_validate_like_the_others():
    settings = Settings()
    valid = validate_request(
        ProvisionRequest(provider="gcp", instance_type="A2-HIGHGPU-1G", user_id="u"),
        settings,
        CATALOG,
    )
    assert (valid.provider, valid.type.name, valid.region) == (
        "GCP",
        "a2-highgpu-1g",
        "us-central1",
    )
    with pytest.raises(ValidationError, match="Region 'us-east-1' is not offered"):
        validate_request(
            ProvisionRequest(
                provider="GCP", instance_type="g2-standard-4", region="us-east-1", user_id="u"
            ),
            settings,
            CATALOG,
        )
