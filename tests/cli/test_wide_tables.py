"""#27: on a narrow terminal `list` and `offers` fold the other columns and keep ids, types and
regions whole; `--wide` shows every column at its full width, one line per row."""

from __future__ import annotations

import io
import json

import pytest
from rich.console import Console
from typer.testing import CliRunner

from provisioner.cli import render
from provisioner.cli.main import app

runner = CliRunner()
USER = "somebody-with-a-long-login-name"


@pytest.fixture
def terminal(monkeypatch):
    """A terminal COLUMNS=60 wide (Rich's console, told it is a terminal)."""
    monkeypatch.setenv("COLUMNS", "60")
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, color_system=None)
    assert console.width == 60
    monkeypatch.setattr(render, "out", console)
    return screen


def _taken(screen: io.StringIO) -> list[str]:
    text = screen.getvalue()
    screen.seek(0)
    screen.truncate()
    return text.splitlines()


def test_list_wide_shows_every_column_of_a_row_on_its_line(home, terminal):
    up = ["up", "--simulate", "--provider", "aws", "--instance-type", "g4dn.xlarge"]
    made = runner.invoke(app, [*up, "--user", USER, "--json"])
    assert made.exit_code == 0, made.output
    instance = json.loads(made.stdout)["instance"]
    _taken(terminal)

    assert runner.invoke(app, ["list"]).exit_code == 0
    folded = _taken(terminal)
    assert all(len(line) <= 60 for line in folded)
    (row,) = [line for line in folded if instance["id"] in line]
    assert "g4dn.xlarge us-east-1" in row and USER not in row  # folded or hidden to fit

    assert runner.invoke(app, ["list", "--wide"]).exit_code == 0
    wide = _taken(terminal)
    (row,) = [line for line in wide if instance["id"] in line]
    assert "g4dn.xlarge us-east-1" in row and USER in row
    assert instance["status"] in row and instance["publicIp"] in row
    header = next(line for line in wide if "ID" in line)
    for column in ("ID", "STATUS", "TYPE", "PUBLIC IP", "PRICE", "COST", "EXPIRES", "USER"):
        assert column in header
    assert max(len(line) for line in wide) > 60  # wider than the terminal, nothing cut


def test_offers_wide_shows_every_column_whole(home, terminal):
    args = ["offers", "--gpu", "T4", "--provider", "aws", "--limit", "5"]
    assert runner.invoke(app, args).exit_code == 0
    folded = _taken(terminal)
    assert all(len(line) <= 60 for line in folded)
    assert not any("SPOT $/H" in line for line in folded)  # that header folded

    assert runner.invoke(app, [*args, "--wide"]).exit_code == 0
    wide = _taken(terminal)
    header = next(line for line in wide if "PROVIDER" in line)
    for column in ("TYPE", "REGION", "GPU GB", "VCPU", "RAM GB", "$/H", "SPOT $/H"):
        assert column in header
    offers = json.loads(runner.invoke(app, [*args, "--json"]).stdout)["offers"][:5]
    for offer in offers:
        row = next(line for line in wide if offer["region"] in line)
        assert offer["instanceType"] in row and f"{offer['costPerHour']:.3f}" in row
        assert f"{offer['spotCostPerHour']:.3f}" in row


def test_wide_when_piped_is_the_same_plain_columns(home):
    args = ["offers", "--gpu", "T4", "--provider", "aws", "--limit", "5"]
    assert runner.invoke(app, [*args, "--wide"]).stdout == runner.invoke(app, args).stdout
