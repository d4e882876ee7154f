"""The real engine: one Pulumi stack per instance, driven through Pulumi's Automation API.

Over ~450 lines: one class whose operations (up, destroy, recover, liveness, listings, history,
preflight, plugins) share its workspace and CLI plumbing; per-stack helpers are in stack_io.py.

How one operation runs:

1. The Pulumi CLI is found, or installed once, on first use (`cli.py`). If neither works,
   every operation raises `EngineUnavailableError` with the fix. The outcome is cached for the
   engine's lifetime; `doctor()` (checks in `doctor.py`) only looks, never installs.
2. Each operation gets its own `LocalWorkspace` in `<home>/workspaces/<stack>/`, holding the
   project file (project "gpu-provisioner", backend URL) and the CLI-written stack file (the
   passphrase provider's salt; keep the directory while the stack exists). Everything per stack
   goes through the workspace's env_vars: backend URL, the passphrase *file* (never the
   passphrase), ARM_* mapped from the seed's AZURE_* names; GCP uses Application Default
   Credentials as they are, with the project put into the spec (`gcp_auth.py`). Nothing
   writes os.environ or changes the working directory, so operations may run concurrently
   from threads.
3. `up` installs the provider plugin the spec needs (once per process), creates or selects the
   stack, tags it, and runs the inline program `stacks.program_for(spec)` (so it works from an
   installed wheel) under a watchdog. Pulumi engine events are relayed as `EngineEvent`s and
   error diagnostics kept to explain a failure (`events.py`).
4. Failures become `ProvisioningFailedError` / `DestroyFailedError`, classified, with the
   provider's own error line as the message (`events.py`). The engine never destroys after a
   failed `up`: the service decides.
5. `destroy` keeps the stack (no `stack rm`), so the stack's history stays the audit trail.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import secrets
import shutil
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from filelock import FileLock
from pulumi import automation as auto
from pulumi.automation import errors as auto_errors

from provisioner.config import Settings
from provisioner.engine.base import (
    DoctorCheck,
    EventCallback,
    HistoryEntry,
    Liveness,
    SshEndpoint,
    StackInfo,
    StackOutputs,
)
from provisioner.engine.preflight import Target
from provisioner.engine.preflight_targets import (
    preflight_target,
    secrets_problem,
    shared_secrets_check,
)
from provisioner.engine.pulumi import azure_leaks, gcp_leaks, leaks
from provisioner.engine.pulumi.cli import CliCommand, find_or_install_cli
from provisioner.engine.pulumi.doctor import (
    ARM_FROM_AZURE,
    aws_credentials_check,
    azure_credentials_check,
    backend_check,
    cli_check,
    file_backend_path,
    is_cloud,
    passphrase_check,
)
from provisioner.engine.pulumi.events import EventRelay, error_line, failure
from provisioner.engine.pulumi.gcp_auth import resolve_project
from provisioner.engine.pulumi.gcp_doctor import gcp_checks
from provisioner.engine.pulumi.leaks import pending_vm_creates
from provisioner.engine.pulumi.preflight import (
    probe_stack_name,
    run_aws,
    run_azure,
    tagged_instances,
)
from provisioner.engine.pulumi.stack_io import (
    TAG_LIVE,
    _all_updates,
    _history_entry,
    _no_program,
    _plugin_version,
    _safe_dir_name,
    _stack_outputs,
    _tag_stack,
    _untag_live,
    _utc,
    _write_project_file,
)
from provisioner.rules.errors import (
    CloudError,
    DestroyFailedError,
    EngineUnavailableError,
    ProvisioningFailedError,
)
from stacks import program_for
from stacks.probes import AwsProbe, aws_program
from stacks.spec import (
    VM_CREATE_TIMEOUT_MINUTES,
    VM_RESOURCE_TYPES,
    InstanceSpec,
    attempt_of_stack,
    instance_of_stack,
)

log = logging.getLogger(__name__)

# Workspace for project-wide commands (stack ls); "@" cannot appear in a stack name.
PROJECT_WORKSPACE = "@project"
# Provider -> (plugin name, Python SDK package holding pulumi-plugin.json).
PLUGINS = {
    "AWS": ("aws", "pulumi_aws"),
    "AZURE": ("azure-native", "pulumi_azure_native"),
    "GCP": ("gcp", "pulumi_gcp"),
}
PASSPHRASE_FILE = "pulumi-passphrase"  # in <home>, generated once
PASSPHRASE_VARS = ("PULUMI_CONFIG_PASSPHRASE", "PULUMI_CONFIG_PASSPHRASE_FILE")
PREFLIGHT_CACHE = timedelta(minutes=10)
CLI_TIME = "%Y-%m-%dT%H:%M:%S.%fZ"  # `stack ls --json` lastUpdate

_installed_plugins: set[tuple[str, str]] = set()  # (name, version), once per process
_plugins_lock = threading.Lock()


class PulumiEngine:
    """The Engine protocol over Pulumi's Automation API (see the module docstring)."""

    name = "pulumi"
    simulated = False
    # After the watchdog interrupts an `up`, how long to wait for the CLI to wind down: longer
    # than the provider's own create timeout, so a create in flight ends (made or failed) and
    # is recorded, rather than left pending in the state.
    cancel_grace_seconds: float = (VM_CREATE_TIMEOUT_MINUTES + 2) * 60.0

    def __init__(
        self,
        settings: Settings,
        *,
        pulumi_command: auto.PulumiCommand | None = None,
        clock: Callable[[], datetime] | None = None,
    ):
        self.settings = settings
        self._clock = clock or (lambda: datetime.now(UTC))
        self._command = pulumi_command
        self._command_error: EngineUnavailableError | None = None
        self._command_lock = threading.Lock()
        self._preflight_cache: dict[tuple[Target, bool], tuple[datetime, list[DoctorCheck]]] = {}
        # How the Azure checks reach ARM (tests point it at a local server with recorded answers).
        self.azure_arm: dict[str, Any] = {}
        self.leak_sleep: Callable[[float], None] = time.sleep  # azure_leaks' waits
        self.gcp_api: dict[str, Any] = {}  # how gcp_leaks reaches Compute Engine (tests: local)

    # -- the Engine protocol ---------------------------------------------------------------

    def ensure_ready(self) -> None:
        """Find (or install once) the Pulumi CLI; EngineUnavailableError says the fix."""
        self._cli()

    def up(
        self, spec: InstanceSpec, *, message: str, on_event: EventCallback | None = None
    ) -> StackOutputs:
        relay = EventRelay(on_event)
        spec = self._with_project(spec)
        workspace = self._workspace(spec.stack_name, program_for(spec))
        self._install_plugin(workspace, spec.provider)
        try:
            stack = auto.Stack.create_or_select(spec.stack_name, workspace)
            _tag_stack(stack, spec)
            result = self._up_with_watchdog(stack, message, relay)
        except auto_errors.CommandError as exc:
            raise failure(ProvisioningFailedError, exc, relay.errors) from exc
        return _stack_outputs(result.outputs)

    def destroy(
        self, stack_name: str, *, message: str, on_event: EventCallback | None = None
    ) -> None:
        relay = EventRelay(on_event)
        try:
            stack = self._select(stack_name)
            stack.destroy(message=message, on_event=relay, color="never", show_secrets=False)
            _untag_live(stack)
        except auto_errors.StackNotFoundError:
            log.info("destroy %s: no such stack, nothing to do", stack_name)
        except auto_errors.CommandError as exc:
            if not azure_leaks.nic_in_use("\n".join([str(exc), *relay.errors])):
                raise failure(DestroyFailedError, exc, relay.errors) from exc
            self._destroy_after_azure_cleanup(stack, message, on_event, exc)

    def _destroy_after_azure_cleanup(
        self,
        stack: auto.Stack,
        message: str,
        on_event: EventCallback | None,
        first: auto_errors.CommandError,
    ) -> None:
        """NicInUse: a VM the state forgot holds the NIC (azure_leaks.py). Delete the resource
        group's content VM first, refresh (drops what is gone), destroy again."""
        relay = EventRelay(on_event)
        try:
            group = azure_leaks.resource_group_of(dict(stack.export_stack().deployment or {}))
            if group is None:
                raise failure(DestroyFailedError, first, [])
            log.warning("%s: NicInUse, deleting %s's resources VM first", stack.name, group)
            try:
                azure_leaks.ArmClient(**self.azure_arm, sleep=self.leak_sleep).clean_group(group)
            except (azure_leaks.AzureCleanupError, httpx.HTTPError, LookupError) as exc:
                raise DestroyFailedError(
                    f"NicInUse, and deleting {group}'s resources VM first failed: {exc}",
                    kind="transient",
                    provider_code="NicInUse",
                ) from exc
            stack.refresh(message=f"{message} (after NicInUse)", color="never", on_event=relay)
            stack.destroy(message=message, on_event=relay, color="never", show_secrets=False)
            _untag_live(stack)
        except auto_errors.CommandError as exc:
            raise failure(DestroyFailedError, exc, relay.errors) from exc

    def recover(self, stack_name: str) -> None:
        """`pulumi cancel` (clears the dead process's lock; it fails when no update is running,
        which is fine), the VMs of pending creates adopted into the state (`leaks.py`),
        then `pulumi refresh --clear-pending-creates`."""
        try:
            stack = self._select(stack_name)
        except auto_errors.StackNotFoundError:
            return
        try:
            stack.cancel()
        except auto_errors.CommandError as exc:
            log.info("cancel %s: %s", stack_name, error_line([], str(exc)))
        self._adopt_pending_vms(stack)
        relay = EventRelay(None)
        try:
            stack.refresh(
                message=f"provisioner recover {stack_name}",
                clear_pending_creates=True,
                on_event=relay,
                color="never",
                show_secrets=False,
            )
        except auto_errors.CommandError as exc:
            raise failure(CloudError, exc, relay.errors) from exc

    def liveness(self, stack_name: str) -> Liveness:
        """`pulumi refresh` of the stack (the provider describes each resource: for AWS one
        DescribeInstances, DescribeSecurityGroups, ...; for Azure one GET per resource), then
        whether its VM is still in the refreshed state. Costs one Pulumi CLI run per live
        instance per sweep (seconds each, run side by side by the reaper's pool)."""
        try:
            stack = self._select(stack_name)
        except auto_errors.StackNotFoundError:
            return Liveness(alive=False, detail="no such stack")
        relay = EventRelay(None)
        try:
            stack.refresh(
                message=f"provisioner liveness {stack_name}",
                on_event=relay,
                color="never",
                show_secrets=False,
            )
            deployment = stack.export_stack().deployment or {}
        except auto_errors.CommandError as exc:
            log.info("liveness of %s unknown: %s", stack_name, error_line(relay.errors, str(exc)))
            return Liveness(alive=None, detail="refresh failed")
        resources = deployment.get("resources") or []
        vms = [r for r in resources if r.get("type") in VM_RESOURCE_TYPES]
        if vms:
            stopped = self._powered_off(vms[0])
            return Liveness(alive=True, stopped=stopped is not None, detail=stopped or "")
        return Liveness(alive=False, detail="refresh found the VM gone")

    def _powered_off(self, vm: dict[str, Any]) -> str | None:
        """Why a VM that exists is powered off from inside (the idle guard) yet still bills,
        else None: GCP's refreshed status TERMINATED (its disk bills); Azure's power state
        `stopped` (not deallocated: compute bills), one ARM read. AWS terminates itself."""
        if vm.get("type") == gcp_leaks.GCP_VM:
            status = (vm.get("outputs") or {}).get("currentStatus")
            return "Compute Engine says TERMINATED (stopped)" if status == "TERMINATED" else None
        if vm.get("type") != "azure-native:compute:VirtualMachine" or not vm.get("id"):
            return None
        try:
            state = azure_leaks.ArmClient(**self.azure_arm).power_state(str(vm["id"]))
        except (azure_leaks.AzureCleanupError, httpx.HTTPError, LookupError) as exc:
            log.info("power state of %s unknown: %s", vm.get("id"), exc)
            return None
        if state == "PowerState/stopped":
            return "Azure says PowerState/stopped (allocated, billing)"
        return None

    def _adopt_pending_vms(self, stack: auto.Stack) -> None:
        """Find the VMs a cut-short create left (by the provisioner:instance-id tag) and write
        them into the state, so the destroy after the refresh deletes them."""
        try:
            exported = stack.export_stack()
        except auto_errors.CommandError as exc:
            raise failure(CloudError, exc, []) from exc
        deployment = dict(exported.deployment or {})
        pending = pending_vm_creates(deployment)
        adopted = self._adopt_gcp_by_name(stack.name, deployment, pending)
        aws_pending = [op for op in pending if op["resource"]["type"] == leaks.AWS_VM]
        region = leaks.aws_region(deployment)
        if not aws_pending or region is None:
            # Azure: the destroy's NicInUse path deletes a half-made VM (azure_leaks.py).
            if adopted is not deployment:
                self._import(stack, exported.version, adopted)
            return
        try:
            found = tagged_instances(
                region,
                instance_of_stack(stack.name),
                self._run_probe,
                attempt=attempt_of_stack(stack.name),
            )
        except Exception as exc:
            raise CloudError(
                f"cannot look for instances of {stack.name} left by an interrupted create "
                f"({exc}); not clearing its pending create, so nothing is forgotten",
                kind="transient",
            ) from exc
        leaked = sorted(set(found) - leaks.known_ids(deployment, leaks.AWS_VM))
        if not leaked:
            return
        for index, cloud_id in enumerate(leaked):
            deployment = leaks.adopt(deployment, aws_pending[0], cloud_id, extra=index > 0)
            log.warning("%s: adopting %s, created by an interrupted up", stack.name, cloud_id)
        self._import(stack, exported.version, deployment)

    def _import(self, stack: auto.Stack, version: int | None, deployment: dict[str, Any]) -> None:
        try:
            stack.import_stack(auto.Deployment(version=version, deployment=deployment))
        except auto_errors.CommandError as exc:
            raise failure(CloudError, exc, []) from exc

    def _adopt_gcp_by_name(
        self, stack_name: str, deployment: dict[str, Any], pending: list[dict[str, Any]]
    ) -> dict[str, Any]:
        """The deployment with each pending GCP VM create that Compute Engine has, under its
        deterministic name, adopted (gcp_leaks.py); the same object when there is none."""
        result = deployment
        for op in pending:
            ref = gcp_leaks.instance_ref(deployment, op)
            if op["resource"]["type"] != gcp_leaks.GCP_VM or ref is None:
                continue
            try:
                exists = gcp_leaks.instance_exists(ref, **self.gcp_api)
            except Exception as exc:
                raise CloudError(
                    f"cannot ask Compute Engine for {ref.name} in {ref.zone}, left by an "
                    f"interrupted create ({exc}); not clearing its pending create",
                    kind="transient",
                ) from exc
            if exists and ref.pulumi_id not in leaks.known_ids(result, gcp_leaks.GCP_VM):
                log.warning("%s: adopting %s, created by an interrupted up", stack_name, ref.name)
                result = leaks.adopt(result, op, ref.pulumi_id)
        return result

    @property
    def keeps_history_in_backend(self) -> bool:
        return is_cloud(self.settings.effective_backend_url)

    def remove_stack(self, stack_name: str) -> bool:
        """`pulumi stack rm --yes` (no --force: the CLI refuses a stack holding resources),
        then the stack's local workspace directory."""
        workspace = self._workspace(stack_name, _no_program)
        try:
            workspace.remove_stack(stack_name)
        except auto_errors.StackNotFoundError:
            return False
        except auto_errors.CommandError as exc:
            raise failure(CloudError, exc, []) from exc
        shutil.rmtree(workspace.work_dir, ignore_errors=True)
        return True

    # -- preflight -------------------------------------------------------------------------

    def preflight(self, target: Target, *, cheap: bool) -> list[DoctorCheck]:
        """What the cloud will refuse for `target` (preflight.py judges): `cheap` is up's
        subset. Checks that pass are remembered for a few minutes per process."""
        key = (target, cheap)
        now = self._clock()
        with self._command_lock:
            cached = self._preflight_cache.get(key)
        if cached is not None and now - cached[0] < PREFLIGHT_CACHE:
            return cached[1]
        if target.provider == "AWS":
            checks = run_aws(target, self._run_probe, cheap=cheap)
        elif target.provider == "AZURE":
            checks = run_azure(target, cheap=cheap, **self.azure_arm)
        else:
            return []
        if all(c.status == "PASS" for c in checks):
            with self._command_lock:
                self._preflight_cache[key] = (now, checks)
        return checks

    def _run_probe(self, probe: AwsProbe) -> None:
        """Run an invoke-only probe program as a preview of its probe stack."""
        name = probe_stack_name("AWS", probe.region)
        workspace = self._workspace(name, aws_program(probe))
        self._install_plugin(workspace, "AWS")
        stack = auto.Stack.create_or_select(name, workspace)
        stack.preview(message=f"provisioner preflight {probe.region}", color="never")

    def stack_tags(self, stack_name: str) -> dict[str, str]:
        try:
            return dict(self._select(stack_name).list_tags())
        except auto_errors.StackNotFoundError:
            return {}
        except auto_errors.CommandError as exc:  # DIY backends in older CLIs keep no tags
            log.info("tags of %s unavailable: %s", stack_name, error_line([], str(exc)))
            return {}

    def outputs(self, stack_name: str) -> StackOutputs:
        try:
            return _stack_outputs(self._select(stack_name).outputs())
        except auto_errors.StackNotFoundError:
            return StackOutputs(public_ip=None, private_ip=None, cloud_instance_id=None)
        except auto_errors.CommandError as exc:
            raise failure(CloudError, exc, []) from exc

    def history(self, stack_name: str) -> list[HistoryEntry] | None:
        """Every update of the stack, oldest first."""
        try:
            updates = _all_updates(self._select(stack_name))
        except auto_errors.StackNotFoundError:
            return []
        except auto_errors.CommandError as exc:
            raise failure(CloudError, exc, []) from exc
        return sorted((_history_entry(u) for u in updates), key=lambda e: e.version)

    def list_stacks(self) -> list[StackInfo]:
        """The project's stacks. Tags are left empty: reading them costs a CLI call per stack,
        and a stack's name is already its instance id."""
        workspace = self._workspace(PROJECT_WORKSPACE, None)
        if is_cloud(self.settings.effective_backend_url):
            return self._live_stacks(workspace)
        try:
            summaries = workspace.list_stacks()
        except auto_errors.CommandError as exc:
            raise failure(CloudError, exc, []) from exc
        return [
            StackInfo(name=s.name, resource_count=s.resource_count, last_update=_utc(s.last_update))
            for s in summaries
        ]

    def ssh_endpoint(self, stack_name: str, *, revive: bool = False) -> SshEndpoint | None:
        return None  # a real VM answers on its public IP, port 22

    def sweep_endpoints(self) -> list[tuple[str, str]]:
        return []

    def _live_stacks(self, workspace: auto.LocalWorkspace) -> list[StackInfo]:
        """On Pulumi Cloud gc keeps destroyed stacks (the audit trail), so listing them all
        every sweep would grow forever: list only those tagged live (set at up, removed when a
        destroy succeeds). A stack whose destroy failed keeps the tag, so it is still swept."""
        args = ["stack", "ls", "--json", "--tag", f"{TAG_LIVE}=true"]
        try:
            result = workspace.pulumi_command.run(args, workspace.work_dir, workspace.env_vars)
        except auto_errors.CommandError as exc:
            raise failure(CloudError, exc, []) from exc
        stacks = []
        for item in json.loads(result.stdout or "[]"):
            last = item.get("lastUpdate")
            stacks.append(
                StackInfo(
                    name=item["name"],
                    resource_count=item.get("resourceCount"),
                    last_update=_utc(datetime.strptime(last, CLI_TIME)) if last else None,
                    tags={TAG_LIVE: "true"},
                )
            )
        return stacks

    def doctor(self) -> list[DoctorCheck]:
        url = self.settings.effective_backend_url
        aws, azure = aws_credentials_check(), azure_credentials_check()
        cli = cli_check(self._command)
        checks = [
            cli,
            backend_check(url),
            aws,
            azure,
            passphrase_check(url, self.settings.home / PASSPHRASE_FILE),
            *gcp_checks(self.settings.gcp_project),
            shared_secrets_check(self.settings, url),
        ]
        # The clouds in use (credentials found): what they will refuse, at the default region.
        for provider, found in (("AWS", aws.ok), ("AZURE", azure.ok)):
            if found and provider == "AWS" and not cli.ok:  # doctor never installs the CLI
                checks.append(
                    DoctorCheck(
                        f"{provider.lower()} preconditions",
                        True,
                        "not asked: they are read through the Pulumi CLI (see 'pulumi cli')",
                        "CANNOT CHECK",
                    )
                )
            elif found:
                checks.extend(self.doctor_cloud(provider))
        return checks

    def doctor_cloud(
        self, provider: str, region: str | None = None, instance_type: str | None = None
    ) -> list[DoctorCheck]:
        """Every preflight check of `provider` (for `instance_type` in `region` if given)."""
        target = preflight_target(self.settings, provider, region, instance_type)
        try:
            return self.preflight(target, cheap=False)
        except EngineUnavailableError as exc:
            return [
                DoctorCheck(f"{provider.lower()} preconditions", True, exc.message, "CANNOT CHECK")
            ]

    def _with_project(self, spec: InstanceSpec) -> InstanceSpec:
        """GCP: the spec's project, PROVISIONER_GCP_PROJECT, or the ADC project (before any
        workspace exists, so a missing project leaves nothing behind)."""
        if spec.provider != "GCP" or spec.project:
            return spec
        project = resolve_project(self.settings.gcp_project)
        if not project:
            raise EngineUnavailableError(
                "GCP project unknown: set PROVISIONER_GCP_PROJECT, or give Application Default "
                "Credentials a project (`gcloud config set project P`)"
            )
        return dataclasses.replace(spec, project=project)

    # -- workspaces ------------------------------------------------------------------------

    def _workspace(
        self, stack_name: str, program: Callable[[], None] | None
    ) -> auto.LocalWorkspace:
        """A fresh workspace for one operation on one stack (or project-wide commands)."""
        command = self._cli()  # first, so a missing CLI leaves nothing behind
        work_dir = self.settings.home / "workspaces" / _safe_dir_name(stack_name)
        try:
            url = self._backend_url()
            _write_project_file(work_dir, url)
            env_vars = self._env_vars(url)
        except OSError as exc:
            raise EngineUnavailableError(
                f"cannot prepare the Pulumi workspace {work_dir} or its state: {exc}"
            ) from exc
        return auto.LocalWorkspace(
            work_dir=str(work_dir),
            program=program,
            env_vars=env_vars,
            secrets_provider=None if is_cloud(url) else self.settings.pulumi_secrets_provider,
            pulumi_command=command,
        )

    def _select(self, stack_name: str) -> auto.Stack:
        # destroy does not run the program, but an inline workspace needs one.
        return auto.Stack.select(stack_name, self._workspace(stack_name, _no_program))

    def _backend_url(self) -> str:
        url = self.settings.effective_backend_url
        path = file_backend_path(url)
        if path is not None:
            path.mkdir(parents=True, exist_ok=True)
        return url

    def _env_vars(self, url: str) -> dict[str, str]:
        problem = secrets_problem(self.settings, url)
        if problem:
            raise EngineUnavailableError(problem)
        env = {
            "PULUMI_BACKEND_URL": url,
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            # The salt (or KMS-encrypted key) is written to the stack's state at `stack init`;
            # a process whose workspace lacks Pulumi.<stack>.yaml (another replica, another
            # machine) takes it from there instead of minting a new one.
            "PULUMI_FALLBACK_TO_STATE_SECRETS_MANAGER": "true",
        }
        if (
            not is_cloud(url)
            and self.settings.pulumi_secrets_provider == "passphrase"
            and not any(var in os.environ for var in PASSPHRASE_VARS)
        ):
            env["PULUMI_CONFIG_PASSPHRASE_FILE"] = str(self._passphrase_file())
        env.update(
            {
                arm: os.environ[az]
                for arm, az in ARM_FROM_AZURE.items()
                if arm not in os.environ and os.environ.get(az)
            }
        )
        return env

    def _passphrase_file(self) -> Path:
        """`<home>/pulumi-passphrase`, generated once (mode 0600) and never logged."""
        path = self.settings.home / PASSPHRASE_FILE
        if path.exists():
            return path
        self.settings.ensure_home()
        with FileLock(str(self.settings.home / ".pulumi-passphrase.lock"), mode=0o600):
            if not path.exists():
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w") as handle:
                    handle.write(secrets.token_urlsafe(32))
                os.chmod(path, 0o600)
                log.info("generated a Pulumi passphrase file at %s", path)
        return path

    def _install_plugin(self, workspace: auto.LocalWorkspace, provider: str) -> None:
        name, package = PLUGINS[provider]
        version = _plugin_version(package)
        with _plugins_lock:
            if (name, version) in _installed_plugins:
                return
            try:
                workspace.install_plugin(name, f"v{version}")
            except auto_errors.CommandError as exc:
                raise EngineUnavailableError(
                    f"Pulumi plugin {name} v{version} could not be installed "
                    f"({error_line([], str(exc))}): run `pulumi plugin install resource "
                    f"{name} v{version}` where the network allows, or pass --simulate"
                ) from exc
            _installed_plugins.add((name, version))

    # -- the CLI ---------------------------------------------------------------------------

    def _cli(self) -> auto.PulumiCommand:
        """The Pulumi CLI: found or installed on first use, then cached (failure included)."""
        with self._command_lock:
            if self._command is None and self._command_error is None:
                try:
                    self._command = find_or_install_cli()
                except EngineUnavailableError as exc:
                    self._command_error = exc
            if self._command is None:
                assert self._command_error is not None
                raise self._command_error
            return self._command

    # -- the watchdog ----------------------------------------------------------------------

    def _up_with_watchdog(
        self, stack: auto.Stack, message: str, relay: EventRelay
    ) -> auto.UpResult:
        """Run `up` in a worker thread; past the provisioning timeout, stop it and raise."""
        timeout_minutes = self.settings.provisioning_timeout_minutes
        started = self._clock()
        future: Future[auto.UpResult] = Future()

        def work() -> None:
            try:
                future.set_result(
                    stack.up(message=message, on_event=relay, color="never", show_secrets=False)
                )
            except BaseException as exc:  # handed to the waiting thread
                future.set_exception(exc)

        worker = threading.Thread(target=work, name=f"pulumi-up-{stack.name}", daemon=True)
        worker.start()
        try:
            return future.result(timeout=timeout_minutes * 60)
        except TimeoutError:
            if future.done():  # up itself raised a TimeoutError: not the watchdog's
                raise
            self._stop_update(stack, worker)
        except BaseException:
            # Ctrl-C reached the CLI too (same process group) and it is winding down: let it
            # finish and unlock the stack, so the service's clean-up destroy can run.
            worker.join(self.cancel_grace_seconds)
            raise
        raise ProvisioningFailedError(
            f"provisioning did not finish within {timeout_minutes:g} minutes (started "
            f"{started:%Y-%m-%d %H:%M:%S %Z}); the update was cancelled",
            kind="timeout",
        )

    def _stop_update(self, stack: auto.Stack, worker: threading.Thread) -> None:
        """Interrupt the local `pulumi up` (it cancels gracefully and unlocks the stack); if it
        does not end, cancel the update on the backend (`pulumi cancel`) and kill the process.
        `cancel` alone does not stop a local CLI on file/S3/Azure Blob backends."""
        command = stack.workspace.pulumi_command
        ident = worker.ident or 0
        if isinstance(command, CliCommand) and command.signal(ident, signal.SIGINT):
            worker.join(self.cancel_grace_seconds)
        if not worker.is_alive():
            return
        log.warning("up %s exceeded its timeout: cancelling the update", stack.name)
        try:
            stack.cancel()
        except auto_errors.CommandError as exc:
            log.warning("cancel %s failed: %s", stack.name, error_line([], str(exc)))
        if isinstance(command, CliCommand):
            command.signal(ident, signal.SIGKILL if hasattr(signal, "SIGKILL") else signal.SIGTERM)
        worker.join(self.cancel_grace_seconds)


__all__ = ["PulumiEngine"]
