"""#25: an Azure create cut short leaves a VM the state forgot; the destroy deletes the NIC first
and Azure answers NicInUse, on every retry, while the VM bills on. Now the engine deletes the
resource group's content itself, VM first, then the rest in dependency order, retrying a NIC
Azure still reserves, and destroys the stack again.

Recorded answers (tests/data/leaks/azure-nicinuse.json) served by a real HTTP server on
127.0.0.1 that keeps the group's resources and answers as ARM does: a VM delete is a
long-running operation (202 + Azure-AsyncOperation), a NIC delete is refused with NicInUse while
a VM holds it and once more after (Azure's reservation)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from preflight_replay import arm_options

from provisioner.engine.pulumi.engine import PulumiEngine
from provisioner.rules.errors import DestroyFailedError
from stacks.spec import InstanceSpec

RECORDED = json.loads(
    (Path(__file__).resolve().parents[1] / "data" / "leaks" / "azure-nicinuse.json").read_text()
)
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMEMgR02k50mUgkreZfTH914oRZuMYV56LlztoBjLF7L t@e"


class FakeGroup:
    """One resource group's resources and the answers ARM gives about them."""

    def __init__(self, nic_reserved_after_vm: int = 1, refuse: dict[str, Any] | None = None):
        self.resources = {r["id"]: r for r in RECORDED["resources"]}
        self.log: list[tuple[str, str, int]] = []  # (method, resource type or path, status)
        self.operations: dict[str, int] = {}  # async operation -> polls left
        self.nic_reserved = nic_reserved_after_vm
        self.refuse = refuse or {}
        self.lock = threading.Lock()

    def vm_present(self) -> bool:
        return any(
            r["type"] == "Microsoft.Compute/virtualMachines" for r in self.resources.values()
        )

    def answer(self, method: str, path: str) -> tuple[int, dict[str, Any], dict[str, str]]:
        with self.lock:
            if method == "GET" and path.endswith("/resources"):
                return 200, {"value": list(self.resources.values())}, {}
            if method == "GET" and path.startswith("/operations/"):
                vm_id = path.split("/", 2)[2]
                self.operations[vm_id] -= 1
                if self.operations[vm_id] > 0:
                    return 200, {"status": "InProgress"}, {}
                self.resources.pop(vm_id, None)
                return 200, {"status": "Succeeded"}, {}
            if method != "DELETE" or path not in self.resources:
                return 404, {"error": {"code": "ResourceNotFound"}}, {}
            type_ = self.resources[path]["type"]
            if type_ in self.refuse:
                return 409, self.refuse[type_], {}
            if type_ == "Microsoft.Compute/virtualMachines":
                self.operations[path] = 2
                return 202, {}, {"Azure-AsyncOperation": f"/operations/{path}", "Retry-After": "1"}
            if type_ == "Microsoft.Network/networkInterfaces":
                if self.vm_present():
                    return 400, RECORDED["nicInUse"], {}
                if self.nic_reserved > 0:
                    self.nic_reserved -= 1
                    return 400, RECORDED["nicInUse"], {}
            del self.resources[path]
            return 200, {}, {}


