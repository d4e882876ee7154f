"""Instance commands: up, down, list, show, status, events, history."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated, Any

import typer

from provisioner.cli import completion
from provisioner.cli.completion import InstanceIdArg
from provisioner.cli.request_options import (
    JsonOpt,
    RequestOptions,
    VerboseOpt,
    WideOpt,
    request_options,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from provisioner.engine.base import EngineEvent
    from provisioner.ops.service import Provisioner
    from provisioner.rules.validation import ProvisionRequest


class _Progress:
    """Shows engine events under a spinner on stderr."""

    def __init__(
        self,
        title: str,
        enabled: bool,
        refusals: Callable[[], dict[int, str | None]] | None = None,
    ):
        from provisioner.cli.render import err

        self.status = err.status(title) if enabled else None
        self.enabled = enabled
        # --verbose: the failed attempts' whole refusals, by number, as the ledger recorded them
        self.refusals = refusals
        self.shown: set[int] = set()
        self.console = err
        self.title = title
        self.started = time.monotonic()

    def __enter__(self) -> _Progress:
        if self.status is not None:
            self.status.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.status is not None:
            self.status.__exit__(*exc)

    def _full_refusal(self, message: str) -> None:
        """--verbose: under "attempt N refused: ..." the provider's whole text, as the ledger
        recorded it for attempt N (the attempts `show` lists)."""
        import re

        refused = re.match(r"attempt (\d+) refused", message)
        if self.refusals is None or refused is None:
            return
        number = int(refused.group(1))
        self._print_text(self.refusals().get(number))
        self.shown.add(number)

    def last_refusals(self) -> None:
        """--verbose, when the up failed: the refusals no line announced (the last attempt's,
        which ends the up instead of failing over)."""
        if self.refusals is None or not self.enabled:
            return
        for number, text in sorted(self.refusals().items()):
            if number not in self.shown:
                self.console.print(f"  attempt {number} refused:", markup=False)
                self._print_text(text)

    def _print_text(self, text: str | None) -> None:
        for line in (text or "(no text recorded)").splitlines():
            self.console.print(f"      {line}", markup=False, highlight=False, soft_wrap=True)

    def __call__(self, event: EngineEvent) -> None:
        if not self.enabled:
            return
        from rich.markup import escape

        elapsed = f"{self.title} ({time.monotonic() - self.started:.0f}s)"
        if event.kind == "info" and event.message.startswith("attempt "):
            self.console.print(f"  {event.message}", markup=False, soft_wrap=True)
            self._full_refusal(event.message)
        elif event.kind == "resource" and event.status in ("done", "failed"):
            mark = "[green]✓[/green]" if event.status == "done" else "[red]✗[/red]"
            self.console.print(f"  {mark} {escape(_headline(event.message))}")
        elif event.kind == "diagnostic" and event.severity in ("warning", "error"):
            first = (event.message.splitlines() or [""])[0]  # the whole text is in the events
            self.console.print(f"  [yellow]![/yellow] {escape(first)}")
        elif self.status is not None:
            self.status.update(f"{escape(elapsed)}: {escape(event.message)}")


def _headline(text: str, width: int = 160) -> str:
    """A message's first line, at most `width` characters: a cloud's refusal is a paragraph;
    its whole text is in `show`'s attempts, the events and `--verbose` (#27)."""
    first = (text.splitlines() or [""])[0]
    return first if len(first) <= width else first[: width - 1] + "…"


@request_options
def up(
    simulate: Annotated[bool, typer.Option("--simulate", help="Use the simulated engine.")] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Print only the instance id (for scripts).")
    ] = False,
    json_output: JsonOpt = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show the plan (`provisioner plan`); create nothing.")
    ] = False,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Do not ask before a costly up (on a terminal).")
    ] = False,
    verbose: VerboseOpt = False,
    *,
    options: RequestOptions,
) -> None:
    """Create an instance's stack and wait until it is READY (SSH answers, cloud-init done)."""
    from provisioner.cli import plan
    from provisioner.cli.render import emit, instance_details, print_json, simulation_banner

    request = options.to_request(simulate=simulate)
    if dry_run:
        plan.show_plan(request, simulate=simulate, json_output=json_output)
        return
    if not (yes or json_output or quiet) and plan.interactive():
        plan.confirm_cost(options, request, simulate=simulate)
    instance = provision_with_progress(
        request, simulate=simulate, json_output=json_output, quiet=quiet, verbose=verbose
    )
    if json_output:
        print_json({"success": True, "instance": instance})
        return
    if quiet:
        print(instance["id"])
        return
    emit(instance_details(instance))
    simulation_banner(instance["engine"])


