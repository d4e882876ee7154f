"""The OpenAPI document says what the server enforces (#10).

Request models stay lenient at parse time (the service's own checks word the 400s the seed's
clients expect), so their rules are stated here instead: enums and patterns (providers, statuses,
ids), ranges (disk, lifetime, extension, from the settings in force), "at least one of" (budgets),
and every status the middleware and the server can answer with (402, 413, 429, 500, 503).
Rules the schema cannot state (an instance type offered by that provider in that region, an SSH
key's embedded type, a CIDR, an extension past the hard deadline, an opaque cursor) stay 400s
described in the operation's text.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from provisioner.config import Settings
from provisioner.ops.budgets import MAX_INSTANCES_CAP, MAX_USD
from provisioner.rules.catalog import PROVIDERS, Catalog
from provisioner.rules.lifecycle import Status
from provisioner.rules.validation import (
    MAX_DISK_GB,
    MAX_PURPOSE,
    MAX_TAG_KEY,
    MAX_TAG_VALUE,
    MAX_TAGS,
    MIN_DISK_GB,
    RESERVED_TAG_PREFIXES,
)

ID = r"^[A-Za-z0-9._-]{1,64}$"
ONE_LINE = r"^[^\x00-\x08\x0a-\x1f]*$"
ERROR = {"$ref": "#/components/schemas/ErrorOut"}


def any_case(word: str) -> str:
    """A regex matching `word` in any ASCII letter case (JSON Schema has no (?i))."""
    return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else _escape(c) for c in word)


def _escape(char: str) -> str:
    return "\\" + char if char in r".^$*+?()[]{}|\/-" else char


def one_of_words(words: list[str]) -> str:
    return "^(?:" + "|".join(any_case(w) for w in words) + ")$"


TAG_KEY = (
    "^(?!"
    + "|".join(any_case(p) for p in RESERVED_TAG_PREFIXES)
    + r")[^<>%&\\?/]{1,"
    + str(MAX_TAG_KEY)
    + "}$"
)

EXTRA_RESPONSES: dict[str, tuple[str, set[str] | None]] = {
    # status: (description, only these "METHOD path" or None for every /api operation)
    "401": ("Missing, invalid or revoked token (checked before the body is read)", None),
    "402": ("Over the user's budget (BUDGET_EXCEEDED)", {"POST /api/instances"}),
    "413": ("Request body larger than PROVISIONER_MAX_BODY_BYTES (default 64 KiB)", None),
    "429": ("Over the token's PROVISIONER_RATE_LIMIT; see Retry-After", None),
    "500": ("Unexpected error; the server log has it under the error id", None),
    "503": ("Over serve --limit-concurrency, or the engine is unavailable", None),
}


def _set(schema: dict[str, Any], **rules: Any) -> None:
    """Add rules to a property schema (beside an `anyOf` with null for optional fields)."""
    schema.update(rules)


def _constrain(spec: dict[str, Any], settings: Settings, catalog: Catalog) -> None:
    schemas = spec.get("components", {}).get("schemas", {})
    config = schemas.get("ConfigIn", {}).get("properties", {})
    if config:
        # ANY: every cloud, with a gpu spec (#12).
        _set(config["provider"], pattern=one_of_words([*PROVIDERS, "ANY"]))
        types = catalog.for_provider(None)
        _set(config["instanceType"], enum=sorted({t.name for t in types}))
        regions = sorted({r for t in types for r in t.regions} | {"any"})  # any: every region
        for option in config["region"].get("anyOf", []):
            if option.get("type") == "string":
                option["pattern"] = one_of_words(regions)
        _set(config["diskSizeGB"], minimum=MIN_DISK_GB, maximum=MAX_DISK_GB)
        _set(
            config["autoTerminateMinutes"],
            minimum=settings.min_ttl_minutes,
            maximum=settings.max_ttl_minutes,
        )
        for option in config["tags"].get("anyOf", [config["tags"]]):
            if option.get("type") == "object":
                option.update(
                    maxProperties=MAX_TAGS,
                    propertyNames={"pattern": TAG_KEY},
                    additionalProperties={"type": "string", "maxLength": MAX_TAG_VALUE},
                )
    provision = schemas.get("ProvisionIn", {}).get("properties", {})
    if provision:
        _set(provision["userId"], pattern=ID)
        _set(provision["taskId"], pattern=ID)
        _set(provision["purpose"], maxLength=MAX_PURPOSE, pattern=ONE_LINE)
    extend = schemas.get("ExtendIn", {}).get("properties", {})
    if extend:
        _set(extend["minutes"], minimum=1, maximum=settings.max_ttl_minutes)
    status = schemas.get("StatusIn", {}).get("properties", {})
    if status:
        _set(status["status"], pattern=one_of_words([Status.RUNNING.value, Status.READY.value]))
    budget = schemas.get("BudgetIn")
    if budget:
        for name in ("dailyUsd", "monthlyUsd"):
            _set(budget["properties"][name], minimum=0, maximum=float(MAX_USD))
        _set(budget["properties"]["maxInstances"], minimum=0, maximum=MAX_INSTANCES_CAP)
        budget["anyOf"] = [
            {"required": [name], "properties": {name: {"not": {"type": "null"}}}}
            for name in ("dailyUsd", "monthlyUsd", "maxInstances")
        ]


def _parameters(spec: dict[str, Any]) -> None:
    statuses = one_of_words([s.value for s in Status])
    for path, item in spec.get("paths", {}).items():
        providers = [*PROVIDERS, "ANY"] if path == "/api/offers" else list(PROVIDERS)
        for operation in item.values():
            for parameter in operation.get("parameters", []):
                name, schema = parameter["name"], parameter.get("schema", {})
                if name in ("instance_id", "userId", "user_id"):
                    target = schema.get("anyOf", [schema])
                    for option in target:
                        if option.get("type") == "string":
                            option["pattern"] = ID
                elif name == "status" and parameter["in"] == "query":
                    for option in schema.get("anyOf", [schema]):
                        if option.get("type") == "string":
                            option["pattern"] = statuses
                elif name.lower() == "idempotency-key":
                    for option in schema.get("anyOf", [schema]):
                        if option.get("type") == "string":
                            option.update(pattern=r"^[\x21-\x7e]{1,255}$")
                elif name == "provider" and parameter["in"] == "query":
                    for option in schema.get("anyOf", [schema]):
                        if option.get("type") == "string":
                            option["pattern"] = one_of_words(providers)


def _responses(spec: dict[str, Any]) -> None:
    for path, item in spec.get("paths", {}).items():
        for method, operation in item.items():
            responses = operation.setdefault("responses", {})
            label = f"{method.upper()} {path}"
            for status, (description, only) in EXTRA_RESPONSES.items():
                if not path.startswith("/api") and status != "500":
                    continue
                if only is not None and label not in only:
                    continue
                responses.setdefault(
                    status,
                    {
                        "description": description,
                        "content": {"application/json": {"schema": ERROR}},
                    },
                )


def document_limits(app: FastAPI, settings: Settings, catalog: Catalog) -> None:
    """Replace the app's `openapi()` with one that adds the rules above (built once)."""
    original: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            spec = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            _constrain(spec, settings, catalog)
            _parameters(spec)
            _responses(spec)
            app.openapi_schema = spec
        return app.openapi_schema

    del original
    app.openapi = openapi  # type: ignore[method-assign]
