"""Ids as people type them (#27): the full id, or a unique start of one (`show inst-3f2`,
`token revoke tok-bb53ee8`), as `git` and `docker` take them. CLI only: the REST API takes
full ids."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

from provisioner.ledger.ledger import Ledger
from provisioner.ledger.models import ApiToken, Instance
from provisioner.rules.errors import SHOWN_CANDIDATES, resolve_prefix

SHOWN = SHOWN_CANDIDATES


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
    return resolve_prefix(typed, [str(f) for f in found], noun=noun, field=field)


def instance_id(ledger: Ledger, typed: str) -> str:
    """The full id of the instance `typed` names (exactly, or as a unique prefix)."""
    return _resolve(ledger, Instance.id, typed, noun="Instance", field="instance_id")


def token_id(ledger: Ledger, typed: str) -> str:
    return _resolve(ledger, ApiToken.id, typed, noun="Token", field="token_id")