def provision_with_progress(
    request: ProvisionRequest,
    *,
    simulate: bool,
    json_output: bool,
    quiet: bool = False,
    warn_unwatched: bool = True,
    verbose: bool = False,
) -> dict[str, Any]:
    """Record the request, run its up with live progress on stderr; the READY instance's JSON.
    `warn_unwatched`: say on stderr when no reaper is watching its expiry."""
    from provisioner.cli.context import make_provisioner
    from provisioner.cli.render import err, inert, per_hour, simulation_banner

    service = make_provisioner(simulate=simulate)
    pending = service.begin_provision(request)
    simulation_banner(pending.engine)
    for event in service.events(pending.id):
        if event.type == "instance:warning":
            err.print(f"warning: {inert(event.detail)}", style="yellow", markup=False)
    if not (json_output or quiet):
        err.print(
            f"provisioning {pending.id}: {pending.provider} {pending.instance_type} "
            f"in {pending.region} ({per_hour(float(pending.cost_per_hour))})",
            markup=False,
        )
    progress_shown = not (json_output or quiet)

    def refusals() -> dict[int, str | None]:
        from provisioner.capacity.candidates import AttemptOutcome
        from provisioner.ledger.attempts import attempts_of

        attempts = attempts_of(service.ledger, pending.id)
        return {a.number: a.message for a in attempts if a.outcome == AttemptOutcome.FAILED}

    title = f"provisioning {pending.id}"
    with _Progress(title, progress_shown, refusals if verbose else None) as progress:
        try:
            instance = service.run_provision(pending.id, on_progress=progress).to_json()
        except Exception:
            progress.last_refusals()
            raise
    if warn_unwatched:
        _warn_if_no_reaper(service, instance)
    return instance


def _warn_if_no_reaper(service: Provisioner, instance: dict[str, Any]) -> None:
    """The TTL is the reaper's to enforce: from the shell alone, nothing destroys the instance at
    its expiry, only its VM's deadman at the hard deadline."""
    from provisioner.cli.render import err, when
    from provisioner.ops.reaper_watch import reaper_watch

    watch = reaper_watch(
        service.ledger, now=service.clock(), default_interval=service.settings.reap_interval_seconds
    )
    if watch.watching:
        return
    err.print(
        f"warning: {watch.detail}: nothing destroys {instance['id']} at its expiry "
        f"({when(instance['expiresAt'])}) but `provisioner down`, its VM's own deadman stops it "
        f"at the hard deadline ({when(instance['hardDeadline'])}); keep `provisioner reap` or "
        "`provisioner serve` running (docs/reaper.md)",
        style="yellow",
        markup=False,
    )


