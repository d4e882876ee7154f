"""Ids as people type them (#27): the full id, or a unique start of one (`show inst-3f2`,
`token revoke tok-bb53ee8`), as `git` and `docker` take them. CLI only: the REST API takes
full ids."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

from provisioner.ledger.ledger import Ledger
from provisioner.ledger.models import ApiToken, Instance
from provisioner.rules.errors import NotFoundError, ValidationError, shown_id

SHOWN = 5  # candidates named in an ambiguity error


def _resolve(ledger: Ledger, column: Any, typed: str, *, noun: str, field: str) -> str:
    with Session(ledger.engine) as session:
        if session.exec(select(column).where(column == typed)).first() is not None:
            return typed
        found = list(
            session.exec(
                select(column)
                .where(col(column).startswith(typed, autoescape=True))
                .order_by(column)
                .limit(SHOWN + 1)
            )
        )
    if len(found) == 1 and typed:
        return str(found[0])
    if len(found) > 1 and typed:
        more = ", ..." if len(found) > SHOWN else ""
        raise ValidationError(
            field,
            f"{noun} id {shown_id(typed)} is ambiguous: it starts "
            f"{', '.join(str(f) for f in found[:SHOWN])}{more}; type more of it",
        )
    raise NotFoundError(f"{noun} {shown_id(typed)} not found")


def instance_id(ledger: Ledger, typed: str) -> str:
    """The full id of the instance `typed` names (exactly, or as a unique prefix)."""
    return _resolve(ledger, Instance.id, typed, noun="Instance", field="instance_id")


def token_id(ledger: Ledger, typed: str) -> str:
    return _resolve(ledger, ApiToken.id, typed, noun="Token", field="token_id")
