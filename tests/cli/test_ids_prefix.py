"""#27: an id is taken as typed or as a unique prefix wherever the CLI takes one; an ambiguous
prefix is one line naming the candidates, exit 2. `token revoke tok-bb53ee8` (a prefix copied
from `token list`) revokes that token. `down A inst-nope` says not-found once."""

from __future__ import annotations

import json

import pytest
from factories import make_request
from typer.testing import CliRunner

from provisioner.cli.main import app
from provisioner.config import Settings
from provisioner.ops.service import Provisioner

runner = CliRunner()


@pytest.fixture
def two(home):
    service = Provisioner(Settings(home=home, engine="simulated"))
    first = service.provision(make_request()).id
    second = service.provision(make_request()).id
    service.ledger.dispose()
    return first, second


def common_prefix(a: str, b: str) -> str:
    n = 0
    while a[n] == b[n]:
        n += 1
    return a[:n]


@pytest.mark.parametrize("command", [["show"], ["events"], ["history"], ["logs"], ["exec"]])
def test_an_ambiguous_prefix_is_one_line_naming_the_candidates(two, command):
    shared = common_prefix(*two)
    args = [*command, shared, *(["--", "true"] if command == ["exec"] else [])]
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "ambiguous" in lines[0]
    assert two[0] in lines[0] and two[1] in lines[0]


def test_a_unique_prefix_names_the_instance_for_show_status_extend_and_down(two):
    first, second = two
    prefix = first[: len(common_prefix(first, second)) + 1]
    shown = json.loads(runner.invoke(app, ["show", prefix, "--json"]).stdout)
    assert shown["instance"]["id"] == first
    status = runner.invoke(app, ["status", prefix, "RUNNING", "--json"])
    assert json.loads(status.stdout)["instance"]["status"] == "RUNNING"
    extend = runner.invoke(app, ["extend", prefix, "--minutes", "10", "--json"])
    assert extend.exit_code == 0, extend.output
    down = runner.invoke(app, ["down", prefix])
    assert down.exit_code == 0 and f"{first}: TERMINATED" in down.stdout
    assert json.loads(runner.invoke(app, ["show", second, "--json"]).stdout)["instance"][
        "status"
    ] in ("READY", "RUNNING")


def test_down_of_a_good_and_an_unknown_id_says_not_found_once(two):
    first, _ = two
    result = runner.invoke(app, ["down", first, "inst-nope"])
    assert result.exit_code == 2
    assert result.stderr.count("not found") == 1
    assert f"{first}: TERMINATED" in result.stdout


def test_token_revoke_takes_the_prefix_token_list_shows(home):
    made = json.loads(runner.invoke(app, ["token", "create", "--user", "ann", "--json"]).stdout)
    token_id = next(v for k, v in made["tokenInfo"].items() if k == "id")
    result = runner.invoke(app, ["token", "revoke", token_id[:9]])
    assert result.exit_code == 0, result.output
    assert f"{token_id} (ann) revoked" in result.stdout
    missing = runner.invoke(app, ["token", "revoke", "tok-zzzzzz"])
    assert missing.exit_code == 2 and "not found" in missing.stderr
