"""Errors to HTTP, once, for every route.

Typed errors keep their code and message. Request validation (malformed JSON, wrong types, missing
or unknown fields, bad query parameters) is a 400 naming the field and the rule, never FastAPI's
422. Anything unexpected is a 500 that says only where to look (the server log, by error id).
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from provisioner.ledger.models import InstanceOut
from provisioner.rules.errors import (
    AuthenticationError,
    CloudError,
    ConflictError,
    EngineUnavailableError,
    InvalidTransitionError,
    NotFoundError,
    PermissionDeniedError,
    ProvisionerError,
    ValidationError,
)

log = logging.getLogger(__name__)

# First match wins (subclasses before their bases).
STATUS_BY_TYPE: tuple[tuple[type[ProvisionerError], int], ...] = (
    (ValidationError, 400),
    (AuthenticationError, 401),
    (PermissionDeniedError, 403),
    (NotFoundError, 404),
    (InvalidTransitionError, 409),
    (ConflictError, 409),
    (EngineUnavailableError, 503),
    (CloudError, 502),  # provisioning or destroy failed in the cloud
)
# By code, for errors defined elsewhere (BudgetExceededError of #5).
STATUS_BY_CODE = {"BUDGET_EXCEEDED": 402, "RATE_LIMITED": 429}

HTTP_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    406: "NOT_ACCEPTABLE",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    429: "RATE_LIMITED",
}

# Field paths as the seed's messages name them (`error.message.includes('Disk size')`).
LABELS = {
    "config.provider": "Provider",
    "config.instanceType": "Instance type",
    "config.region": "Region",
    "config.diskSizeGB": "Disk size",
    "config.autoTerminateMinutes": "Auto-terminate",
    "config.tags": "Tags",
    "config.sshPublicKey": "SSH key",
    "config.allowedSshCidrs": "Allowed SSH CIDRs",
    "config.setupScript": "Setup script",
    "config.idleMinutes": "Idle minutes",
    "userId": "User id",
    "taskId": "Task id",
    "purpose": "Purpose",
    "minutes": "Extension",
    "status": "Status",
}

RULES = {
    "int_type": "must be an integer",
    "int_parsing": "must be an integer",
    "int_from_float": "must be an integer",
    "string_type": "must be a string",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "dict_type": "must be a JSON object",
    "model_type": "must be a JSON object",
    "model_attributes_type": "must be a JSON object",
    "list_type": "must be a JSON array",
    "missing": "is required",
    "extra_forbidden": "is not a known field",
}


class OperationFailedError(Exception):
    """A long operation (up, destroy) failed: the error envelope plus the instance as it is now."""

    def __init__(self, error: ProvisionerError, instance: InstanceOut):
        super().__init__(error.message)
        self.error = error
        self.instance = instance


def status_for(exc: ProvisionerError) -> int:
    if exc.code in STATUS_BY_CODE:
        return STATUS_BY_CODE[exc.code]
    for kind, status in STATUS_BY_TYPE:
        if isinstance(exc, kind):
            return status
    return 500


def envelope(
    code: str, message: str, *, field: str | None = None, instance: InstanceOut | None = None
) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if field:
        error["field"] = field
    body: dict[str, Any] = {"success": False, "error": error}
    if instance is not None:
        body["instance"] = instance.to_json()
    return body


def _response(status: int, body: dict[str, Any]) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, headers=headers)


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def describe_validation(errors: list[Any]) -> tuple[str, str]:
    """(field, message) for the first of pydantic's errors, worded like the service's rules."""
    if not errors:
        return "body", "Request is not valid"
    first = errors[0]
    kind = first.get("type", "")
    loc = [str(p) for p in first.get("loc", ())]
    where = loc[0] if loc else "body"
    path = ".".join(loc[1:])
    if kind == "json_invalid":
        reason = (first.get("ctx") or {}).get("error", "malformed")
        return "body", f"Request body is not valid JSON ({reason})"
    if not path:
        if kind == "missing":
            return "body", "Request body is required: a JSON object"
        if isinstance(first.get("input"), bytes | str):
            return "body", "Request body must be a JSON object (Content-Type: application/json)"
        return "body", "Request body must be a JSON object"
    parts = path.split(".")
    label = next(
        (
            LABELS[".".join(parts[:n])]
            for n in range(len(parts), 0, -1)
            if ".".join(parts[:n]) in LABELS
        ),
        None,
    )
    name = f"{label} ({path})" if label else path
    if where == "header":
        name = f"header {path}"
    elif where == "query":
        name = f"query parameter {path}"
    rule = RULES.get(kind)
    if rule is None:
        message = str(first.get("msg", "is not valid"))
        rule = message[0].lower() + message[1:] if message else "is not valid"
    if kind == "extra_forbidden":
        return path, f"Unknown field {path}: not part of the request (check its spelling)"
    if kind == "missing":
        return path, f"{name} {rule}"
    return path, f"{name} {rule} (got {_shown(first.get('input'))})"


def install_error_handlers(app: FastAPI) -> None:
    async def provisioner_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ProvisionerError)
        status = status_for(exc)
        if status == 500:
            return await unexpected(_request, exc)
        return _response(status, envelope(exc.code, exc.message, field=getattr(exc, "field", None)))

    async def operation_failed(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, OperationFailedError)
        return _response(
            status_for(exc.error),
            envelope(exc.error.code, exc.error.message, instance=exc.instance),
        )

    async def request_invalid(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        field, message = describe_validation(list(exc.errors()))
        return _response(400, envelope(ValidationError.code, message, field=field))

    async def http_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = HTTP_CODES.get(exc.status_code, "HTTP_ERROR")
        message = exc.detail if isinstance(exc.detail, str) else code
        response = _response(exc.status_code, envelope(code, message))
        for name, value in (exc.headers or {}).items():
            response.headers[name] = value
        if exc.status_code == 405:  # every method of the path, not just one route's (#10)
            from provisioner.api.methods import allowed_methods

            methods = allowed_methods(_request.app, _request.url.path)
            if methods:
                response.headers["Allow"] = ", ".join(methods)
        return response

    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        error_id = secrets.token_hex(6)
        log.error(
            "unexpected error %s on %s %s",
            error_id,
            request.method,
            request.url.path,
            exc_info=(type(exc), exc, exc.__traceback__),
        )
        return _response(
            500,
            envelope(
                "INTERNAL_ERROR",
                f"Internal server error; the server log has the details under error id {error_id}",
            ),
        )

    app.add_exception_handler(ProvisionerError, provisioner_error)
    app.add_exception_handler(OperationFailedError, operation_failed)
    app.add_exception_handler(RequestValidationError, request_invalid)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)
