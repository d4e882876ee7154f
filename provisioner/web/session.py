"""Signing in to the dashboard, and why a forged request cannot act.

Signing in with a bearer token opens a server-side session (ledger/web_sessions.py, #26): the
HttpOnly, SameSite=Strict cookie holds a random session id, never the token (never in a URL, never
readable by the page's JavaScript), and is `Secure` when the request came over HTTPS (behind a TLS
proxy: `serve --proxy-headers`). Signing out ends the session on the server, so the old cookie no
longer signs anyone in; revoking the token ends its sessions too. Every state-changing request is
a POST that must carry a CSRF token bound to that session (an HMAC of the session id, so it cannot
be computed without it) and, when the browser sends one, an Origin that is this server's own.
A cross-site page therefore can neither send the cookie (SameSite=Strict) nor know the token.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from fastapi import Request
from fastapi.responses import Response

from provisioner.api.state import get_state
from provisioner.ledger.tokens import Principal
from provisioner.ledger.web_sessions import WebSessions
from provisioner.rules.errors import PermissionDeniedError

COOKIE = "provisioner_session"


@dataclass(frozen=True)
class Session:
    principal: Principal
    csrf: str

    @property
    def user_id(self) -> str:
        return self.principal.user_id

    @property
    def admin(self) -> bool:
        return self.principal.admin


def csrf_for(session_id: str) -> str:
    return hmac.new(session_id.encode(), b"provisioner-dashboard-csrf", hashlib.sha256).hexdigest()


def store(request: Request) -> WebSessions:
    service = get_state(request).service
    return WebSessions(service.ledger.engine, service.clock)


def current(request: Request) -> Session | None:
    """The signed-in session, or None (no cookie, signed out, expired, or its token revoked)."""
    session_id = request.cookies.get(COOKIE)
    if not session_id or len(session_id) > 128:
        return None
    token = store(request).resolve(session_id)
    if token is None:
        return None
    return Session(Principal(token.user_id, token.admin, token.id), csrf_for(session_id))


def check_origin(request: Request) -> None:
    """Refuse a POST another site's page made (the browser names the page's origin)."""
    origin = request.headers.get("origin")
    own = f"{request.url.scheme}://{request.url.netloc}"
    if origin is not None and origin != own:
        raise PermissionDeniedError(f"Cross-site request refused (origin {origin})")
    if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        raise PermissionDeniedError("Cross-site request refused")


def check_csrf(request: Request, session: Session, sent: str | None) -> None:
    check_origin(request)
    if not sent or not hmac.compare_digest(sent, session.csrf):
        raise PermissionDeniedError("The form's CSRF token is missing or stale; reload the page")


def sign_in(response: Response, request: Request, principal: Principal) -> None:
    response.set_cookie(
        COOKIE,
        store(request).open(principal.token_id),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )


def sign_out(response: Response, request: Request) -> None:
    session_id = request.cookies.get(COOKIE)
    if session_id and len(session_id) <= 128:
        store(request).end(session_id)
    response.delete_cookie(
        COOKIE, path="/", httponly=True, samesite="strict", secure=request.url.scheme == "https"
    )
