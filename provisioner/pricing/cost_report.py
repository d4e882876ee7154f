"""The cost report (#5): spend over the last N UTC days, grouped, per day by provider, top spenders.

`build_report` returns a JSON-able dict: the CLI prints it (`cost-report --json`), renders it as a
table or as an HTML file (`cost_report_html.py`), and the REST API serves it as it is.
Every figure comes from aggregate queries (`spend.py`); money is Decimal until the dict is built.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from provisioner.ledger.ledger import Ledger
from provisioner.ledger.spend import GROUPS, SpendRow, spend_by
from provisioner.rules.catalog import Catalog
from provisioner.rules.errors import ValidationError, shown

MAX_DAYS = 366
TOP_SPENDERS = 10
DEFINITIONS = (
    "Spend of the instances created in each UTC day. Ended instances count at their final "
    "cost, billed per the provider's granularity (compute) plus their disk (storage); live ones "
    "count what they have been billed so far (the same rule) at generatedAt."
)


def _money(value: Decimal) -> float:
    return float(value)


def _row(row: SpendRow, key_name: str) -> dict[str, Any]:
    return {
        key_name: row.key[0] if row.key else None,
        "instances": row.instances,
        "compute": _money(row.compute),
        "storage": _money(row.storage),
        "total": _money(row.total),
    }


def window(now: datetime, days: int) -> tuple[datetime, datetime]:
    """[start of the first day, start of tomorrow): the last `days` UTC days including today."""
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
        raise ValidationError("days", f"Days must be 1..{MAX_DAYS} (got {shown(days)})")
    today = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=days - 1), today + timedelta(days=1)


def build_report(
    ledger: Ledger,
    *,
    now: datetime,
    days: int = 30,
    by: str = "user",
    user_id: str | None = None,
    catalog: Catalog | None = None,
) -> dict[str, Any]:
    if by not in GROUPS:
        raise ValidationError("by", f"Group by one of {', '.join(GROUPS)} (got {shown(by)})")
    since, until = window(now, days)
    scope: dict[str, Any] = {"now": now, "since": since, "until": until, "user_id": user_id}
    if catalog is not None:
        scope["billing"] = catalog.billing

    grouped = spend_by(ledger, group=(by,), **scope)
    if by == "day":
        grouped.sort(key=lambda r: r.key)
    else:
        grouped.sort(key=lambda r: (-r.total, r.key))
    totals = spend_by(ledger, group=(), **scope)
    total = totals[0] if totals else SpendRow((), 0, Decimal(0), Decimal(0))

    per_day: dict[str, dict[str, Decimal]] = {}
    for row in spend_by(ledger, group=("day", "provider"), **scope):
        day, provider = row.key
        per_day.setdefault(day, {})[provider] = row.total
    providers = sorted({p for spend in per_day.values() for p in spend})
    daily = []
    for offset in range(days):
        day = (since + timedelta(days=offset)).strftime("%Y-%m-%d")
        spend = per_day.get(day, {})
        daily.append(
            {
                "day": day,
                "byProvider": {p: _money(spend.get(p, Decimal(0))) for p in providers},
                "total": _money(sum(spend.values(), Decimal(0))),
            }
        )

    spenders = spend_by(ledger, group=("user",), **scope)
    spenders.sort(key=lambda r: (-r.total, r.key))
    return {
        "from": since.strftime("%Y-%m-%d"),
        "to": (until - timedelta(days=1)).strftime("%Y-%m-%d"),
        "days": days,
        "by": by,
        "userId": user_id,
        "currency": "USD",
        "generatedAt": now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "pricesAsOf": catalog.prices_as_of if catalog else None,
        "total": _row(total, "key") | {"key": "all"},
        "rows": [_row(r, "key") for r in grouped],
        "providers": providers,
        "daily": daily,
        "topSpenders": [_row(r, "userId") for r in spenders[:TOP_SPENDERS]],
        "definitions": DEFINITIONS,
    }
