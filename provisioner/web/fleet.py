"""The fleet page's query: one page of instances under the status/provider/user filters, and a
fingerprint of what the page shows (the live stream sends a change when it moves)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from provisioner.ledger.models import Instance, InstanceOut
from provisioner.ops.service import Provisioner

PAGE_SIZE = 50
Query = TypeVar("Query", bound=SelectOfScalar[Any])


@dataclass(frozen=True)
class FleetFilter:
    """What the fleet page shows. `user_id` None: everyone (admins only; the caller decides)."""

    user_id: str | None
    status: str | None = None
    provider: str | None = None
    page: int = 1

    def where(self, query: Query) -> Query:
        if self.user_id is not None:
            query = query.where(col(Instance.user_id) == self.user_id)
        if self.status is not None:
            query = query.where(col(Instance.status) == self.status)
        if self.provider is not None:
            query = query.where(col(Instance.provider) == self.provider)
        return query


@dataclass(frozen=True)
class FleetPage:
    instances: list[InstanceOut]
    total: int
    page: int
    pages: int


def fleet_page(service: Provisioner, wanted: FleetFilter, *, size: int = PAGE_SIZE) -> FleetPage:
    """Newest first; pages are numbered from 1 (a page past the end shows the last one)."""
    with Session(service.ledger.engine) as session:
        total = session.exec(wanted.where(select(sa.func.count()).select_from(Instance))).one()
        pages = max(1, -(-int(total) // size))
        page = min(max(1, wanted.page), pages)
        query = wanted.where(select(Instance))
        query = query.order_by(col(Instance.created_at).desc(), col(Instance.id).desc())
        rows = list(session.exec(query.offset((page - 1) * size).limit(size)).all())
    return FleetPage([service.to_out(row) for row in rows], int(total), page, pages)


def fleet_users(service: Provisioner) -> list[str]:
    """Every user with an instance (the admin's user filter)."""
    with Session(service.ledger.engine) as session:
        users = session.exec(select(Instance.user_id).distinct()).all()
    return sorted(users)


def fingerprint(page: FleetPage) -> tuple[object, ...]:
    """Changes when a row's status, times or cost (to the cent) does, or rows come and go."""
    rows = tuple(
        (i.id, i.status, i.updated_at, i.expires_at, round(i.total_cost, 2)) for i in page.instances
    )
    return (page.total, page.pages, rows)
