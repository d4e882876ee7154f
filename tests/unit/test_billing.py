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
