"""Templates (Jinja2, autoescaped everywhere), their filters, and the headers every page carries."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2
from fastapi.responses import HTMLResponse

HERE = Path(__file__).parent
STATIC = HERE / "static"

# Only this app's own files: no inline script, no CDN, no framing, forms post only here.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; object-src 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",  # "no-referrer" would make form posts say Origin: null
    "Cache-Control": "no-store",
}


def money(value: float | None) -> str:
    if value is None:
        return "—"
    return f"${value:,.2f}" if abs(value) >= 10 else f"${value:,.4f}"


def span(seconds: float) -> str:
    """A duration as people read it: 45s, 12m, 2h 05m, 3d 4h."""
    seconds = int(abs(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, hours = seconds // 60, seconds // 3600
    if hours == 0:
        return f"{minutes}m"
    if hours < 48:
        return f"{hours}h {minutes % 60:02d}m"
    return f"{hours // 24}d {hours % 24}h"


def until(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return "—"
    delta = (moment - now).total_seconds()
    return f"in {span(delta)}" if delta > 0 else f"passed {span(delta)} ago"


def since(moment: datetime | None, now: datetime) -> str:
    return "—" if moment is None else span((now - moment).total_seconds())


def when(moment: datetime | None) -> str:
    return "—" if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def shown(value: Any) -> str:
    """Any JSON-able value as text (the template escapes it)."""
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, default=str)


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(money=money, when=when, shown=shown, span=span)
    env.globals.update(until=until, since=since)
    return env


ENV = _environment()


def page(
    name: str, status_code: int = 200, *, headers: dict[str, str] | None = None, **context: Any
) -> HTMLResponse:
    html = ENV.get_template(name).render(**context)
    return HTMLResponse(html, status_code=status_code, headers={**HEADERS, **(headers or {})})