def down(
    instance_ids: Annotated[
        list[str] | None,
        typer.Argument(help="Instance ids.", autocompletion=completion.instance_ids),
    ] = None,
    task: Annotated[
        str | None, typer.Option(help="Terminate every live instance of this task.")
    ] = None,
    json_output: JsonOpt = False,
) -> None:
    """Destroy instances' stacks and print the final cost."""
    from provisioner.cli.context import make_provisioner
    from provisioner.cli.ids import full_id
    from provisioner.cli.render import err, inert, money, print_json, say
    from provisioner.rules.errors import ProvisionerError, ValidationError

    if bool(instance_ids) == bool(task):
        raise ValidationError(
            "instanceIds", "Give instance ids or --task, not both and not neither"
        )
    service = make_provisioner()
    results: list[dict[str, Any]] = []
    failure: ProvisionerError | None = None
    if task:  # each live instance of the task, with the same progress as ids (#27)
        live = service.ledger.list(task_id=task)
        instance_ids = [i.id for i in live if i.terminated_at is None]
    for typed in instance_ids or []:
        instance_id = typed
        try:
            instance_id = full_id(service, typed)
            with _Progress(f"terminating {instance_id}", enabled=not json_output) as progress:
                results.append(service.terminate(instance_id, on_progress=progress).to_json())
        except ProvisionerError as exc:
            failure = exc
            if len(instance_ids or []) > 1:  # each failure once, on its own line
                line = f"{inert(instance_id)}: {inert(exc.message)}"
                err.print(line, style="red", markup=False)
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
            say(
                f"{i['id']}: {i['status']}, final cost {money(i['totalCost'])} "
                f"({i['provider']} {i['instanceType']}, engine {i['engine']})"
            )
        if task and not results:
            say(f"no live instances for task {task}")
    if failure is not None and len(instance_ids or []) > 1:
        from provisioner.cli.errors import exit_code_for

        raise typer.Exit(exit_code_for(failure) or 1)  # already said, per id, above
    if failure is not None:
        raise failure


DEFAULT_LIST_LIMIT = 50


def list_instances(
    user: Annotated[str | None, typer.Option(help="Only this user's instances.")] = None,
    status: Annotated[
        list[str] | None,
        typer.Option(help="Only instances in this status; repeat (or A,B) for several."),
    ] = None,
    task: Annotated[str | None, typer.Option(help="Only this task's instances.")] = None,
    live: Annotated[
        bool, typer.Option("--live", help="Only instances not yet ended (not TERMINATED/FAILED).")
    ] = False,
    since: Annotated[
        str | None, typer.Option(help="Only instances created at or after (date or ISO time).")
    ] = None,
    limit: Annotated[
        int,
        typer.Option(min=1, help=f"Show the newest N (default {DEFAULT_LIST_LIMIT})."),
    ] = DEFAULT_LIST_LIMIT,
    show_all: Annotated[bool, typer.Option("--all", help="Show every match.")] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Print only the ids, one a line.")
    ] = False,
    json_output: JsonOpt = False,
    wide: WideOpt = False,
) -> None:
    """List instances, newest first: the newest 50 unless --limit or --all."""
    from provisioner.cli import fastpath
    from provisioner.cli.context import make_provisioner, parse_when
    from provisioner.cli.list_filters import filtered, parse_statuses
    from provisioner.cli.render import (
        emit,
        err,
        instance_table,
        print_json,
        print_json_streamed,
        say,
    )

    statuses = parse_statuses(status)
    wanted = statuses[0] if statuses else None
    created_since = parse_when("since", since)
    wanted_value = None if wanted is None else wanted.value
    special = len(statuses) > 1 or task is not None or live  # list_filters' path
    after = lambda n: {"count": n, "total": n, "more": 0}  # noqa: E731
    if special:
        instances, total = filtered(
            make_provisioner(),
            user=user,
            statuses=statuses,
            task=task,
            live=live,
            since=created_since,
            limit=None if show_all else limit,
        )
        rows: list[dict[str, Any]] = [i.to_json() for i in instances]
    elif show_all and json_output:  # every match, streamed a batch at a time
        fast = fastpath.iter_newest(user_id=user, status=wanted_value, since=created_since)
        if fast is None:  # the ORM path (fastpath.py says when)
            service = make_provisioner()
            fast = (i.to_json() for i in service.iter_newest(user, wanted, since=created_since))
        print_json_streamed("instances", fast, after)
        return
    elif show_all and quiet:
        batches = fastpath.newest_ids(user_id=user, status=wanted_value, since=created_since)
        if batches is None:  # the ORM path (fastpath.py says when)
            ledger = make_provisioner().ledger
            batches = ledger.iter_newest_ids(user_id=user, status=wanted, since=created_since)
        for ids in batches:
            print("\n".join(ids))
        return
    else:
        page = None if show_all else limit
        found = fastpath.newest(
            user_id=user, status=wanted_value, since=created_since, limit=page, ssh=json_output
        )
        if found is None:  # the ORM path (fastpath.py says when)
            service = make_provisioner()
            instances, total = service.newest(user, wanted, since=created_since, limit=page)
            found = [i.to_json() for i in instances], total
        rows, total = found
    more = total - len(rows)
    if json_output:
        print_json(
            {"success": True, "instances": rows, "count": len(rows), "total": total, "more": more}
        )
        return
    if quiet:
        for row in rows:
            print(row["id"])
    elif rows:
        emit(instance_table(rows), wide=wide)
    else:
        say("no instances")
    if more:
        err.print(f"{more} more (newest {len(rows)} of {total} shown; --limit N or --all)")


