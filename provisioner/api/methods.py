"""`Allow` that lists every method of a path (#10): Starlette's 405 names only the methods of the
one route it matched (so `/api/instances/{id}` said only GET, not DELETE), and nothing answered
OPTIONS. Here OPTIONS on a known path is 204 with `Allow`, and every 405 carries the full list,
both read from the app's OpenAPI paths (what clients are told the path supports)."""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

_PARAM = re.compile(r"\{[^/{}]+\}")


@cache
def _template(path: str) -> re.Pattern[str]:
    parts = _PARAM.split(path)
    return re.compile("^" + "[^/]+".join(re.escape(p) for p in parts) + "$")


def allowed_methods(app: Any, path: str) -> list[str]:
    """Every method the spec declares for this path (sorted), plus OPTIONS; [] if none."""
    for template, item in app.openapi().get("paths", {}).items():
        if _template(template).match(path):
            return sorted({method.upper() for method in item} | {"OPTIONS"})
    return []


class AllowMiddleware:
    def __init__(self, app: ASGIApp, *, routes_of: Any):
        self.app = app
        self.routes_of = routes_of  # the FastAPI app, whose spec lists the methods

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "OPTIONS":
            methods = allowed_methods(self.routes_of, scope["path"])
            if methods:
                headers = [(b"allow", ", ".join(methods).encode()), (b"content-length", b"0")]
                await send({"type": "http.response.start", "status": 204, "headers": headers})
                await send({"type": "http.response.body", "body": b""})
                return
        await self.app(scope, receive, send)
