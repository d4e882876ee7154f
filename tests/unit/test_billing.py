"""The cost model's rules, against the catalog's documented billing and disk prices."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from provisioner.ops.budgets import usd
from provisioner.rules.billing import billed_seconds, cost_split, storage_price_gb_month
from provisioner.rules.catalog import load_catalog

CATALOG = load_catalog()
T0 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("provider", "ran", "billed"),
    [
        ("AWS", timedelta(seconds=20), 60),  # the 60-second minimum
        ("AWS", timedelta(seconds=61.2), 62),  # then per second, rounded up
        ("AWS", timedelta(minutes=30), 1800),
        ("AZURE", timedelta(minutes=6, seconds=45), 405),  # by the second (pricing page, #24)
        ("AZURE", timedelta(seconds=59), 59),  # no minimum, no free partial minute
        ("AZURE", timedelta(hours=2), 7200),
        ("AWS", timedelta(0), 0),
        ("AWS", timedelta(seconds=-5), 0),
    ],
)
def test_compute_is_billed_per_the_providers_granularity(provider, ran, billed):
    assert billed_seconds(CATALOG.billing[provider], T0, T0 + ran) == billed


def test_the_seeds_worked_figures_hold_for_compute():
    aws = cost_split(
        CATALOG,
        provider="AWS",
        price_per_hour=Decimal("0.526"),
        price_gb_month=storage_price_gb_month(CATALOG, "AWS", 50),
        disk_gb=50,
        start=T0,
        end=T0 + timedelta(minutes=30),
    )
    assert aws.compute == Decimal("0.263")
    assert Decimal(0) < aws.storage < Decimal("0.01")
    assert aws.total == aws.compute + aws.storage
    azure = cost_split(
        CATALOG,
        provider="AZURE",
        price_per_hour=Decimal("0.90"),
        price_gb_month=None,
        disk_gb=100,
        start=T0,
        end=T0 + timedelta(hours=2),
    )
    assert azure.compute == Decimal("1.80") and azure.storage == 0


def test_disk_price_per_gb_month_follows_gp3_and_the_azure_tier_holding_the_disk():
    assert storage_price_gb_month(CATALOG, "AWS", 50) == Decimal("0.08")
    # 100 GB on Azure is a P10 (128 GiB, $19.71/month): billed as the whole tier.
    assert storage_price_gb_month(CATALOG, "AZURE", 100) * 100 == Decimal("19.71")
    # 129 GB no longer fits a P10: P15 (256 GiB).
    assert storage_price_gb_month(CATALOG, "AZURE", 129) * 129 == pytest.approx(Decimal("38.01"))


def test_money_is_shown_to_the_cent_unless_that_would_hide_a_figure():
    assert usd(Decimal("1")) == "$1.00"
    assert usd(Decimal("1.063")) == "$1.063"
    assert usd(Decimal("0.0110")) == "$0.011"
    assert usd(Decimal("1234.5")) == "$1,234.50"


def test_the_public_ipv4_address_bills_over_the_vms_seconds_and_only_when_there_is_one():
    """#24: the address's $/hour x the VM's billed seconds, exact to the micro-dollar; a VM
    with no public address (price None) pays nothing for one."""
    from datetime import UTC, datetime, timedelta
    from decimal import Decimal

    from provisioner.rules.billing import cost_split
    from provisioner.rules.catalog import load_catalog
    from provisioner.rules.public_ip import public_ipv4_per_hour

    catalog = load_catalog()
    start = datetime(2026, 1, 1, tzinfo=UTC)
    args = {
        "provider": "GCP",
        "price_per_hour": Decimal("0.7"),
        "price_gb_month": None,
        "disk_gb": 50,
        "start": start,
    }
    ten_s = cost_split(
        catalog, **args, end=start + timedelta(seconds=10), ipv4_per_hour=Decimal("0.005")
    )
    assert ten_s.public_ipv4 == Decimal("0.000083")  # GCP's 1-minute minimum: 60 s x 0.005 / 3600
    hour = cost_split(
        catalog, **args, end=start + timedelta(hours=1), ipv4_per_hour=Decimal("0.005")
    )
    assert hour.public_ipv4 == Decimal("0.005")
    assert hour.total == hour.compute + hour.storage + hour.public_ipv4
    none = cost_split(catalog, **args, end=start + timedelta(hours=1), ipv4_per_hour=None)
    assert none.public_ipv4 == 0 and none.total == hour.total - Decimal("0.005")
    assert public_ipv4_per_hour("gcp", spot=True) == Decimal("0.0025")
    assert public_ipv4_per_hour("AWS", spot=True) == public_ipv4_per_hour("AZURE", spot=False)
