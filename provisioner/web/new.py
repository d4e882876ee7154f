"""The new-instance form: the API's rules, its errors shown next to the field they name."""

from __future__ import annotations

from typing import Annotated, Any

import pydantic
from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import RedirectResponse

from provisioner.api import routes_instances
from provisioner.api.errors import describe_validation
from provisioner.api.schemas import ProvisionIn
from provisioner.api.state import ApiState, get_state
from provisioner.rules.errors import ProvisionerError, ValidationError
from provisioner.rules.validation import DEFAULT_REGIONS
from provisioner.web import session as sessions
from provisioner.web.forms import read_form, whole_number
from provisioner.web.render import page
from provisioner.web.session import Session

router = APIRouter(include_in_schema=False)
State = Annotated[ApiState, Depends(get_state)]
MaybeSignedIn = Annotated[Session | None, Depends(sessions.current)]
FIELDS = (
    "provider",
    "instanceType",
    "region",
    "diskSizeGB",
    "autoTerminateMinutes",
    "tags",
    "taskId",
    "purpose",
    "sshPublicKey",
    "allowedSshCidrs",
    "userId",
)


def form_field(api_field: str) -> str:
    """The form's input for an API error's `field` ("config.diskSizeGB" -> "diskSizeGB")."""
    name = api_field.removeprefix("body.").removeprefix("config.").split(".")[0]
    return name if name in FIELDS else "form"


def parse_tags(text: str) -> dict[str, str]:
    tags: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise ValidationError("config.tags", f"Tags: line {number} must be key=value")
        tags[key.strip()] = value.strip()
    return tags


def body_from(form: dict[str, str], session: Session) -> dict[str, Any]:
    def text(name: str) -> str | None:
        value = form.get(name, "").strip()
        return value or None

    config: dict[str, Any] = {
        "provider": form.get("provider", ""),
        "instanceType": form.get("instanceType", ""),
        "region": text("region"),
        "diskSizeGB": whole_number("config.diskSizeGB", "Disk size", form.get("diskSizeGB")),
        "autoTerminateMinutes": whole_number(
            "config.autoTerminateMinutes", "Auto-terminate", form.get("autoTerminateMinutes")
        ),
        "tags": parse_tags(form.get("tags", "")),
        "sshPublicKey": text("sshPublicKey"),
        "allowedSshCidrs": (form.get("allowedSshCidrs") or "").replace(",", " ").split() or None,
    }
    body: dict[str, Any] = {
        "taskId": text("taskId"),
        "purpose": text("purpose"),
        "config": {k: v for k, v in config.items() if v is not None},
    }
    if session.admin and text("userId"):
        body["userId"] = text("userId")
    return {k: v for k, v in body.items() if v is not None}


def form_page(
    state: ApiState,
    session: Session,
    values: dict[str, str],
    errors: dict[str, str],
    status_code: int = 200,
) -> Response:
    catalog = state.service.catalog
    types = [t for t in catalog.for_provider() if not t.retired]
    providers = sorted({t.provider for t in types})
    settings = state.settings
    return page(
        "new.html",
        status_code,
        session=session,
        now=state.service.clock(),
        values={**{name: "" for name in FIELDS}, **values},
        errors=errors,
        providers=providers,
        types=types,
        regions={p: catalog.regions(p) for p in providers},
        default_regions=DEFAULT_REGIONS,
        ttl=(settings.min_ttl_minutes, settings.default_ttl_minutes, settings.max_ttl_minutes),
    )


@router.get("/new")
def new_form(state: State, session: MaybeSignedIn) -> Response:
    if session is None:
        return RedirectResponse("/signin", status_code=303)
    return form_page(state, session, {"diskSizeGB": "100"}, {})


@router.post("/new")
async def create(request: Request, state: State, session: MaybeSignedIn) -> Response:
    if session is None:
        return RedirectResponse("/signin", status_code=303)
    form = await read_form(request)
    values = {k: v for k, v in form.items() if k in FIELDS}
    try:
        sessions.check_csrf(request, session, form.get("csrf"))
        body = ProvisionIn.model_validate(body_from(form, session))
        envelope = await routes_instances.provision(
            body, session.principal, state, Response(), wait=False, idempotency_key=None
        )
    except pydantic.ValidationError as exc:
        errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]
        field, message = describe_validation(errors)
        return form_page(state, session, values, {form_field(field): message}, 400)
    except ProvisionerError as exc:
        field = form_field(getattr(exc, "field", None) or "form")
        return form_page(state, session, values, {field: exc.message}, 400)
    return RedirectResponse(f"/instances/{envelope.instance.id}", status_code=303)
