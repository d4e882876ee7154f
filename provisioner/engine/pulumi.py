"""The real engine: one Pulumi stack per instance, driven through Pulumi's Automation API.

How one operation runs:

1. The Pulumi CLI is looked up on first use (PATH, ~/.pulumi/bin, or where the SDK installs it)
   and, failing that, installed once with `PulumiCommand.install()`. If that fails too, every
   operation raises `EngineUnavailableError` with the fix (install it, or use the simulated
   engine). The outcome is cached for the engine's lifetime; `doctor()` only looks, never installs.
2. Each operation gets its own `LocalWorkspace` in `<home>/workspaces/<stack>/`, holding the
   project file (project "gpu-provisioner", backend URL) and the CLI-written stack file (the
   passphrase provider's salt; keep the directory while the stack exists). Everything per stack
   goes through the workspace's env_vars: backend URL, the passphrase *file* (never the
   passphrase), ARM_* mapped from the seed's AZURE_* names. Nothing writes os.environ or changes
   the working directory, so operations may run concurrently from threads.
3. `up` installs the provider plugin the spec needs (once per process), creates or selects the
   stack, tags it, and runs the inline program `stacks.program_for(spec)` (so it works from an
   installed wheel) under a watchdog. Pulumi engine events are relayed as `EngineEvent`s; error
   diagnostics are kept to explain a failure.
4. Failures become `ProvisioningFailedError` / `DestroyFailedError`, classified by
   `classify_cloud_message`, with the provider's own error line as the message. The engine never
   destroys after a failed `up`: the service decides.
5. `destroy` keeps the stack (no `stack rm`), so the stack's history stays the audit trail.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import shutil
import signal
import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from datetime import UTC, datetime
from importlib import metadata, resources
from pathlib import Path
from typing import IO
from urllib.error import URLError
from urllib.parse import unquote, urlparse

import yaml
from filelock import FileLock
from pulumi import automation as auto
from pulumi.automation import errors as auto_errors
from pulumi.automation import events as auto_events
from semver import VersionInfo

from provisioner.config import Settings
from provisioner.engine.base import (
    DoctorCheck,
    EngineEvent,
    EventCallback,
    HistoryEntry,
    StackInfo,
    StackOutputs,
)
from provisioner.errors import (
    CAPACITY_CODES,
    QUOTA_CODES,
    CloudError,
    DestroyFailedError,
    EngineUnavailableError,
    ProvisioningFailedError,
    classify_cloud_message,
)
from stacks import program_for
from stacks.spec import (
    OUTPUT_CLOUD_INSTANCE_ID,
    OUTPUT_METADATA,
    OUTPUT_PRIVATE_IP,
    OUTPUT_PUBLIC_IP,
    TAG_INSTANCE_ID,
    TAG_TASK_ID,
    TAG_USER_ID,
    InstanceSpec,
)

log = logging.getLogger(__name__)

PROJECT = "gpu-provisioner"
# Inline programs for destroy pass --client, which the CLI has understood since 3.181.
MIN_CLI_VERSION = VersionInfo(3, 181, 0)
INSTALL_DOCS = "https://www.pulumi.com/docs/iac/download-install/"
# Workspace for project-wide commands (stack ls); "@" cannot appear in a stack name.
PROJECT_WORKSPACE = "@project"
# Provider -> (plugin name, Python SDK package holding pulumi-plugin.json).
PLUGINS = {"AWS": ("aws", "pulumi_aws"), "AZURE": ("azure-native", "pulumi_azure_native")}
# The seed's Azure variables, handed to the azure-native provider under the names it reads.
ARM_FROM_AZURE = {
    "ARM_SUBSCRIPTION_ID": "AZURE_SUBSCRIPTION_ID",
    "ARM_TENANT_ID": "AZURE_TENANT_ID",
    "ARM_CLIENT_ID": "AZURE_CLIENT_ID",
    "ARM_CLIENT_SECRET": "AZURE_CLIENT_SECRET",
}
PASSPHRASE_VARS = ("PULUMI_CONFIG_PASSPHRASE", "PULUMI_CONFIG_PASSPHRASE_FILE")
TAG_NAME_MAX, TAG_VALUE_MAX = 40, 256  # Pulumi Cloud's limits
HISTORY_PAGE_SIZE, HISTORY_MAX_PAGES = 100, 50

_installed_plugins: set[tuple[str, str]] = set()  # (name, version), once per process
_plugins_lock = threading.Lock()


class PulumiEngine:
    """The Engine protocol over Pulumi's Automation API (see the module docstring)."""

    name = "pulumi"
    simulated = False
    # After the watchdog interrupts an `up`, how long to wait for the CLI to wind down.
    cancel_grace_seconds: float = 60.0

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

    # -- the Engine protocol ---------------------------------------------------------------

    def ensure_ready(self) -> None:
        """Find (or install once) the Pulumi CLI; EngineUnavailableError says the fix."""
        self._cli()

    def up(
        self, spec: InstanceSpec, *, message: str, on_event: EventCallback | None = None
    ) -> StackOutputs:
        relay = _EventRelay(on_event)
        workspace = self._workspace(spec.instance_id, program_for(spec))
        self._install_plugin(workspace, spec.provider)
        try:
            stack = auto.Stack.create_or_select(spec.instance_id, workspace)
            _tag_stack(stack, spec)
            result = self._up_with_watchdog(stack, message, relay)
        except auto_errors.CommandError as exc:
            raise _failure(ProvisioningFailedError, exc, relay.errors) from exc
        return _stack_outputs(result.outputs)

    def destroy(
        self, stack_name: str, *, message: str, on_event: EventCallback | None = None
    ) -> None:
        relay = _EventRelay(on_event)
        try:
            stack = self._select(stack_name)
            stack.destroy(message=message, on_event=relay, color="never", show_secrets=False)
        except auto_errors.StackNotFoundError:
            log.info("destroy %s: no such stack, nothing to do", stack_name)
        except auto_errors.CommandError as exc:
            raise _failure(DestroyFailedError, exc, relay.errors) from exc

    def outputs(self, stack_name: str) -> StackOutputs:
        try:
            return _stack_outputs(self._select(stack_name).outputs())
        except auto_errors.StackNotFoundError:
            return StackOutputs(public_ip=None, private_ip=None, cloud_instance_id=None)
        except auto_errors.CommandError as exc:
            raise _failure(CloudError, exc, []) from exc

    def history(self, stack_name: str) -> list[HistoryEntry] | None:
        """Every update of the stack, oldest first."""
        try:
            updates = _all_updates(self._select(stack_name))
        except auto_errors.StackNotFoundError:
            return []
        except auto_errors.CommandError as exc:
            raise _failure(CloudError, exc, []) from exc
        return sorted((_history_entry(u) for u in updates), key=lambda e: e.version)

    def list_stacks(self) -> list[StackInfo]:
        """The project's stacks. Tags are left empty: reading them costs a CLI call per stack,
        and a stack's name is already its instance id."""
        try:
            summaries = self._workspace(PROJECT_WORKSPACE, None).list_stacks()
        except auto_errors.CommandError as exc:
            raise _failure(CloudError, exc, []) from exc
        return [
            StackInfo(name=s.name, resource_count=s.resource_count, last_update=_utc(s.last_update))
            for s in summaries
        ]

    def doctor(self) -> list[DoctorCheck]:
        url = self.settings.effective_backend_url
        return [
            self._cli_check(),
            _backend_check(url),
            _aws_credentials_check(),
            _azure_credentials_check(),
            self._passphrase_check(url),
        ]

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
            secrets_provider=None if _is_cloud(url) else "passphrase",
            pulumi_command=command,
        )

    def _select(self, stack_name: str) -> auto.Stack:
        # destroy does not run the program, but an inline workspace needs one.
        return auto.Stack.select(stack_name, self._workspace(stack_name, _no_program))

    def _backend_url(self) -> str:
        url = self.settings.effective_backend_url
        path = _file_backend_path(url)
        if path is not None:
            path.mkdir(parents=True, exist_ok=True)
        return url

    def _env_vars(self, url: str) -> dict[str, str]:
        env = {"PULUMI_BACKEND_URL": url, "PULUMI_SKIP_UPDATE_CHECK": "true"}
        if not _is_cloud(url) and not any(var in os.environ for var in PASSPHRASE_VARS):
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
        path = self.settings.home / "pulumi-passphrase"
        if path.exists():
            return path
        self.settings.ensure_home()
        with FileLock(str(self.settings.home / ".pulumi-passphrase.lock")):
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
                    f"({_error_line([], str(exc))}): run `pulumi plugin install resource "
                    f"{name} v{version}` where the network allows, or pass --simulate"
                ) from exc
            _installed_plugins.add((name, version))

    # -- the CLI ---------------------------------------------------------------------------

    def _cli(self) -> auto.PulumiCommand:
        """The Pulumi CLI: found or installed on first use, then cached (failure included)."""
        with self._command_lock:
            if self._command is None and self._command_error is None:
                try:
                    self._command = _find_or_install_cli()
                except EngineUnavailableError as exc:
                    self._command_error = exc
            if self._command is None:
                assert self._command_error is not None
                raise self._command_error
            return self._command

    def _cli_check(self) -> DoctorCheck:
        command = self._command
        problems: list[str] = []
        if command is None:
            for root in _cli_roots():
                try:
                    command = _CliCommand(root=root, version=MIN_CLI_VERSION)
                    break
                except Exception as exc:  # each candidate may fail its own way
                    problems.append(_short_reason(exc))
        if command is None:
            reason = "; ".join(problems) or "not on PATH nor under ~/.pulumi"
            return DoctorCheck(
                "pulumi cli",
                False,
                f"not found ({reason}): install it ({INSTALL_DOCS}) or use --simulate",
            )
        return DoctorCheck("pulumi cli", True, f"{command.command} v{command.version}")

    def _passphrase_check(self, url: str) -> DoctorCheck:
        if _is_cloud(url):
            return DoctorCheck("secrets", True, "Pulumi Cloud encrypts stack secrets")
        if "PULUMI_CONFIG_PASSPHRASE" in os.environ:
            return DoctorCheck("secrets", True, "passphrase from PULUMI_CONFIG_PASSPHRASE")
        if "PULUMI_CONFIG_PASSPHRASE_FILE" in os.environ:
            given = Path(os.environ["PULUMI_CONFIG_PASSPHRASE_FILE"]).expanduser()
            return DoctorCheck(
                "secrets",
                os.access(given, os.R_OK),
                f"passphrase from PULUMI_CONFIG_PASSPHRASE_FILE ({given}"
                f"{'' if os.access(given, os.R_OK) else ': not readable'})",
            )
        path = self.settings.home / "pulumi-passphrase"
        if not path.exists():
            return DoctorCheck("secrets", True, f"passphrase file {path} is made on first use")
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            return DoctorCheck(
                "secrets", False, f"passphrase file {path} has mode {mode:o}: chmod 600 it"
            )
        return DoctorCheck("secrets", True, f"passphrase file {path} (mode 600)")

    # -- the watchdog ----------------------------------------------------------------------

    def _up_with_watchdog(
        self, stack: auto.Stack, message: str, relay: _EventRelay
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
        if isinstance(command, _CliCommand) and command.signal(ident, signal.SIGINT):
            worker.join(self.cancel_grace_seconds)
        if not worker.is_alive():
            return
        log.warning("up %s exceeded its timeout: cancelling the update", stack.name)
        try:
            stack.cancel()
        except auto_errors.CommandError as exc:
            log.warning("cancel %s failed: %s", stack.name, _error_line([], str(exc)))
        if isinstance(command, _CliCommand):
            command.signal(ident, signal.SIGKILL if hasattr(signal, "SIGKILL") else signal.SIGTERM)
        worker.join(self.cancel_grace_seconds)


# -- finding and running the CLI -----------------------------------------------------------


class _CliCommand(auto.PulumiCommand):
    """The real CLI, run as `PulumiCommand.run` runs it, but keeping each running process (by
    calling thread) so the watchdog can signal the `pulumi up` it started."""

    def __init__(self, root: str | None = None, version: VersionInfo | None = None):
        super().__init__(root=root, version=version)
        self._running: dict[int, subprocess.Popen[str]] = {}
        self._lock = threading.Lock()

    def run(
        self,
        args: list[str],
        cwd: str,
        additional_env: Mapping[str, str],
        on_output: auto.OnOutput | None = None,
        on_error: auto.OnOutput | None = None,
    ) -> auto.CommandResult:
        separator = args.index("--") if "--" in args else len(args)
        if "--non-interactive" not in args[:separator]:
            args.insert(0, "--non-interactive")
        env = {**os.environ, **additional_env, "PULUMI_AUTOMATION_API": "true"}
        if os.path.isabs(self.command):  # prefer plugins bundled next to the binary
            env["PATH"] = os.pathsep.join([os.path.dirname(self.command), env.get("PATH", "")])
        ident = threading.get_ident()
        with subprocess.Popen(
            [self.command, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=cwd,
            env=env,
            encoding="utf-8",
        ) as process:
            with self._lock:
                self._running[ident] = process
            try:
                stdout, stderr = _read_streams(process, on_output, on_error)
            finally:
                with self._lock:
                    self._running.pop(ident, None)
        result = auto.CommandResult(stdout=stdout, stderr=stderr, code=process.returncode)
        if result.code != 0:
            raise auto_errors.create_command_error(result)
        return result

    def signal(self, thread_ident: int, signum: int) -> bool:
        """Send `signum` to the CLI process started from that thread, if one is running."""
        with self._lock:
            process = self._running.get(thread_ident)
        if process is None or process.poll() is not None:
            return False
        if os.name == "nt":
            process.terminate()
        else:
            process.send_signal(signum)
        return True


def _read_streams(
    process: subprocess.Popen[str],
    on_output: auto.OnOutput | None,
    on_error: auto.OnOutput | None,
) -> tuple[str, str]:
    chunks: dict[str, list[str]] = {"out": [], "err": []}

    def pump(stream: IO[str] | None, callback: auto.OnOutput | None, key: str) -> None:
        assert stream is not None
        for line in iter(stream.readline, ""):
            stripped = line.rstrip()
            if callback:
                callback(stripped)
            chunks[key].append(stripped)

    readers = [
        threading.Thread(target=pump, args=(process.stdout, on_output, "out")),
        threading.Thread(target=pump, args=(process.stderr, on_error, "err")),
    ]
    for reader in readers:
        reader.start()
    for reader in readers:
        reader.join()
    process.wait()
    return "\n".join(chunks["out"]), "\n".join(chunks["err"])


def _cli_roots() -> list[str | None]:
    """Where a CLI may already be: PATH (root None), ~/.pulumi, and the SDK's install dir."""
    roots: list[str | None] = [None] if shutil.which("pulumi") else []
    home = Path.home() / ".pulumi"
    for root in (home, home / "versions" / metadata.version("pulumi")):
        if any((root / "bin" / exe).exists() for exe in ("pulumi", "pulumi.exe")):
            roots.append(str(root))
    return roots


def _find_or_install_cli() -> auto.PulumiCommand:
    problems = []
    for root in _cli_roots():
        try:
            return _CliCommand(root=root, version=MIN_CLI_VERSION)
        except Exception as exc:  # too old, broken binary, ...
            problems.append(_short_reason(exc))
    try:
        log.info("Pulumi CLI not found: installing it with PulumiCommand.install()")
        installed = auto.PulumiCommand.install()
        return _CliCommand(root=str(Path(installed.command).parent.parent), version=MIN_CLI_VERSION)
    except Exception as exc:  # any failure means: not available here
        problems.append(_short_reason(exc))
    raise EngineUnavailableError(
        f"Pulumi CLI not found and could not be installed ({'; '.join(problems)}): "
        f"install it ({INSTALL_DOCS}) or pass --simulate / set PROVISIONER_ENGINE=simulated"
    )


def _short_reason(exc: BaseException) -> str:
    if isinstance(exc, URLError):
        return f"download failed: {exc.reason}"
    if isinstance(exc, FileNotFoundError):
        return f"{exc.filename or 'pulumi'} not found"
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return (lines[0] if lines else type(exc).__name__)[:160]


def _plugin_version(package: str) -> str:
    text = resources.files(package).joinpath("pulumi-plugin.json").read_text(encoding="utf-8")
    return str(json.loads(text)["version"])


# -- workspace files and settings ----------------------------------------------------------


def _no_program() -> None:
    """Stands in for the program where Pulumi needs one but does not run it (destroy)."""


def _safe_dir_name(stack_name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.@-]", "_", stack_name)


def _write_project_file(work_dir: Path, backend_url: str) -> None:
    """Pulumi.yaml for the project, written atomically and only when it changes, so
    concurrent workspaces on one stack never see a half-written file."""
    work_dir.mkdir(parents=True, exist_ok=True)
    project = auto.ProjectSettings(
        name=PROJECT, runtime="python", backend=auto.ProjectBackend(url=backend_url)
    )
    text = yaml.safe_dump(project.to_dict(), sort_keys=True)
    path = work_dir / "Pulumi.yaml"
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return
    tmp = work_dir / f".Pulumi.yaml.{os.getpid()}.{threading.get_ident()}.tmp"
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _is_cloud(url: str) -> bool:
    """Pulumi Cloud (or a self-hosted Pulumi service) rather than a DIY backend."""
    return urlparse(url).scheme in ("http", "https")


def _file_backend_path(url: str) -> Path | None:
    if not url.startswith("file://"):
        return None
    return Path(unquote(url[len("file://") :].split("?", 1)[0])).expanduser()


def _tag_stack(stack: auto.Stack, spec: InstanceSpec) -> None:
    """Stack tags for the console and `stack ls --tag`; best effort, since DIY backends in
    older CLIs refuse tags ("stack tags not supported in diy mode")."""
    tags = {TAG_USER_ID: spec.user_id, TAG_TASK_ID: spec.task_id, TAG_INSTANCE_ID: spec.instance_id}
    for name, value in tags.items():
        if not value:
            continue
        try:
            stack.set_tag(name[:TAG_NAME_MAX], value[:TAG_VALUE_MAX])
        except auto_errors.CommandError as exc:
            log.info("stack %s left untagged: %s", stack.name, _error_line([], str(exc)))
            return


# -- results -------------------------------------------------------------------------------


def _stack_outputs(outputs: Mapping[str, auto.OutputValue]) -> StackOutputs:
    values = {name: output.value for name, output in outputs.items()}
    metadata_value = values.get(OUTPUT_METADATA) or {}
    if isinstance(metadata_value, str):
        try:
            metadata_value = json.loads(metadata_value)
        except ValueError:
            metadata_value = {"value": metadata_value}
    return StackOutputs(
        public_ip=values.get(OUTPUT_PUBLIC_IP) or None,
        private_ip=values.get(OUTPUT_PRIVATE_IP) or None,
        cloud_instance_id=values.get(OUTPUT_CLOUD_INSTANCE_ID) or None,
        metadata=dict(metadata_value) if isinstance(metadata_value, dict) else {},
    )


def _all_updates(stack: auto.Stack) -> list[auto.UpdateSummary]:
    """Every page of the stack's history (the CLI returns 10 entries unless asked for more)."""
    updates: list[auto.UpdateSummary] = []
    for page in range(1, HISTORY_MAX_PAGES + 1):
        batch = stack.history(page_size=HISTORY_PAGE_SIZE, page=page, show_secrets=False)
        updates.extend(batch)
        if len(batch) < HISTORY_PAGE_SIZE:
            break
    return updates


def _history_entry(update: auto.UpdateSummary) -> HistoryEntry:
    return HistoryEntry(
        version=update.version or 0,
        kind=update.kind,
        result=update.result,
        start_time=_utc(update.start_time) or datetime.fromtimestamp(0, UTC),
        end_time=_utc(update.end_time),
        message=update.message,
        resource_changes={str(op): int(n) for op, n in (update.resource_changes or {}).items()},
    )


def _utc(value: datetime | None) -> datetime | None:
    """The SDK parses the CLI's UTC timestamps into naive datetimes."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


# -- events and errors ---------------------------------------------------------------------


class _EventRelay:
    """Called by the SDK with each Pulumi engine event (from its event-stream threads): passes
    them on as EngineEvents and keeps the error diagnostics to explain a failure."""

    def __init__(self, callback: EventCallback | None):
        self.callback = callback
        self.errors: list[str] = []

    def __call__(self, event: auto_events.EngineEvent) -> None:
        translated = _translate(event)
        if translated is None:
            return
        if translated.kind == "diagnostic" and translated.severity == "error":
            self.errors.append(translated.message)
        if self.callback is not None:
            try:
                self.callback(translated)
            except Exception:
                log.exception("on_event callback failed")


def _translate(event: auto_events.EngineEvent) -> EngineEvent | None:
    diagnostic = event.diagnostic_event
    if diagnostic is not None:
        if diagnostic.ephemeral or diagnostic.severity == "debug":
            return None
        return EngineEvent(
            kind="diagnostic",
            message=diagnostic.message.strip(),
            resource_type=_urn_part(diagnostic.urn, -2),
            resource_name=_urn_part(diagnostic.urn, -1),
            severity="info" if diagnostic.severity == "info#err" else diagnostic.severity,
        )
    steps = (
        (event.resource_pre_event, "started"),
        (event.res_outputs_event, "done"),
        (event.res_op_failed_event, "failed"),
    )
    for step, status in steps:
        if step is not None and not getattr(step, "planning", False):
            meta = step.metadata
            name = _urn_part(meta.urn, -1)
            return EngineEvent(
                kind="resource",
                message=f"{meta.op.value} {status}: {meta.type} {name}",
                resource_type=meta.type,
                resource_name=name,
                op=meta.op.value,
                status=status,
            )
    return None


def _urn_part(urn: str | None, index: int) -> str | None:
    """urn:pulumi:<stack>::<project>::<type>::<name>; the type may carry parents ($)."""
    parts = (urn or "").split("::")
    if len(parts) < 4:
        return None
    return parts[index].split("$")[-1] if index == -2 else parts[index]


_KNOWN_CODES = CAPACITY_CODES + QUOTA_CODES
_NOISE = re.compile(r"^(error:\s*)?(update failed|destroy failed|an error occurred.*)$", re.I)
_LEADERS = re.compile(r"^(?:error:\s*|[\w./-]+\.go:\d+:\s*|sdk\.helper_schema:\s*)+")
_TRAILER = re.compile(r":\s*provider=\S+$")


def _failure(
    error: type[CloudError], exc: auto_errors.CommandError, diagnostics: Sequence[str]
) -> CloudError:
    """A typed, classified error whose message is one useful line, not the CLI's whole output."""
    text = "\n".join([str(exc), *diagnostics])
    if isinstance(exc, auto_errors.ConcurrentUpdateError):
        line = _error_line(diagnostics, str(exc))
        return error(f"another operation holds the stack's lock: {line}", kind="transient")
    if isinstance(exc, auto_errors.InlineSourceRuntimeError):
        found = re.search(r"python inline source runtime error:\s*(.+)", text)
        line = found.group(1).strip() if found else _error_line(diagnostics, str(exc))
        return error(f"the Pulumi program failed: {line}", kind="error")
    kind, code = classify_cloud_message(text)
    return error(_error_line(diagnostics, str(exc)), kind=kind, provider_code=code)


def _error_line(diagnostics: Sequence[str], output: str) -> str:
    """The most telling line: one naming a known cloud code, else the first error line."""
    lines = []
    for chunk in (*diagnostics, output):
        for raw in chunk.splitlines():
            line = re.sub(r"^\s*(code|stdout|stderr):\s*", "", raw).strip()
            if line and not _NOISE.match(line) and not line.isdigit():
                lines.append(line)
    coded = [line for line in lines if any(code in line for code in _KNOWN_CODES)]
    flagged = [line for line in lines if "error:" in line.lower() or line.startswith("error")]
    best = (coded or flagged or lines or ["the Pulumi CLI failed without saying why"])[0]
    if "error:" in best:
        best = best[best.index("error:") :]
    best = _TRAILER.sub("", _LEADERS.sub("", best)).strip()
    return best if len(best) <= 400 else best[:397] + "..."


# -- doctor checks -------------------------------------------------------------------------


def _backend_check(url: str) -> DoctorCheck:
    path = _file_backend_path(url)
    if path is None:
        if _is_cloud(url):
            token = (
                "PULUMI_ACCESS_TOKEN" in os.environ
                or (Path.home() / ".pulumi" / "credentials.json").exists()
            )
            note = "" if token else " (no PULUMI_ACCESS_TOKEN and no `pulumi login` found)"
            return DoctorCheck("backend", token, f"{url}{note}")
        return DoctorCheck("backend", True, f"{url} (access through the cloud's credentials)")
    existing = path
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    writable = os.access(existing, os.W_OK)
    state = "writable" if writable else f"not writable ({existing})"
    return DoctorCheck("backend", writable, f"{url}: {state}")


def _aws_credentials_check() -> DoctorCheck:
    variables = [
        name
        for name in (
            "AWS_ACCESS_KEY_ID",
            "AWS_PROFILE",
            "AWS_WEB_IDENTITY_TOKEN_FILE",
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        )
        if os.environ.get(name)
    ]
    files = [
        Path(os.environ.get(var) or default).expanduser()
        for var, default in (
            ("AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials"),
            ("AWS_CONFIG_FILE", "~/.aws/config"),
        )
    ]
    sources = variables + [str(path) for path in files if path.exists()]
    if sources:
        return DoctorCheck("aws credentials", True, "found: " + ", ".join(sources))
    return DoctorCheck(
        "aws credentials",
        False,
        "none found (AWS_* variables, ~/.aws/credentials or ~/.aws/config); an instance role "
        "is not checked",
    )


def _azure_credentials_check() -> DoctorCheck:
    names = [*ARM_FROM_AZURE, *ARM_FROM_AZURE.values(), "ARM_USE_MSI", "ARM_USE_OIDC"]
    variables = [name for name in names if os.environ.get(name)]
    cli_login = Path("~/.azure").expanduser()
    sources = variables + ([str(cli_login)] if cli_login.exists() else [])
    if sources:
        return DoctorCheck("azure credentials", True, "found: " + ", ".join(sources))
    return DoctorCheck(
        "azure credentials", False, "none found (ARM_*/AZURE_* variables or `az login`)"
    )


__all__ = ["PulumiEngine"]
