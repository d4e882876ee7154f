"""Who may run code on the host of `serve --simulate` (#26).

A simulated VM is a folder and processes on the server's own host, run as the server's user: its
setup script runs there at "boot", a key in its authorized_keys gives a shell there, and a job's
command runs there on a pool's VM (#22). A non-admin token may therefore send none of
`setupScript`, its own `sshPublicKey` or a job to the simulated engine unless the operator sets
PROVISIONER_SIM_ALLOW_USER_CODE=1 (a trusted team on a laptop). Admin tokens can already act as
anyone; real clouds run user code on the VM.
"""

from __future__ import annotations

from provisioner.api.state import ApiState
from provisioner.ledger.tokens import Principal
from provisioner.rules.errors import PermissionDeniedError
from provisioner.rules.validation import ProvisionRequest

RULE = (
    "the simulated engine runs it as this server's user on this host; only admin tokens may "
    "send it unless the operator sets PROVISIONER_SIM_ALLOW_USER_CODE=1"
)


def _trusted(state: ApiState, caller: Principal) -> bool:
    settings = state.settings
    return settings.engine != "simulated" or caller.admin or settings.sim_allow_user_code


def refuse_job_command(state: ApiState, caller: Principal) -> None:
    """A job's command runs on a pool VM: on this host, as this server's user, when simulated."""
    if not _trusted(state, caller):
        raise PermissionDeniedError(f"command: {RULE}")


def refuse_user_code(state: ApiState, caller: Principal, request: ProvisionRequest) -> None:
    """PermissionDeniedError (403) naming the field; a body that is not valid stays a 400."""
    if _trusted(state, caller):
        return
    if not (request.setup_script or request.ssh_public_key):
        return
    state.service.validate(request)
    for field, value in (
        ("setupScript", request.setup_script),
        ("sshPublicKey", request.ssh_public_key),
    ):
        if value:
            raise PermissionDeniedError(f"{field}: {RULE}")
