"""`list`, `show` and `stats` without the ORM or the service (#21): the ledger read through
DB-API (ledger/fastread.py), the JSON built here in `InstanceOut`'s shape. Each function returns
None when this path cannot give the ORM path's answer, and the command then takes that path:
the ledger is missing or not at the schema head (the ORM path migrates it), or an instance's
output needs the service (a live VM's `sshCommand`, built by its engine). Set
PROVISIONER_ORM_READS=1 to always take the ORM path.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from provisioner.ledger import fastread
from provisioner.ledger.fastread import Reader, Row
from provisioner.rules.billing import instance_cost
from provisioner.rules.catalog import Catalog, load_catalog

# ops/remote_access.py LIVE: statuses whose VM may take an ssh command
LIVE = ("CONFIGURING", "READY", "RUNNING")


class NeedsServiceError(Exception):
    """This row's output needs the service (its ssh command)."""


def reader() -> tuple[Reader, Catalog] | None:
    """A reader on the ledger at the schema head and the catalog its costs use, or None."""
    if os.environ.get("PROVISIONER_ORM_READS"):
        return None
    url, home = fastread.ledger_location()
    opened = fastread.open_reader(url)
    if opened is None:
        return None
    return opened, load_catalog(home=home)  # a refreshed catalog's billing rules win (#5)


def _iso(moment: datetime | None) -> str | None:
    """A moment as pydantic's JSON mode writes an aware UTC datetime."""
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


def _attempt(a: dict[str, Any]) -> dict[str, Any]:
    """capacity/candidates.py Attempt.to_json, as AttemptOut hands it back."""
    return {
        "number": a["number"],
        "candidate": {
            "provider": a["provider"],
            "region": a["region"],
            "zone": a["zone"],
            "instanceType": a["instance_type"],
            "spot": a["spot"],
            "costPerHour": float(a["price_per_hour"]),
        },
        "stackName": a["stack_name"],
        "outcome": a["outcome"],
        "startedAt": _iso(a["started_at"]),
        "endedAt": _iso(a["ended_at"]),
        "failureClass": a["failure_class"],
        "providerCode": a["provider_code"],
        "message": a["message"],
    }


def instance_json(row: Row, catalog: Catalog, now: datetime, *, ssh: bool = True) -> dict[str, Any]:
    """`Provisioner.to_out(instance).to_json()` for a row; `ssh`: the caller shows sshCommand,
    which a live VM open to SSH needs the service for (NeedsServiceError)."""
    from stacks.spec import ssh_user_for

    if ssh and row.status in LIVE and row.allowed_ssh_cidrs:
        raise NeedsServiceError(row.id)
    split = instance_cost(catalog, row, now)
    meta = row.meta
    return {
        "id": row.id,
        "userId": row.user_id,
        "taskId": row.task_id,
        "provider": row.provider,
        "instanceType": row.instance_type,
        "region": row.region,
        "status": row.status,
        "publicIp": row.public_ip,
        "privateIp": row.private_ip,
        "cloudInstanceId": row.cloud_instance_id,
        "diskSizeGB": row.disk_size_gb,
        "autoTerminateMinutes": row.auto_terminate_minutes,
        "expiresAt": _iso(row.expires_at),
        "hardDeadline": _iso(row.hard_deadline),
        "costPerHour": float(row.cost_per_hour),
        "totalCost": float(split.total),
        "costBreakdown": {
            "compute": float(split.compute),
            "storage": float(split.storage),
            "publicIpv4": float(split.public_ipv4),
        },
        "purpose": row.purpose,
        "tags": row.tags,
        "metadata": meta,
        "engine": row.engine,
        "createdAt": _iso(row.created_at),
        "readyAt": _iso(row.ready_at),
        "terminatedAt": _iso(row.terminated_at),
        "updatedAt": _iso(row.updated_at),
        "error": row.error,
        "errorCode": row.error_code,
        "sshUser": ssh_user_for(row.provider),
        "sshCommand": None,
        "allowedSshCidrs": list(row.allowed_ssh_cidrs or []),
        "sshKeyFingerprint": row.ssh_key_fingerprint,
        "zone": meta.get("zone"),
        "spot": bool(meta.get("spot", False)),
        "attempts": [_attempt(a) for a in row.attempts],
        "publicIpv4PerHour": float(row.public_ip_price_per_hour or 0),
    }


