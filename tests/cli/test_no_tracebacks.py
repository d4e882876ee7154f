"""No traceback reaches a user: every command, fed bad arguments, fails with one line and exit
code 2 (bad input) or 1 (the operation failed). The commands are found by walking the Typer app,
so a command added later is covered without touching this file."""

from __future__ import annotations

from typing import Any

import pytest
import typer.main
from typer.testing import CliRunner

from provisioner.cli.main import app

runner = CliRunner()
HUGE = "\x1b]0;pwned\x07" + "x" * 10_000


# Duck-typed: Typer may use click itself or its vendored copy.
def _commands(command: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    if hasattr(command, "commands"):
        found: list[tuple[tuple[str, ...], Any]] = []
        for name, sub in sorted(command.commands.items()):
            found += _commands(sub, (*path, name))
        return found
    return [(path, command)]


COMMANDS = _commands(typer.main.get_command(app))


def _number_type(option: Any) -> bool:
    descriptor = getattr(option, "type_descriptor", None)
    if descriptor is not None:
        return descriptor.annotation in (int, float)
    return option.type.name in ("integer", "float", "integer range", "float range")


def _bad_argument_sets(command: Any) -> list[list[str]]:
    """Argument lists that are each wrong in at least one way, so no command really runs."""
    arguments = [p for p in command.params if p.param_type_name == "argument" and p.required]
    sets = [["--no-such-option"]]
    for option in command.params:
        if option.param_type_name == "option" and not option.is_flag and option.opts:
            name = max(option.opts, key=len)
            if _number_type(option):
                sets.append([name, "many"])
    if arguments:
        ids = ["inst-000000000000"] * len(arguments)
        sets.append(ids)  # well-formed but unknown ids
        sets.append([HUGE] * len(arguments))  # absurd values
        sets.append([*ids[:-1], "bogus"] if len(arguments) > 1 else ["bogus"])
    return sets


CASES = [
    pytest.param(path, args, id=" ".join(path) + " " + args[0][:20])
    for path, command in COMMANDS
    for args in _bad_argument_sets(command)
]


def test_the_walk_finds_every_command_group():
    names = {" ".join(path) for path, _ in COMMANDS}
    assert {"up", "down", "list", "show", "status", "stats", "cost-report"} <= names
    assert any(name.startswith("token ") for name in names)


@pytest.mark.parametrize(("path", "args"), CASES)
def test_bad_arguments_fail_in_one_line_without_a_traceback(home, path, args):
    result = runner.invoke(app, [*path, *args])
    assert result.exit_code in (1, 2), (path, args, result.output)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert "Traceback" not in result.output
    assert "x" * 200 not in result.output  # a huge value is never echoed back whole
    assert "\x1b]0;pwned" not in result.output  # nor written raw to the terminal


def test_named_failures_from_the_issue(home):
    up = runner.invoke(
        app, ["up", "--simulate", "--provider", "aws", "--instance-type", "g4dn.xlarge"]
    )
    assert up.exit_code == 0, up.output
    instance_id = next(w for w in up.stdout.split() if w.startswith("inst-"))

    bogus = runner.invoke(app, ["status", instance_id, "bogus"])
    assert bogus.exit_code == 2
    assert "RUNNING" in bogus.stderr and "READY" in bogus.stderr
    assert len(bogus.stderr.strip().splitlines()) == 1

    refused = runner.invoke(app, ["status", instance_id, "STOPPING"])
    assert refused.exit_code == 2  # bad input (#27: it was 1)
    assert len(refused.stderr.strip().splitlines()) == 1

    html = runner.invoke(app, ["cost-report", "--html", "/no/such/dir/x.html"])
    assert html.exit_code == 2 and "/no/such/dir" in html.stderr

    reversed_window = runner.invoke(
        app, ["stats", "--since", "2026-12-01", "--until", "2026-11-01"]
    )
    assert reversed_window.exit_code == 2 and "until" in reversed_window.stderr
    assert "Traceback" not in bogus.output + refused.output + html.output


def test_an_unexpected_failure_is_one_line_too(home, monkeypatch):
    from provisioner.ledger import reads

    def broken(*_args, **_kwargs):
        raise RuntimeError("disk on fire\nsecond line")

    monkeypatch.setattr(reads, "statistics_out", broken)  # what `stats` reads through
    result = runner.invoke(app, ["stats"])
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "error: unexpected RuntimeError: disk on fire (PROVISIONER_DEBUG=1 shows the traceback)"
    )
