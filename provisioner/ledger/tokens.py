"""API bearer tokens: create (shown once), verify, list, revoke. Stored only as SHA-256 hashes.

A token is `prov_` + 43 URL-safe random characters (256 bits): a hash without a salt is enough
for secrets of that strength, and it lets `verify` find the row by an indexed equality lookup.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col, select

from provisioner.ledger.ledger import Ledger
from provisioner.ledger.models import ApiToken
from provisioner.rules.errors import AuthenticationError, NotFoundError, ValidationError, shown_id
from provisioner.rules.validation import validate_id

TOKEN_PREFIX = "prov_"
# Record last use at most this often: a write per request would cost every GET a transaction.
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class Principal:
    """Who is calling: a user, or an admin acting for anyone."""

    user_id: str
    admin: bool
    token_id: str


@dataclass(frozen=True)
class TokenInfo:
    id: str
    user_id: str
    admin: bool
    name: str | None
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None

    def to_json(self) -> dict[str, object]:
        def iso(moment: datetime | None) -> str | None:
            return moment.isoformat().replace("+00:00", "Z") if moment else None

        return {
            "id": self.id,
            "userId": self.user_id,
            "admin": self.admin,
            "name": self.name,
            "createdAt": iso(self.created_at),
            "revokedAt": iso(self.revoked_at),
            "lastUsedAt": iso(self.last_used_at),
        }


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _info(row: ApiToken) -> TokenInfo:
    return TokenInfo(
        id=row.id,
        user_id=row.user_id,
        admin=row.admin,
        name=row.name,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
        last_used_at=row.last_used_at,
    )


class Tokens:
    def __init__(self, ledger: Ledger, clock: Callable[[], datetime]):
        self.ledger = ledger
        self.clock = clock

    def create(
        self, user_id: str, *, admin: bool = False, name: str | None = None
    ) -> tuple[str, TokenInfo]:
        """Return (the token, its record). The token itself is never stored or shown again."""
        validate_id("user", "User id", user_id)
        if name is not None and len(name) > 128:
            raise ValidationError("name", "Token name must be at most 128 characters")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        row = ApiToken(
            id="tok-" + secrets.token_hex(6),
            user_id=user_id,
            admin=admin,
            token_hash=hash_token(token),
            name=name,
            created_at=self.clock(),
        )
        with Session(self.ledger.engine, expire_on_commit=False) as session:
            session.add(row)
            session.commit()
        return token, _info(row)

    def verify(self, token: str | None) -> Principal:
        """The principal a presented token stands for; AuthenticationError when none."""
        if not token:
            raise AuthenticationError(
                "Missing bearer token: send 'Authorization: Bearer <token>' "
                "(create one with `provisioner token create --user USER`)"
            )
        digest = hash_token(token)
        with Session(self.ledger.engine, expire_on_commit=False) as session:
            row = session.exec(select(ApiToken).where(ApiToken.token_hash == digest)).first()
        # compare_digest keeps the check constant-time even though the lookup is by hash.
        if row is None or not hmac.compare_digest(row.token_hash, digest) or row.revoked_at:
            raise AuthenticationError("Invalid or revoked bearer token")
        now = self.clock()
        if row.last_used_at is None or now - row.last_used_at >= LAST_USED_RESOLUTION:
            with Session(self.ledger.engine) as session:
                session.execute(
                    sa.update(ApiToken).where(col(ApiToken.id) == row.id).values(last_used_at=now)
                )
                session.commit()
        return Principal(user_id=row.user_id, admin=row.admin, token_id=row.id)

    def is_active(self, token_id: str) -> bool:
        """Whether the token exists unrevoked (open streams ask, #26)."""
        with Session(self.ledger.engine) as session:
            row = session.get(ApiToken, token_id)
            return row is not None and row.revoked_at is None

    def list(self, user_id: str | None = None) -> list[TokenInfo]:
        query = select(ApiToken).order_by(col(ApiToken.created_at), col(ApiToken.id))
        if user_id is not None:
            query = query.where(ApiToken.user_id == user_id)
        with Session(self.ledger.engine, expire_on_commit=False) as session:
            return [_info(row) for row in session.exec(query).all()]

    def revoke(self, token_id: str) -> TokenInfo:
        """Revoke by id; revoking a revoked token is a no-op."""
        with Session(self.ledger.engine, expire_on_commit=False) as session:
            row = session.get(ApiToken, token_id)
            if row is None:
                raise NotFoundError(f"Token {shown_id(token_id)} not found")
            if row.revoked_at is None:
                row.revoked_at = self.clock()
                session.add(row)
                session.commit()
            return _info(row)
