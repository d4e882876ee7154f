"""Reading the dashboard's forms (application/x-www-form-urlencoded, parsed here: no multipart)."""

from __future__ import annotations

from urllib.parse import parse_qsl

from fastapi import Request

from provisioner.rules.errors import ValidationError

MAX_FORM_BYTES = 64 * 1024


async def read_form(request: Request) -> dict[str, str]:
    """The form's fields (the last value of a repeated name wins)."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise ValidationError("form", f"Form too large (at most {MAX_FORM_BYTES} bytes)")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationError("form", "Form must be UTF-8") from None
    return dict(parse_qsl(text, keep_blank_values=True))


def whole_number(field: str, label: str, text: str | None) -> int | None:
    """'' is None (the API's default); anything else must be a whole number."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        raise ValidationError(field, f"{label} must be a whole number (got {text!r})") from None


def decimal_text(field: str, label: str, text: str | None) -> float | None:
    text = (text or "").strip()
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        raise ValidationError(field, f"{label} must be a number (got {text!r})") from None
