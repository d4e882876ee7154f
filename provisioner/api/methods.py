"""`Allow` that lists every method of a path (#10): Starlette's 405 names only the methods of the
one route it matched (so `/api/instances/{id}` said only GET, not DELETE), and nothing answered
OPTIONS. Here OPTIONS on a known path is 204 with `Allow`, and every 405 carries the full list."""

from __future__ import annotations

from typing import Any

from starlette.routing import Match, Route
from starlette.types import ASGIApp, Receive, Scope, Send


def allowed_methods(app: Any, scope: Scope) -> list[str]:
    """Every method some route serves at this path (sorted), plus OPTIONS; [] if none does."""
    methods: set[str] = set()
    probe = {**scope, "method": "GET"}
    for route in app.routes:
        if not isinstance(route, Route) or route.methods is None:
            continue
        match, _ = route.matches({**probe, "method": next(iter(route.methods))})
        if match is Match.FULL:
            methods |= set(route.methods)
    if not methods:
        return []
    return sorted(methods | {"OPTIONS"})


class AllowMiddleware:
    def __init__(self, app: ASGIApp, *, routes_of: Any):
        self.app = app
        self.routes_of = routes_of  # the FastAPI app, whose routes are read per request

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "OPTIONS":
            methods = allowed_methods(self.routes_of, scope)
            if methods:
                headers = [(b"allow", ", ".join(methods).encode()), (b"content-length", b"0")]
                await send({"type": "http.response.start", "status": 204, "headers": headers})
                await send({"type": "http.response.body", "body": b""})
                return
        await self.app(scope, receive, send)