@contextmanager
def arm(group: FakeGroup) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self, method: str) -> None:
            path = self.path.split("?", 1)[0]
            headers: dict[str, str] = {}
            if self.headers.get("Authorization") != "Bearer test-token":
                status, body = 401, {"error": {"code": "Unauthorized"}}
            else:
                status, body, headers = group.answer(method, path)
            what = "/".join(path.split("/providers/")[-1].split("/")[:2])
            group.log.append((method, "/operations/" if "/operations/" in path else what, status))
            data = json.dumps(body).encode()
            self.send_response(status)
            base = f"http://127.0.0.1:{port}"
            for name, value in headers.items():
                self.send_header(name, base + value if value.startswith("/") else value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._serve("GET")

        def do_DELETE(self) -> None:
            self._serve("DELETE")

        def log_message(self, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def azure_stack(
    engine: PulumiEngine, cli: Any, make_spec: Callable[..., InstanceSpec]
) -> list[float]:
    """A made Azure stack whose first destroy fails as azure-native does on NicInUse."""
    spec = make_spec(
        provider="AZURE", instance_type="Standard_NC4as_T4_v3", region="eastus", ssh_public_key=KEY
    )
    engine.up(spec, message="m")
    destroys: list[int] = []
    default_destroy = cli.handlers.get("destroy")

    def destroy(cli: Any, call: Any) -> Any:
        destroys.append(1)
        if len(destroys) == 1:
            cli.fail(RECORDED["destroyError"])
        cli.stacks[call.flag("--stack")].resources = 0
        return cli.ok("Resources:\n    - 3 deleted")

    assert default_destroy is None
    cli.handlers["destroy"] = destroy
    cli.handlers["stack export"] = lambda cli, call: cli.ok(json.dumps(RECORDED["state"]))
    cli.handlers["refresh"] = lambda cli, call: cli.ok("Refreshing")
    slept: list[float] = []
    engine.leak_sleep = slept.append
    return slept


def deletes(group: FakeGroup) -> list[tuple[str, int]]:
    return [(what, status) for method, what, status in group.log if method == "DELETE"]


def test_nicinuse_leak_vm_deleted_first_then_the_rest(
    engine: PulumiEngine, cli: Any, azure_stack: list[float]
) -> None:
    group = FakeGroup()
    with arm(group) as url:
        engine.azure_arm = arm_options(url)
        engine.destroy("inst-0001", message="provisioner destroy inst-0001")

    main = [v for v in cli.verbs() if v in ("destroy", "stack export", "refresh")]
    assert main == ["destroy", "stack export", "refresh", "destroy"]
    assert group.resources == {}, "nothing is left in the group"
    done = [what for what, status in deletes(group) if status < 300]
    assert done == [
        "Microsoft.Compute/virtualMachines",
        "Microsoft.Network/networkInterfaces",
        "Microsoft.Compute/disks",  # the OS disk and the IP wait for the VM and the NIC
        "Microsoft.Network/publicIPAddresses",
        "Microsoft.Network/virtualNetworks",
        "Microsoft.Network/networkSecurityGroups",
    ]
    # The VM's delete was waited for (polled until Succeeded) before the NIC was tried; the NIC
    # Azure still reserved answered NicInUse and was deleted on the retry, after a pause.
    nic = [s for what, s in deletes(group) if what == "Microsoft.Network/networkInterfaces"]
    assert nic == [400, 200]
    polls = [i for i, (m, what, _) in enumerate(group.log) if what.startswith("/operations/")]
    first_nic = next(i for i, e in enumerate(group.log) if e[1].endswith("networkInterfaces"))
    assert polls and max(polls) < first_nic
    assert 15.0 in azure_stack, "the NicInUse retry waited"


def test_another_refusal_fails_the_destroy_and_says_why(
    engine: PulumiEngine, cli: Any, azure_stack: list[float]
) -> None:
    refused = {"error": {"code": "ScopeLocked", "message": "The scope is locked"}}
    group = FakeGroup(refuse={"Microsoft.Compute/virtualMachines": refused})
    with arm(group) as url:
        engine.azure_arm = arm_options(url)
        with pytest.raises(DestroyFailedError) as err:
            engine.destroy("inst-0001", message="m")
    assert "ScopeLocked" in err.value.message and "NicInUse" in err.value.message
    assert err.value.kind == "transient"
    assert deletes(group) == [("Microsoft.Compute/virtualMachines", 409)], "nothing after the VM"
    assert cli.verbs().count("destroy") == 1


def test_a_destroy_failing_for_another_reason_does_not_touch_azure(
    engine: PulumiEngine, cli: Any, azure_stack: list[float]
) -> None:
    cli.handlers["destroy"] = lambda cli, call: cli.fail("error: AuthorizationFailed: no")
    group = FakeGroup()
    with arm(group) as url:
        engine.azure_arm = arm_options(url)
        with pytest.raises(DestroyFailedError):
            engine.destroy("inst-0001", message="m")
    assert group.log == []


VM_ID = next(r["id"] for r in RECORDED["resources"] if r["type"].endswith("virtualMachines"))


@pytest.mark.parametrize(
    ("power", "stopped"),
    [
        ("PowerState/stopped", True),
        ("PowerState/running", False),
        ("PowerState/deallocated", False),
    ],
)
def test_liveness_says_an_azure_vm_halted_from_inside_still_bills(
    engine: PulumiEngine, cli: Any, azure_stack: list[float], power: str, stopped: bool
) -> None:
    """#25: the idle guard's `shutdown -h now` leaves the VM allocated; liveness reads its power
    state (instanceView) so the sweep destroys it."""
    state = json.loads(json.dumps(RECORDED["state"]))
    vm = {"urn": "urn:pulumi:inst-0001::gpu-provisioner::azure-native:compute:VirtualMachine::vm"}
    state["deployment"]["resources"].append(
        {**vm, "custom": True, "id": VM_ID, "type": "azure-native:compute:VirtualMachine"}
    )
    cli.handlers["stack export"] = lambda cli, call: cli.ok(json.dumps(state))

    class Views(FakeGroup):
        def answer(self, method: str, path: str) -> tuple[int, dict[str, Any], dict[str, str]]:
            if method == "GET" and path == f"{VM_ID}/instanceView":
                statuses = [{"code": "ProvisioningState/succeeded"}, {"code": power}]
                return 200, {"statuses": statuses}, {}
            return super().answer(method, path)

    with arm(Views()) as url:
        engine.azure_arm = arm_options(url)
        check = engine.liveness("inst-0001")
    assert check.alive is True
    assert check.stopped is stopped
    assert ("PowerState/stopped" in check.detail) is stopped
