"""#27: shell completion completes instance ids, pool names, instance types and regions, and
answers without importing pulumi, sqlmodel, fastapi (or SQLAlchemy): each <TAB> runs the CLI in a
fresh interpreter, the way bash does through `_PROVISIONER_COMPLETE`."""

from __future__ import annotations

import json
import os

import pytest
from typer.testing import CliRunner

from provisioner.cli.main import app
from tests.cli.test_cli_habits import _in_a_fresh_interpreter

runner = CliRunner()
ROOT_ENV = {"PYTHONPATH": str(__import__("pathlib").Path(__file__).parents[2])}


def complete(line: str) -> tuple[list[str], list[str]]:
    """The candidates bash would offer for the last word of `line` (a trailing space: a new
    word), and the heavy modules that were loaded to answer."""
    words = line.split()
    cword = len(words) if line.endswith(" ") else len(words) - 1
    answer, loaded = _in_a_fresh_interpreter(
        {
            **os.environ,
            **ROOT_ENV,
            "ARGS": "[]",
            "_PROVISIONER_COMPLETE": "complete_bash",
            "COMP_WORDS": line,
            "COMP_CWORD": str(cword),
        }
    )
    return [x for x in answer.splitlines() if x and not x.startswith("LOADED ")], loaded


def _up() -> str:
    up = ["up", "--simulate", "--provider", "aws", "--instance-type", "g4dn.xlarge", "--json"]
    result = runner.invoke(app, up)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["instance"]["id"]


BOTH = pytest.mark.parametrize("database", ["sqlite", "postgresql"], indirect=True)


@BOTH
@pytest.mark.parametrize(
    "command", ["show", "status", "events", "history", "extend", "down", "ssh", "exec", "logs"]
)
def test_an_instance_id_completes_from_the_ledger(home, command):
    made = sorted([_up(), _up()])
    candidates, loaded = complete(f"provisioner {command} ")
    assert candidates == made and loaded == []
    candidates, _ = complete(f"provisioner {command} {made[1][:-3]}")
    assert candidates == [made[1]]


def test_cp_completes_an_id_then_a_colon_for_the_remote_path(home):
    made = _up()
    candidates, loaded = complete(f"provisioner cp {made[:8]}")
    assert candidates == [f"{made}:"] and loaded == []


def test_no_ledger_yet_offers_nothing_and_fails_nothing(home):
    candidates, loaded = complete("provisioner show inst-")
    assert candidates == [] and loaded == []


@BOTH
def test_pool_names_complete(home):
    made = runner.invoke(
        app,
        ["pool", "create", "gpus", "--simulate", "--provider", "aws",
         "--instance-type", "g4dn.xlarge"],
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    assert complete("provisioner pool show g") == (["gpus"], [])
    assert complete("provisioner submit --pool gp")[0] == ["gpus"]
    assert complete("provisioner pool show x")[0] == []


def test_instance_types_complete_from_the_catalog_of_the_provider(home):
    candidates, loaded = complete("provisioner up --provider aws --instance-type g4dn.x")
    assert candidates == ["g4dn.xlarge"] and loaded == []
    anywhere, _ = complete("provisioner plan --instance-type g4dn.")
    assert "g4dn.xlarge" in anywhere and all(c.startswith("g4dn.") for c in anywhere)
    azure, _ = complete("provisioner up --provider azure --instance-type g4dn")
    assert azure == []
    after_a_comma, _ = complete("provisioner up --provider aws --instance-type g5.xlarge,g4dn.x")
    assert after_a_comma == ["g5.xlarge,g4dn.xlarge"]


def test_regions_complete_for_the_provider_and_type(home):
    candidates, loaded = complete("provisioner up --provider aws --region us-west-")
    assert "us-west-2" in candidates and loaded == []
    assert all(c.startswith("us-west-") for c in candidates)
    gcp, _ = complete("provisioner offers --provider gcp --region us-c")
    assert gcp == ["us-central1"]
    listed, _ = complete("provisioner run --provider aws --regions us-east-1,us-w")
    assert "us-east-1,us-west-2" in listed
    assert all(c.startswith("us-east-1,us-w") for c in listed)
    again, _ = complete("provisioner up --provider aws --regions us-east-1,us-east-")
    assert "us-east-1,us-east-1" not in again
