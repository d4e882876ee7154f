"""Finding (or installing) the Pulumi CLI, and running it so the watchdog can stop it.

The CLI is looked up on PATH, under ~/.pulumi/bin, or where the SDK installs it
(~/.pulumi/versions/<sdk version>), and failing that installed once with
`PulumiCommand.install()`. If that fails too, `find_or_install_cli` raises
`EngineUnavailableError` with the fix (install it, or use the simulated engine). `CliCommand`
runs the CLI as `PulumiCommand.run` does, but keeps each running process by calling thread so
`PulumiEngine`'s watchdog can signal the `pulumi up` it started.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import threading
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import IO
from urllib.error import URLError

from pulumi import automation as auto
from pulumi.automation import errors as auto_errors
from semver import VersionInfo

from provisioner.rules.errors import EngineUnavailableError

log = logging.getLogger(__name__)

# Inline programs for destroy pass --client, which the CLI has understood since 3.181.
MIN_CLI_VERSION = VersionInfo(3, 181, 0)
INSTALL_DOCS = "https://www.pulumi.com/docs/iac/download-install/"


class CliCommand(auto.PulumiCommand):
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


def cli_roots() -> list[str | None]:
    """Where a CLI may already be: PATH (root None), ~/.pulumi, and the SDK's install dir."""
    roots: list[str | None] = [None] if shutil.which("pulumi") else []
    home = Path.home() / ".pulumi"
    for root in (home, home / "versions" / metadata.version("pulumi")):
        if any((root / "bin" / exe).exists() for exe in ("pulumi", "pulumi.exe")):
            roots.append(str(root))
    return roots


def find_or_install_cli() -> auto.PulumiCommand:
    problems = []
    for root in cli_roots():
        try:
            return CliCommand(root=root, version=MIN_CLI_VERSION)
        except Exception as exc:  # too old, broken binary, ...
            problems.append(short_reason(exc))
    try:
        log.info("Pulumi CLI not found: installing it with PulumiCommand.install()")
        installed = auto.PulumiCommand.install()
        return CliCommand(root=str(Path(installed.command).parent.parent), version=MIN_CLI_VERSION)
    except Exception as exc:  # any failure means: not available here
        problems.append(short_reason(exc))
    raise EngineUnavailableError(
        f"Pulumi CLI not found and could not be installed ({'; '.join(problems)}): "
        f"install it ({INSTALL_DOCS}) or pass --simulate / set PROVISIONER_ENGINE=simulated"
    )


def short_reason(exc: BaseException) -> str:
    if isinstance(exc, URLError):
        return f"download failed: {exc.reason}"
    if isinstance(exc, FileNotFoundError):
        return f"{exc.filename or 'pulumi'} not found"
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return (lines[0] if lines else type(exc).__name__)[:160]


__all__ = [
    "INSTALL_DOCS",
    "MIN_CLI_VERSION",
    "CliCommand",
    "cli_roots",
    "find_or_install_cli",
    "short_reason",
]
