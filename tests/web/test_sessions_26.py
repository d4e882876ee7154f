"""Dashboard sessions (#26, points 9 and 10): the cookie is a server-side session id, not the API
token, and signing out ends it even for a copy of the cookie; behind a TLS proxy,
`serve --proxy-headers` lets sign-in through and makes the cookie Secure."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from apiclient import Api, build_api
from serving import Replica, start_replicas, stop

from provisioner.config import Settings
from provisioner.ledger.ledger import Ledger
from provisioner.ledger.tokens import Tokens
from provisioner.ops.service import Provisioner
from provisioner.web.session import COOKIE


def csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert found is not None
    return found.group(1)


@pytest.fixture
def api(service: Provisioner) -> Iterator[Api]:
    yield from build_api(service)


def test_the_cookie_is_a_session_id_that_sign_out_ends_for_every_copy(api: Api) -> None:
    token, _ = api.app.state.api.tokens.create("alice")
    signed = api.client.post("/signin", data={"token": token}, follow_redirects=False)
    cookie = api.client.cookies.get(COOKIE)
    page = api.client.get("/")
    out = api.client.post("/signout", data={"csrf": csrf(page.text)}, follow_redirects=False)
    api.client.cookies.set(COOKIE, cookie or "")  # a copy kept from before the sign-out
    replayed = api.client.get("/", follow_redirects=False)
    api.client.cookies.set(COOKIE, token)  # the raw token is no session either
    raw = api.client.get("/", follow_redirects=False)

    assert signed.status_code == 303
    assert cookie and cookie != token and token not in signed.headers["set-cookie"]
    assert page.status_code == 200 and "alice" in page.text
    assert out.status_code == 303
    assert (replayed.status_code, replayed.headers["location"]) == (303, "/signin")
    assert (raw.status_code, raw.headers["location"]) == (303, "/signin")


@pytest.fixture
def token(home: Path, database: str | None) -> str:
    settings = Settings(home=home, database_url=database)
    settings.ensure_home()
    ledger = Ledger(settings.effective_database_url)
    made, _ = Tokens(ledger, lambda: datetime.now(UTC)).create("alice")
    ledger.dispose()
    return made


@pytest.fixture
def proxied(home: Path, database: str | None, token: str) -> Iterator[Replica]:
    [replica] = start_replicas(
        home, database, 1, "--proxy-headers", "--forwarded-allow-ips", "127.0.0.1"
    )
    yield replica
    stop([replica])


def sign_in_through_a_tls_proxy(base: str, token: str) -> httpx.Response:
    """What nginx terminating TLS for https://dash.example sends on."""
    return httpx.post(
        f"{base}/signin",
        data={"token": token},
        headers={
            "Host": "dash.example",
            "Origin": "https://dash.example",
            "X-Forwarded-Proto": "https",
            "X-Forwarded-For": "203.0.113.9",
        },
    )


def test_behind_a_tls_proxy_sign_in_works_and_the_cookie_is_secure(proxied: Replica, token):
    response = sign_in_through_a_tls_proxy(proxied.base, token)

    assert response.status_code == 303, response.text
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=") and "Secure" in cookie and token not in cookie


def test_without_proxy_headers_the_same_sign_in_is_cross_site(home, database, token):
    [plain] = start_replicas(home, database, 1)
    try:
        response = sign_in_through_a_tls_proxy(plain.base, token)
    finally:
        stop([plain])

    assert response.status_code == 403
