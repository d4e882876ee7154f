"""Ids as typed on the command line: a unique prefix names the instance (or token); an
ambiguous one is a one-line error listing the candidates (exit 2). ledger/id_prefix.py does the
look-up; every command that takes an id calls `full_id` once, before using it."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from provisioner.ledger.ledger import Ledger
    from provisioner.ops.service import Provisioner


def full_id(service: Provisioner, typed: str) -> str:
    from provisioner.ledger import id_prefix

    return id_prefix.instance_id(service.ledger, typed)


def full_token_id(ledger: Ledger, typed: str) -> str:
    from provisioner.ledger import id_prefix

    return id_prefix.token_id(ledger, typed)
