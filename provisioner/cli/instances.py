"""Instance commands: up, down, list, show, status, events, history."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from provisioner.engine.base import EngineEvent

JsonOpt = Annotated[bool, typer.Option("--json", help="Print the API's JSON shape.")]


def _parse_tags(pairs: list[str]) -> dict[str, str]:
    from provisioner.rules.errors import ValidationError

    tags: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise ValidationError("config.tags", f"Tag must be key=value (got {pair!r})")
        tags[key] = value
    return tags


def _read_key(path: Path | None) -> str | None:
    from provisioner.rules.errors import ValidationError

    if path is None:
        return None
    try:
        return path.expanduser().read_text().strip()
    except OSError as exc:
        raise ValidationError(
            "sshPublicKey", f"SSH key file {path} cannot be read: {exc.strerror}"
        ) from None


class _Progress:
    """Shows engine events under a spinner on stderr."""

    def __init__(self, title: str, enabled: bool):
        from provisioner.cli.render import err

        self.status = err.status(title) if enabled else None
        self.enabled = enabled
        self.console = err

    def __enter__(self) -> _Progress:
        if self.status is not None:
            self.status.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.status is not None:
            self.status.__exit__(*exc)

    def __call__(self, event: EngineEvent) -> None:
        if not self.enabled:
            return
        from rich.markup import escape

        if event.kind == "resource" and event.status in ("done", "failed"):
            mark = "[green]✓[/green]" if event.status == "done" else "[red]✗[/red]"
            self.console.print(f"  {mark} {escape(event.message)}")
        elif event.kind == "diagnostic" and event.severity in ("warning", "error"):
            self.console.print(f"  [yellow]![/yellow] {escape(event.message)}")
        elif self.status is not None:
            self.status.update(escape(event.message))


def up(
    provider: Annotated[str, typer.Option(help="aws or azure")],
    instance_type: Annotated[str, typer.Option(help="A type from `provisioner types`.")],
    region: Annotated[str | None, typer.Option(help="Default: us-east-1 / eastus.")] = None,
    disk_gb: Annotated[
        int | None, typer.Option(help="Root disk, 30..4096 GB (default 100).")
    ] = None,
    ttl: Annotated[
        int | None, typer.Option(help="Auto-terminate after MINUTES (default 60).")
    ] = None,
    task: Annotated[
        str | None, typer.Option(help="Task id (terminate a task's VMs with `down --task`).")
    ] = None,
    user: Annotated[str | None, typer.Option(help="User id (default: your login name).")] = None,
    tag: Annotated[list[str] | None, typer.Option(help="key=value, repeatable.")] = None,
    purpose: Annotated[str | None, typer.Option(help="Free text, at most 256 characters.")] = None,
    ssh_key: Annotated[
        Path | None, typer.Option(help="OpenSSH public key file to install.")
    ] = None,
    allow_ssh_from: Annotated[
        list[str] | None,
        typer.Option(help="CIDR allowed to reach tcp/22; repeatable. Default: none."),
    ] = None,
    simulate: Annotated[bool, typer.Option("--simulate", help="Use the simulated engine.")] = False,
    allow_retired: Annotated[
        bool, typer.Option("--allow-retired", help="Try a retired type on a real cloud anyway.")
    ] = False,
    json_output: JsonOpt = False,
) -> None:
    """Create an instance's stack and wait until it is READY."""
    from provisioner.cli.context import default_user, make_provisioner
    from provisioner.cli.render import err, instance_details, out, print_json, simulation_banner
    from provisioner.rules.validation import ProvisionRequest

    request = ProvisionRequest(
        provider=provider,
        instance_type=instance_type,
        user_id=user or default_user(),
        task_id=task,
        region=region,
        disk_size_gb=disk_gb,
        auto_terminate_minutes=ttl,
        tags=_parse_tags(tag or []),
        purpose=purpose,
        ssh_public_key=_read_key(ssh_key),
        allowed_ssh_cidrs=tuple(allow_ssh_from or ()),
        allow_retired=allow_retired,
    )
    service = make_provisioner(simulate=simulate)
    pending = service.begin_provision(request)
    simulation_banner(pending.engine)
    for event in service.events(pending.id):
        if event.type == "instance:warning":
            err.print(f"[yellow]warning: {event.detail}[/yellow]")
    if not json_output:
        err.print(
            f"provisioning {pending.id}: {pending.provider} {pending.instance_type} "
            f"in {pending.region} (${pending.cost_per_hour:g}/hour)"
        )
    with _Progress(f"provisioning {pending.id}", enabled=not json_output) as progress:
        instance = service.run_provision(pending.id, on_progress=progress).to_json()
    if json_output:
        print_json({"success": True, "instance": instance})
        return
    out.print(instance_details(instance))
    simulation_banner(instance["engine"])


