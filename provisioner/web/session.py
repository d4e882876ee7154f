"""Signing in to the dashboard, and why a forged request cannot act.

The bearer token a user signs in with is kept in an HttpOnly, SameSite=Strict session cookie
(never in a URL, never readable by the page's JavaScript). Every state-changing request is a POST
that must carry a CSRF token bound to that session (an HMAC of the bearer token, so it cannot be
computed without it) and, when the browser sends one, an Origin that is this server's own.
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
from provisioner.rules.errors import AuthenticationError, PermissionDeniedError

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


def csrf_for(token: str) -> str:
    return hmac.new(token.encode(), b"provisioner-dashboard-csrf", hashlib.sha256).hexdigest()


def current(request: Request) -> Session | None:
    """The signed-in session, or None (no cookie, or a token revoked since)."""
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    try:
        principal = get_state(request).tokens.verify(token)
    except AuthenticationError:
        return None
    return Session(principal, csrf_for(token))


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


def sign_in(response: Response, request: Request, token: str) -> None:
    response.set_cookie(
        COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )


def sign_out(response: Response) -> None:
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