def show(instance_id: str) -> dict[str, Any] | None:
    """`show`'s instance, or None (take the ORM path)."""
    opened = reader()
    if opened is None:
        return None
    db, catalog = opened
    with db:
        row = db.get(instance_id)
        if row is None:  # a unique prefix names it too (#27), as cli/ids.py resolves
            from provisioner.rules.errors import SHOWN_CANDIDATES, resolve_prefix

            found = db.ids_starting(instance_id, SHOWN_CANDIDATES + 1)
            row = db.get(resolve_prefix(instance_id, found, noun="Instance", field="instance_id"))
    if row is None:  # gone between the two reads
        from provisioner.rules.errors import NotFoundError, shown_id

        raise NotFoundError(f"Instance {shown_id(instance_id)} not found")
    try:
        return instance_json(row, catalog, datetime.now(UTC))
    except NeedsServiceError:
        return None


def newest(
    *,
    user_id: str | None,
    status: str | None,
    since: datetime | None,
    limit: int | None,
    ssh: bool,
) -> tuple[list[dict[str, Any]], int] | None:
    """`list`'s page and how many match, or None (take the ORM path)."""
    opened = reader()
    if opened is None:
        return None
    db, catalog = opened
    now = datetime.now(UTC)
    with db:
        rows, total = db.newest(user_id=user_id, status=status, since=since, limit=limit)
    try:
        return [instance_json(r, catalog, now, ssh=ssh) for r in rows], total
    except NeedsServiceError:
        return None


def iter_newest(
    *, user_id: str | None, status: str | None, since: datetime | None
) -> Iterator[dict[str, Any]] | None:
    """Every match as JSON, streamed (`list --all --json`), or None (take the ORM path). A live
    VM open to SSH anywhere in the listing sends the whole listing to the ORM path."""
    opened = reader()
    if opened is None:
        return None
    db, catalog = opened
    live = db.query(
        "SELECT count(*) FROM instances WHERE status IN (?, ?, ?) "
        "AND CAST(allowed_ssh_cidrs AS TEXT) NOT IN ('[]', 'null')",
        LIVE,
    )
    if live and live[0][0]:
        db.close()
        return None
    return _stream(db, catalog, user_id=user_id, status=status, since=since)


def newest_ids(
    *, user_id: str | None, status: str | None, since: datetime | None
) -> Iterator[list[str]] | None:
    """Every matching id, newest first, a batch at a time (`list --all --quiet`), or None."""
    opened = reader()
    if opened is None:
        return None
    db, _ = opened
    return _ids(db, user_id=user_id, status=status, since=since)


def _ids(
    db: Reader, *, user_id: str | None, status: str | None, since: datetime | None
) -> Iterator[list[str]]:
    with db:
        yield from db.iter_newest_ids(user_id=user_id, status=status, since=since)


def _stream(
    db: Reader,
    catalog: Catalog,
    *,
    user_id: str | None,
    status: str | None,
    since: datetime | None,
) -> Iterator[dict[str, Any]]:
    now = datetime.now(UTC)
    with db:
        for row in db.iter_newest(user_id=user_id, status=status, since=since):
            yield instance_json(row, catalog, now, ssh=False)


def statistics(
    *, user_id: str | None, since: datetime | None, until: datetime | None
) -> dict[str, Any] | None:
    """`stats`' figures in `StatisticsOut`'s JSON shape, or None (take the ORM path)."""
    from provisioner.ledger.fastread_stats import statistics as read_statistics
    from provisioner.rules.costs import round_money
    from provisioner.rules.errors import ValidationError

    if since is not None and until is not None and since >= until:  # ledger/reads.py's check
        raise ValidationError(
            "until",
            f"The window is empty: until ({until:%Y-%m-%d %H:%M}Z) must be after "
            f"since ({since:%Y-%m-%d %H:%M}Z)",
        )
    opened = reader()
    if opened is None:
        return None
    db, catalog = opened
    with db:
        s = read_statistics(
            db,
            now=datetime.now(UTC),
            billing=catalog.billing,
            user_id=user_id,
            since=since,
            until=until,
        )
    return {  # ledger/reads.py statistics_out, as StatisticsOut.to_json writes it
        "totalProvisioned": s["total_provisioned"],
        "currentlyRunning": s["currently_running"],
        "totalCost": float(round_money(s["total_cost"])),
        "averageDuration": s["average_duration_hours"],
        "averageCost": float(s["average_cost"]),
        "providerBreakdown": s["provider_breakdown"],
        "instanceTypeBreakdown": s["instance_type_breakdown"],
        "costBreakdown": {"compute": float(s["compute_cost"]), "storage": float(s["storage_cost"])},
    }