def down(
    instance_ids: Annotated[list[str] | None, typer.Argument(help="Instance ids.")] = None,
    task: Annotated[
        str | None, typer.Option(help="Terminate every live instance of this task.")
    ] = None,
    json_output: JsonOpt = False,
) -> None:
    """Destroy instances' stacks and print the final cost."""
    from provisioner.cli.context import make_provisioner
    from provisioner.cli.render import err, money, out, print_json
    from provisioner.rules.errors import ProvisionerError, ValidationError

    if bool(instance_ids) == bool(task):
        raise ValidationError(
            "instanceIds", "Give instance ids or --task, not both and not neither"
        )
    service = make_provisioner()
    results: list[dict[str, Any]] = []
    failure: ProvisionerError | None = None
    if task:
        done = service.terminate_task(task)
        results = [i.to_json() for i in done]
    else:
        for instance_id in instance_ids or []:
            try:
                with _Progress(f"terminating {instance_id}", enabled=not json_output) as progress:
                    results.append(service.terminate(instance_id, on_progress=progress).to_json())
            except ProvisionerError as exc:
                failure = exc
                if len(instance_ids or []) > 1:  # the last failure is reported on exit anyway
                    err.print(f"{instance_id}: {exc.message}", style="red", markup=False)
    if json_output:
        if len(results) == 1 and not task:
            print_json(
                {
                    "success": failure is None,
                    "message": "Instance terminated successfully",
                    "instance": results[0],
                }
            )
        elif failure is None or results:
            print_json(
                {
                    "success": failure is None,
                    "message": f"{len(results)} instance(s) terminated",
                    "instances": results,
                    "count": len(results),
                }
            )
    else:
        for i in results:
            out.print(
                f"{i['id']}: {i['status']}, final cost {money(i['totalCost'])} "
                f"({i['provider']} {i['instanceType']}, engine {i['engine']})"
            )
        if task and not results:
            out.print(f"no live instances for task {task}")
    if failure is not None:
        raise failure


def list_instances(
    user: Annotated[str | None, typer.Option(help="Only this user's instances.")] = None,
    status: Annotated[str | None, typer.Option(help="Only instances in this status.")] = None,
    json_output: JsonOpt = False,
) -> None:
    """List instances, newest first."""
    from provisioner.cli.context import make_provisioner
    from provisioner.cli.render import instance_table, out, print_json
    from provisioner.rules.errors import ValidationError
    from provisioner.rules.lifecycle import parse_status

    try:
        wanted = parse_status(status) if status else None
    except ValueError as exc:
        raise ValidationError("status", str(exc)) from None
    instances = [i.to_json() for i in make_provisioner().list(user, wanted)]
    if json_output:
        print_json({"success": True, "instances": instances, "count": len(instances)})
    elif instances:
        out.print(instance_table(instances))
    else:
        out.print("no instances")


def show(instance_id: str, json_output: JsonOpt = False) -> None:
    """Show one instance."""
    from provisioner.cli.context import make_provisioner
    from provisioner.cli.render import instance_details, out, print_json

    instance = make_provisioner().get(instance_id).to_json()
    if json_output:
        print_json({"success": True, "instance": instance})
    else:
        out.print(instance_details(instance))


def set_status(
    instance_id: str,
    status: Annotated[str, typer.Argument(help="RUNNING (a task started) or READY (it finished).")],
    json_output: JsonOpt = False,
) -> None:
    """Mark an instance RUNNING or READY."""
    from provisioner.cli.context import make_provisioner
    from provisioner.cli.render import out, print_json

    instance = make_provisioner().set_status(instance_id, status).to_json()
    if json_output:
        print_json({"success": True, "instance": instance})
    else:
        out.print(f"{instance['id']}: {instance['status']}")


def events(instance_id: str, json_output: JsonOpt = False) -> None:
    """The instance's state changes and notes, from the ledger."""
    from rich.table import Table

    from provisioner.cli.context import make_provisioner
    from provisioner.cli.render import out, print_json, when

    rows = [e.to_json() for e in make_provisioner().events(instance_id)]
    if json_output:
        print_json({"success": True, "events": rows, "count": len(rows)})
        return
    table = Table(show_edge=False, header_style="bold")
    for column in ("AT", "TYPE", "STATUS", "DETAIL"):
        table.add_column(column)
    for e in rows:
        table.add_row(when(e["at"]), e["type"], e["status"], e["detail"] or "")
    out.print(table)


def history(instance_id: str, json_output: JsonOpt = False) -> None:
    """The stack's Pulumi update history (the audit trail)."""
    from dataclasses import asdict

    from rich.table import Table

    from provisioner.cli.context import make_provisioner
    from provisioner.cli.render import out, print_json, when

    service = make_provisioner()
    instance = service.get(instance_id)
    entries = service.history(instance_id)
    if entries is None:
        note = (
            f"{instance_id} was made by the simulated engine, which keeps no Pulumi update "
            f"history; its ledger events (`provisioner events {instance_id}`) are the record"
        )
        if json_output:
            print_json({"success": True, "engine": instance.engine, "history": None, "note": note})
        else:
            out.print(note)
        return
    if json_output:
        rows = [
            asdict(e) | {"start_time": when(e.start_time), "end_time": when(e.end_time)}
            for e in entries
        ]
        print_json({"success": True, "engine": instance.engine, "history": rows})
        return
    table = Table(show_edge=False, header_style="bold")
    for column in ("VERSION", "KIND", "RESULT", "STARTED", "ENDED", "MESSAGE", "CHANGES"):
        table.add_column(column)
    for e in entries:
        changes = ", ".join(f"{k} {v}" for k, v in e.resource_changes.items())
        table.add_row(
            str(e.version),
            e.kind,
            e.result,
            when(e.start_time),
            when(e.end_time),
            e.message,
            changes,
        )
    out.print(table)


def register(app: typer.Typer) -> None:
    app.command()(up)
    app.command()(down)
    app.command("list")(list_instances)
    app.command()(show)
    app.command("status")(set_status)
    app.command()(events)
    app.command()(history)
