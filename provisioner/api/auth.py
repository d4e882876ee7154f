"""Bearer tokens to a principal, and the rules of who may act for whom."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from provisioner.api.guard import PRINCIPAL
from provisioner.api.state import ApiState, get_state
from provisioner.ledger.models import InstanceOut
from provisioner.ledger.tokens import Principal
from provisioner.rules.errors import NotFoundError, PermissionDeniedError, shown_id
from provisioner.rules.validation import validate_id

bearer = HTTPBearer(
    auto_error=False,
    description="A token from `provisioner token create --user USER [--admin]`",
)


def principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    state: Annotated[ApiState, Depends(get_state)],
) -> Principal:
    verified = request.scope.get("state", {}).get(PRINCIPAL)
    if isinstance(verified, Principal):  # checked by the guard before the body was read
        return verified
    token = credentials.credentials if credentials is not None else None
    return state.tokens.verify(token)


Caller = Annotated[Principal, Depends(principal)]
State = Annotated[ApiState, Depends(get_state)]


def acting_user(caller: Principal, requested: str | None, *, everyone: bool = False) -> str | None:
    """The user a request acts for: the named one if the caller may, else the caller.

    `everyone`: an admin who names nobody acts on all users (list, statistics).
    """
    if requested is None:
        return None if (caller.admin and everyone) else caller.user_id
    validate_id("userId", "User id", requested)
    if requested != caller.user_id and not caller.admin:
        raise PermissionDeniedError(
            f"This token belongs to user {caller.user_id}; it cannot act as user {requested}"
        )
    return requested


def owned_instance(state: ApiState, caller: Principal, instance_id: str) -> InstanceOut:
    """The instance, if the caller may see it; another user's instance does not exist for them."""
    try:
        instance = state.service.get(instance_id)
    except NotFoundError:
        raise NotFoundError(f"Instance {shown_id(instance_id)} not found") from None
    if not caller.admin and instance.user_id != caller.user_id:
        raise NotFoundError(f"Instance {shown_id(instance_id)} not found")
    return instance