def show(instance_id: InstanceIdArg, json_output: JsonOpt = False) -> None:
    """Show one instance."""
    from provisioner.cli import fastpath
    from provisioner.cli.context import make_provisioner
    from provisioner.cli.ids import full_id
    from provisioner.cli.render import emit, instance_details, print_json

    instance = fastpath.show(instance_id)  # resolves a prefix too
    if instance is None:  # the ORM path (fastpath.py says when)
        service = make_provisioner()
        instance = service.get(full_id(service, instance_id)).to_json()
    if json_output:
        print_json({"success": True, "instance": instance})
    else:
        emit(instance_details(instance))


def set_status(
    instance_id: InstanceIdArg,
    status: Annotated[str, typer.Argument(help="RUNNING (a task started) or READY (it finished).")],
    json_output: JsonOpt = False,
) -> None:
    """Mark an instance RUNNING or READY."""
    from provisioner.cli.context import make_provisioner
    from provisioner.cli.ids import full_id
    from provisioner.cli.render import print_json, say

    service = make_provisioner()
    instance = service.set_status(full_id(service, instance_id), status).to_json()
    if json_output:
        print_json({"success": True, "instance": instance})
    else:
        say(f"{instance['id']}: {instance['status']}")


def events(
    instance_id: InstanceIdArg,
    json_output: JsonOpt = False,
    follow: Annotated[
        bool,
        typer.Option("--follow", "-f", help="Keep printing new events until the instance ends."),
    ] = False,
) -> None:
    """The instance's state changes and notes, from the ledger."""
    from rich.table import Table

    from provisioner.cli.context import make_provisioner
    from provisioner.cli.ids import full_id
    from provisioner.cli.render import cell, emit, print_json, say, when

    service = make_provisioner()
    if follow:
        from provisioner.cli.events_follow import follow as follow_events

        follow_events(service, full_id(service, instance_id), json_output=json_output)
        return
    instance_id = full_id(service, instance_id)
    rows = [e.to_json() for e in service.events(instance_id)]
    from provisioner.cli.events_follow import archived_in

    archived = None if rows else archived_in(service.settings.home, instance_id)
    if json_output:
        payload = {"success": True, "events": rows, "count": len(rows)}
        print_json({**payload, "archivedIn": str(archived)} if archived else payload)
        return
    if archived is not None:  # #27: after `gc` this was an empty table and no word
        say(f"{instance_id}'s events were archived by `provisioner gc` to {archived}")
        return
    table = Table(show_edge=False, header_style="bold")
    for column in ("AT", "TYPE", "STATUS", "DETAIL"):
        table.add_column(column)
    for e in rows:
        table.add_row(when(e["at"]), cell(e["type"]), cell(e["status"]), cell(e["detail"] or ""))
    emit(table)


def history(instance_id: InstanceIdArg, json_output: JsonOpt = False) -> None:
    """The stack's Pulumi update history (the audit trail)."""
    from dataclasses import asdict

    from rich.table import Table

    from provisioner.cli.context import make_provisioner
    from provisioner.cli.ids import full_id
    from provisioner.cli.render import cell, emit, print_json, say, when

    service = make_provisioner()
    instance_id = full_id(service, instance_id)
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
            say(note)
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
            cell(e.kind),
            cell(e.result),
            when(e.start_time),
            when(e.end_time),
            cell(e.message),
            cell(changes),
        )
    emit(table)


def register(app: typer.Typer) -> None:
    app.command()(up)
    app.command()(down)
    app.command("list")(list_instances)
    app.command()(show)
    app.command("status")(set_status)
    app.command()(events)
    app.command()(history)
