"""Using a VM: ssh, exec, run (up, sync, run, down) and logs. CLI only: the REST API never runs
remote commands."""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from provisioner.cli.completion import InstanceIdArg
from provisioner.cli.instances import JsonOpt
from provisioner.cli.request_options import RequestOptions, VerboseOpt, request_options

CommandArg = Annotated[
    list[str] | None, typer.Argument(help="After `--`: the command (one string or words).")
]
# ssh options that take a value (the next argument when not attached): everything before the
# first other word in `ssh ID -- ARGS` is an ssh option, the rest the remote command.
_SSH_VALUE_FLAGS = set("BbcDEeFIiJLlmOoPpQRSWw")


def split_ssh_args(args: list[str]) -> tuple[list[str], list[str]]:
    options: list[str] = []
    rest = list(args)
    while rest and rest[0].startswith("-") and rest[0] != "-":
        arg = rest.pop(0)
        options.append(arg)
        if arg == "--":
            break
        if len(arg) == 2 and arg[1] in _SSH_VALUE_FLAGS and rest:
            options.append(rest.pop(0))
    return options, rest


def ssh(
    instance_id: InstanceIdArg,
    args: Annotated[
        list[str] | None,
        typer.Argument(help="After `--`: extra ssh options, then an optional remote command."),
    ] = None,
) -> None:
    """Open an SSH session (right key, user and pinned host key)."""
    from provisioner.cli.context import make_provisioner
    from provisioner.cli.ids import full_id
    from provisioner.remote import ssh as remote_ssh

    service = make_provisioner()
    _, target = service.live_target(full_id(service, instance_id))
    options, command = split_ssh_args(list(args or []))
    raise typer.Exit(remote_ssh.interactive(target, options, command))


def exec_command(
    instance_id: InstanceIdArg,
    command: CommandArg = None,
) -> None:
    """Run a command on the VM, streaming its output; exit with its exit code."""
    from provisioner.cli.context import make_provisioner
    from provisioner.cli.ids import full_id
    from provisioner.remote.ssh import shell_command

    service = make_provisioner()
    line = shell_command(command or [])
    code = service.run_command(
        full_id(service, instance_id),
        line,
        kind="exec",
        stdout=[sys.stdout.buffer],
        stderr=[sys.stderr.buffer],
    )
    raise typer.Exit(code)


@request_options
def run(
    command: CommandArg = None,
    workdir: Annotated[
        Path | None, typer.Option(help="Folder synced to the VM; the command runs in it.")
    ] = None,
    down: Annotated[
        bool, typer.Option("--down", help="Destroy the instance afterwards, whatever happened.")
    ] = False,
    simulate: Annotated[bool, typer.Option("--simulate", help="Use the simulated engine.")] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show the plan (`provisioner plan`); create nothing.")
    ] = False,
    verbose: VerboseOpt = False,
    *,
    options: RequestOptions,
) -> None:
    """up, sync --workdir to the VM, run the command there (output streamed and saved), and with
    --down destroy the instance whatever the outcome (Ctrl-C included); exit with the command's
    exit code."""
    from provisioner.cli.context import make_provisioner
    from provisioner.cli.instances import provision_with_progress
    from provisioner.cli.render import err
    from provisioner.remote.ssh import shell_command
    from provisioner.remote.sync import sync

    line = shell_command(command or [])
    if workdir is not None and not workdir.is_dir():
        from provisioner.rules.errors import ValidationError

        raise ValidationError("workdir", f"--workdir {workdir} must be an existing folder")
    request = options.to_request(
        simulate=simulate,
        default_cidrs=("me",),  # run must reach the VM it made
    )
    if dry_run:
        from provisioner.cli.plan import show_plan

        show_plan(request, simulate=simulate, json_output=False)
        return
    previous = signal.signal(signal.SIGTERM, _interrupt)
    instance: dict[str, Any] | None = None
    code = 1
    try:
        instance = provision_with_progress(
            request, simulate=simulate, json_output=False, warn_unwatched=not down, verbose=verbose
        )
        _expiry_note(instance, chosen=options.ttl is not None)
        service = make_provisioner(simulate=simulate)
        remote_dir = None
        if workdir is not None:
            _, target = service.live_target(instance["id"])
            remote_dir, method = sync(target, workdir)
            err.print(f"synced {workdir} to ~/{remote_dir} ({method})", markup=False)
        err.print(f"running on {instance['id']}: {line}", markup=False)
        code = service.run_command(
            instance["id"],
            line,
            workdir=remote_dir,
            kind="run",
            stdout=[sys.stdout.buffer],
            stderr=[sys.stderr.buffer],
        )
        err.print(f"{instance['id']}: the command exited {code}", markup=False)
    except KeyboardInterrupt:
        code = 130
        err.print("interrupted", markup=False)
    finally:
        signal.signal(signal.SIGTERM, previous)
        if down and instance is not None:
            _down(instance["id"], simulate)
        elif instance is not None:
            err.print(
                f"{instance['id']} is still up: `provisioner logs {instance['id']}`, "
                f"`provisioner down {instance['id']}`",
                markup=False,
            )
    raise typer.Exit(code)


