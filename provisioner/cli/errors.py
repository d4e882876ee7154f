"""Errors to exit codes, once: 0 done, 1 the operation failed, 2 bad input."""

from __future__ import annotations

import json
import sys

from provisioner.rules.errors import (
    BudgetExceededError,
    NotFoundError,
    ProvisionerError,
    ValidationError,
)

BAD_INPUT = (ValidationError, NotFoundError, BudgetExceededError)


def exit_code_for(exc: BaseException) -> int | None:
    if isinstance(exc, BAD_INPUT):
        return 2
    if isinstance(exc, ProvisionerError):
        return 1
    if type(exc).__name__ == "ValidationError" and type(exc).__module__.startswith("pydantic"):
        return 2  # bad PROVISIONER_* settings
    return None


def one_line(exc: BaseException) -> str:
    if isinstance(exc, ProvisionerError):
        return exc.message.splitlines()[0] if exc.message else exc.code
    errors = getattr(exc, "errors", None)
    if callable(errors):  # pydantic: name the setting and the rule
        first = errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "settings"
        return f"setting PROVISIONER_{where.upper()}: {first.get('msg')}"
    if isinstance(exc, OSError) and exc.strerror:
        where = f" {exc.filename}" if exc.filename else ""
        return f"{exc.strerror}{where}"
    lines = str(exc).splitlines()
    detail = lines[0] if lines else ""
    # not a typed error: a bug or an unexpected failure; say what it was, in one line
    return f"unexpected {type(exc).__name__}: {detail} (PROVISIONER_DEBUG=1 shows the traceback)"


def report_error(exc: BaseException, *, json_mode: bool) -> None:
    from provisioner.cli.render import inert

    line = inert(one_line(exc))
    print(f"error: {line}", file=sys.stderr)
    if json_mode:
        code = exc.code if isinstance(exc, ProvisionerError) else "VALIDATION_ERROR"
        print(json.dumps({"success": False, "error": {"code": code, "message": line}}))
