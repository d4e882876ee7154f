"""Using a VM: its SSH target (key, user, pinned host key, endpoint), readiness over SSH, remote
commands that move it RUNNING and back to READY, and the sweep of key files and endpoints.

Composes remote/ (keys, ssh, run logs) with the ledger, the lifecycle and the engines.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable, Sequence
from datetime import timedelta

from provisioner.engine.base import SshEndpoint
from provisioner.ledger.models import Instance
from provisioner.ops.service_core import ServiceCore, _ended, log
from provisioner.remote import keys, runlog, ssh
from provisioner.remote.ssh import HostKeyMismatchError, RemoteError, Sink, SshTarget
from provisioner.rules.errors import ConflictError, ProvisioningFailedError
from provisioner.rules.lifecycle import Status
from stacks.spec import ssh_user_for

LIVE = (Status.CONFIGURING.value, Status.READY.value, Status.RUNNING.value)
# Waits for cloud-init (and so for the setup script it runs), then prints the setup script's
# exit status when there was one. Exit 0 (done) or 2 (done with recoverable errors) is usable.
READY_COMMAND = (
    "cloud-init status --wait >/dev/null 2>&1; rc=$?; "
    f'cat "{ssh.SANDBOX}/var/lib/provisioner/setup.rc" 2>/dev/null; exit $rc'
)
# The setup log is copied back as its last SETUP_LOG_TAIL_BYTES only, cut on the VM (#26: 300 MB
# of output was read whole into the server's memory and written whole to setup.log).
SETUP_LOG_TAIL_BYTES = 1024 * 1024
SETUP_LOG_COMMAND = (
    f'f="{ssh.SANDBOX}/var/log/provisioner-setup.log"; s=$(wc -c < "$f") || exit 1; '
    f'if [ "$s" -gt {SETUP_LOG_TAIL_BYTES} ]; then '
    f'echo "[setup log: the first $((s - {SETUP_LOG_TAIL_BYTES})) of $s bytes are left '
    'on the VM]"; '
    f'fi; tail -c {SETUP_LOG_TAIL_BYTES} "$f"'
)
AUTH_DENIED = "Permission denied (publickey"
# With the user's own key (no private half here), how long sshd may refuse our identities before
# readiness stops waiting for SSH: cloud-init installs the key shortly after sshd starts, so an
# early refusal is not final. The simulated VM has its authorized_keys before its sshd starts.
OWN_KEY_REFUSED_SECONDS = 120.0


def reachable_from(cidrs: Sequence[str], here: str | None) -> bool:
    """Whether the allowed CIDRs let `here` in (unknown `here`: any CIDR at all)."""
    networks = [ipaddress.ip_network(c, strict=False) for c in cidrs]
    if here is None:
        return bool(networks)
    address = ipaddress.ip_address(here)
    return any(address in network for network in networks)


class RemoteAccess(ServiceCore):
    # -- where and how to connect ---------------------------------------------------------------

    def _endpoint(self, instance: Instance, *, revive: bool) -> SshEndpoint | None:
        return self.engine_for(instance.engine).ssh_endpoint(instance.stack_name, revive=revive)

    def ssh_target(self, instance: Instance, endpoint: SshEndpoint | None = None) -> SshTarget:
        home = self.settings.home
        key_file = keys.key_path(home, instance.id)
        if endpoint is None and self.engine_for(instance.engine).simulated:
            endpoint = self._endpoint(instance, revive=True)
        if endpoint is not None:
            host, port, user = endpoint.host, endpoint.port, endpoint.user
        else:
            host = instance.public_ip or ""
            port, user = 22, ssh_user_for(instance.provider) or "root"
        if not host:
            raise RemoteError(f"Instance {instance.id} has no address to connect to")
        return SshTarget(
            host=host,
            port=port,
            user=user,
            known_hosts=keys.known_hosts_path(home, instance.id),
            key_file=key_file if key_file.is_file() else None,
            simulated=endpoint is not None,
        )

    def _ssh_command(self, instance: Instance) -> str | None:
        if instance.status not in LIVE or not instance.allowed_ssh_cidrs:
            return None  # gone, or its firewall lets nobody in: no command would work
        try:
            # Only the simulated engine has local endpoints; don't build (import) others for this.
            endpoint = (
                self._endpoint(instance, revive=False) if instance.engine == "simulated" else None
            )
            if endpoint is None and not instance.public_ip:
                return None
            return ssh.display_command(self.ssh_target(instance, endpoint))
        except Exception:  # the JSON shape must never fail for a display string
            log.debug("no ssh command for %s", instance.id, exc_info=True)
            return None

    def live_target(self, instance_id: str) -> tuple[Instance, SshTarget]:
        instance = self.ledger.require(instance_id)
        if instance.status not in (Status.READY.value, Status.RUNNING.value):
            raise ConflictError(
                f"Instance {instance_id} is {instance.status}; it must be READY or RUNNING"
            )
        if not instance.allowed_ssh_cidrs:
            # Its firewall lets nobody in: say so instead of a connect timeout (or, on the
            # simulation, ssh's "Permission denied") and a run log of nothing.
            raise ConflictError(
                f"Instance {instance_id} accepts no SSH: it was created without "
                "--allow-ssh-from (a CIDR, or `me`); create one with it to connect"
            )
        return instance, self.ssh_target(instance)

    # -- READY means usable ---------------------------------------------------------------------

    def _note(self, instance: Instance, event_type: str, detail: str) -> None:
        self.ledger.note(
            instance.id,
            event_type=event_type,
            status=Status(instance.status),
            at=self.clock(),
            detail=detail,
        )

    def _here(self, endpoint: SshEndpoint | None, cidrs: Sequence[str]) -> str | None:
        if endpoint is not None:
            return endpoint.host  # the simulated VM is reached over loopback
        if any(ipaddress.ip_network(c, strict=False).prefixlen == 0 for c in cidrs):
            return None
        try:
            from provisioner.remote.myip import public_address

            return public_address(self.settings.myip_url, timeout=5).split("/")[0]
        except RemoteError:
            return None  # unknown: try SSH if any CIDR is allowed

    def wait_usable(self, instance_id: str, *, instance: Instance | None = None) -> str:
        """Block until the VM answers SSH with the pinned host key and cloud-init has finished,
        or fall back to the cloud's signal when SSH is not allowed from here. Returns the READY
        detail; ProvisioningFailedError (timeout or a changed host key) otherwise. `instance`:
        the row with the stack's outputs, as the caller just wrote it."""
        if instance is None or instance.id != instance_id:
            instance = self.ledger.require(instance_id)
        endpoint = self._endpoint(instance, revive=True)
        cidrs = list(instance.allowed_ssh_cidrs or [])
        here = self._here(endpoint, cidrs) if cidrs else None
        if not reachable_from(cidrs, here):
            why = "no allowed CIDR" if not cidrs else f"no allowed CIDR includes {here}"
            detail = (
                f"readiness from the cloud's signal: SSH is not allowed from here ({why}); "
                "the VM exists and its provider reports it running"
            )
            self._note(instance, "instance:readiness", detail)
            return "usable per the cloud's signal (SSH not allowed from here)"
        target = self.ssh_target(instance, endpoint)
        timeout = self.settings.ready_timeout_seconds
        self._note(
            instance,
            "instance:readiness",
            f"waiting up to {timeout:g} s for SSH at {target.host}:{target.port} "
            "(host key pinned on first contact) and cloud-init",
        )
        try:
            code, out, err = ssh.wait_until(
                target,
                READY_COMMAND,
                deadline=time.monotonic() + timeout,
                give_up=_own_key_refused(target),
            )
        except HostKeyMismatchError as exc:
            raise ProvisioningFailedError(exc.message, kind="error") from exc
        except RemoteError as exc:
            if AUTH_DENIED in exc.message and target.key_file is None:
                detail = (
                    "readiness from the cloud's signal: the VM answers SSH with its host key "
                    "pinned, but your own key is not usable from here to check cloud-init"
                )
                self._note(instance, "instance:readiness", detail)
                return "usable per the cloud's signal (your key is not loaded here)"
            raise ProvisioningFailedError(
                f"not usable within PROVISIONER_READY_TIMEOUT_SECONDS={timeout:g}: {exc.message}",
                kind="timeout",
            ) from exc
        if code not in (0, 2):
            raise ProvisioningFailedError(
                f"cloud-init reported an error (exit {code}): {err.strip()[-300:]}", kind="error"
            )
        if instance.setup_script:
            self._save_setup_log(instance, target, out.strip())
        return f"SSH answered at {target.host}:{target.port} and cloud-init finished"

    def _save_setup_log(self, instance: Instance, target: SshTarget, rc_text: str) -> None:
        code, out, _ = ssh.capture(target, SETUP_LOG_COMMAND)
        path = runlog.setup_log_path(self.settings.home, instance.id)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        path.write_text(out if code == 0 else "")
        if rc_text and rc_text != "0":
            self._note(
                instance,
                "instance:warning",
                f"the setup script exited {rc_text}; see `provisioner logs {instance.id} --setup`",
            )

    # -- exec / run -----------------------------------------------------------------------------

    def run_command(
        self,
        instance_id: str,
        command: str,
        *,
        workdir: str | None = None,
        kind: str = "exec",
        stdout: Sequence[Sink] = (),
        stderr: Sequence[Sink] = (),
    ) -> int:
        """Run `command` on the VM with its output streamed to the sinks and saved (`logs`);
        RUNNING while it runs, READY after. Returns the remote exit code (255: ssh failed)."""
        instance, target = self.live_target(instance_id)
        moved = False
        if instance.status == Status.READY.value:
            instance = self._move(instance, Status.RUNNING, detail=f"{kind} started")
            moved = True
        record = runlog.RunLog(self.settings.home, instance_id, command, kind, workdir)
        code: int | None = None
        try:
            code = ssh.stream(
                target,
                ssh.tracked(command, workdir),
                stdout=[*stdout, record],
                stderr=[*stderr, record],
            )
            return code
        finally:
            record.finish(code, None if code is not None else "interrupted")
            if moved:
                self._back_to_ready(instance_id, kind, code)

    def _back_to_ready(self, instance_id: str, kind: str, code: int | None) -> None:
        current = self.ledger.require(instance_id)
        if current.status != Status.RUNNING.value:
            return  # someone moved it on (a terminate): leave it
        outcome = "interrupted" if code is None else f"exit {code}"
        self._move(current, Status.READY, detail=f"{kind} finished ({outcome})")

    def setup_log(self, instance_id: str) -> str | None:
        """The setup script's output: fresh from a live VM, else the copy saved at READY."""
        instance = self.ledger.require(instance_id)
        path = runlog.setup_log_path(self.settings.home, instance_id)
        live = instance.status in (Status.READY.value, Status.RUNNING.value)
        if live and instance.allowed_ssh_cidrs:  # nobody may connect otherwise
            try:
                code, out, _ = ssh.capture(self.ssh_target(instance), SETUP_LOG_COMMAND)
                if code == 0:
                    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                    path.write_text(out)
            except RemoteError:
                pass
        return path.read_text() if path.exists() else None

    # -- the sweep's share ----------------------------------------------------------------------

    def sweep_remote(self) -> list[tuple[str, str, str]]:
        """Remove key files of instances ended longer than PROVISIONER_KEY_GRACE_MINUTES ago
        (or unknown to the ledger), and tidy the engines' local SSH endpoints. Returns
        (kind, target, detail) per action."""
        actions: list[tuple[str, str, str]] = []
        home = self.settings.home
        grace = timedelta(minutes=self.settings.key_grace_minutes)
        now = self.clock()
        for instance_id in sorted(keys.instance_ids_with_keys(home)):
            instance = self.ledger.get(instance_id)
            if instance is not None and not _ended(instance):
                continue
            ended_at = instance.terminated_at if instance is not None else None
            if ended_at is not None and now - ended_at < grace:
                continue
            if instance is None and keys.age_seconds(home, instance_id) < grace.total_seconds():
                continue  # being created right now, or a crash just before it was recorded
            removed = keys.remove_key_files(home, instance_id)
            if removed:
                actions.append(("keys", instance_id, f"removed {len(removed)} key file(s)"))
        engines = {self.default_engine} | self.ledger.engines_in_use(list(Status))
        for name in sorted(engines):
            try:
                for stack, what in self.engine_for(name).sweep_endpoints():
                    actions.append(("endpoint", stack, f"SSH endpoint {what}"))
            except Exception as exc:  # one engine's trouble must not stop the sweep
                actions.append(("endpoint", name, f"failed: {exc}"))
        return actions


def _own_key_refused(
    target: SshTarget, monotonic: Callable[[], float] = time.monotonic
) -> Callable[[str], bool]:
    """Whether sshd has refused the user's own key (which is not loaded here) for long enough to
    stop waiting for SSH: the VM answers with its pinned host key, so it is up, but readiness
    cannot check cloud-init from here. Never with a key pair of ours: that one must work."""
    refused_since: list[float] = []

    def refused(stderr: str) -> bool:
        if target.key_file is not None or AUTH_DENIED not in stderr:
            refused_since.clear()
            return False
        if not refused_since:
            refused_since.append(monotonic())
        grace = 0.0 if target.simulated else OWN_KEY_REFUSED_SECONDS
        return monotonic() - refused_since[0] >= grace

    return refused
