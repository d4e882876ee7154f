"""Who may run code on the host of `serve --simulate` (#26).

A simulated VM is a folder and processes on the server's own host, run as the server's user: its
setup script runs there at "boot", and a key in its authorized_keys gives a shell there. A
non-admin token may therefore send neither `setupScript` nor its own `sshPublicKey` to the
simulated engine unless the operator sets PROVISIONER_SIM_ALLOW_USER_CODE=1 (a trusted team on
a laptop). Admin tokens can already act as anyone; real clouds run user code on the VM.
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


def refuse_user_code(state: ApiState, caller: Principal, request: ProvisionRequest) -> None:
    """PermissionDeniedError (403) naming the field; a body that is not valid stays a 400."""
    settings = state.settings
    if settings.engine != "simulated" or caller.admin or settings.sim_allow_user_code:
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
