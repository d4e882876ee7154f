"""Dashboard sessions, kept server-side (#26): the cookie holds a random session id, never the
API token, and signing out ends the session here, so a copied cookie is dead after sign-out.

A session row stores only the SHA-256 of its id, the token it was opened with (revoking the token
ends its sessions too), and when it began, ended and expires (SESSION_HOURS after sign-in). Rows
live in the ledger so every replica sees the same sessions.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Field, Session, SQLModel, col, select

from provisioner.ledger.models import ApiToken, UTCDateTime

SESSION_HOURS = 12


class WebSession(SQLModel, table=True):
    __tablename__ = "web_sessions"

    id_hash: str = Field(primary_key=True, max_length=64)
    token_id: str = Field(foreign_key="api_tokens.id", index=True, max_length=32)
    created_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    expires_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


class WebSessions:
    def __init__(self, engine: sa.Engine, clock: Callable[[], datetime]):
        self.engine = engine
        self.clock = clock

    def open(self, token_id: str) -> str:
        """A new session for a verified token; returns its id (for the cookie only)."""
        session_id = secrets.token_urlsafe(32)
        now = self.clock()
        row = WebSession(
            id_hash=_digest(session_id),
            token_id=token_id,
            created_at=now,
            expires_at=now + timedelta(hours=SESSION_HOURS),
        )
        with Session(self.engine) as session:
            session.add(row)
            session.commit()
        return session_id

    def resolve(self, session_id: str) -> ApiToken | None:
        """The token of a live session: not ended, not expired, the token not revoked."""
        query = (
            select(ApiToken)
            .join(WebSession, col(WebSession.token_id) == col(ApiToken.id))
            .where(WebSession.id_hash == _digest(session_id))
            .where(col(WebSession.ended_at).is_(None))
            .where(col(WebSession.expires_at) > self.clock())
            .where(col(ApiToken.revoked_at).is_(None))
        )
        with Session(self.engine, expire_on_commit=False) as session:
            return session.exec(query).first()

    def end(self, session_id: str) -> None:
        with Session(self.engine) as session:
            session.execute(
                sa.update(WebSession)
                .where(col(WebSession.id_hash) == _digest(session_id))
                .where(col(WebSession.ended_at).is_(None))
                .values(ended_at=self.clock())
            )
            session.commit()