def _expiry_note(instance: dict[str, Any], *, chosen: bool) -> None:
    """Always say when the VM expires; on the default TTL, that the command is cut off then
    (#27: `run` used 60 minutes without a word)."""
    from provisioner.cli.render import err, when

    line = (
        f"{instance['id']} expires {when(instance['expiresAt'])} "
        f"(auto-terminate {instance['autoTerminateMinutes']} min"
    )
    if chosen:
        line += ")"
    else:
        line += (
            ", the default): a command still running then is cut off; give --ttl (90m, 3h) or "
            f"`provisioner extend {instance['id']} --minutes N` while it runs"
        )
    err.print(line, markup=False, soft_wrap=True)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _down(instance_id: str, simulate: bool) -> None:
    """Destroy, shielded from a second Ctrl-C (it would leave the VM billing)."""
    from provisioner.cli.context import make_provisioner
    from provisioner.cli.render import err, money

    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        done = make_provisioner(simulate=simulate).terminate(instance_id, reason="user")
        err.print(
            f"{instance_id}: {done.status}, final cost {money(done.total_cost)}", markup=False
        )
    finally:
        signal.signal(signal.SIGINT, previous)


def logs(
    instance_id: InstanceIdArg,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep going until it ends.")
    ] = False,
    setup: Annotated[
        bool, typer.Option("--setup", help="The setup script's output instead of a run's.")
    ] = False,
    run_number: Annotated[
        int | None, typer.Option("--run", help="Which run (default: the latest).")
    ] = None,
    json_output: JsonOpt = False,
) -> None:
    """Replay a run's saved output (or the setup script's)."""
    from provisioner.cli.context import make_provisioner
    from provisioner.cli.ids import full_id
    from provisioner.cli.render import print_json
    from provisioner.remote import runlog
    from provisioner.rules.errors import NotFoundError

    service = make_provisioner()
    instance_id = full_id(service, instance_id)  # NotFoundError for an unknown id
    if setup:
        text = service.setup_log(instance_id)
        if text is None:
            raise NotFoundError(f"Instance {instance_id} has no saved setup script output")
        sys.stdout.write(text)
        return
    if json_output:
        print_json({"success": True, "runs": runlog.runs(service.settings.home, instance_id)})
        return
    record = runlog.replay(
        service.settings.home, instance_id, sys.stdout.buffer, run=run_number, follow=follow
    )
    if record is None:
        numbers = [str(r.get("run")) for r in runlog.runs(service.settings.home, instance_id)]
        if run_number is not None and numbers:
            raise NotFoundError(
                f"Instance {instance_id} has no run {run_number}; its runs: {', '.join(numbers)}"
            )
        raise NotFoundError(f"Instance {instance_id} has no saved run output")


def register(app: typer.Typer) -> None:
    app.command()(ssh)
    app.command("exec")(exec_command)
    app.command()(run)
    app.command()(logs)
