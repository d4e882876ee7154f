"""#27, the "Why" bullets about everyday use: bare `provisioner` prints the help; "did you mean"
for an option typed under another name, a mistyped type, region or GPU; tables on a narrow
terminal keep ids, types and regions whole; shell completion works without the heavy
imports."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from provisioner.cli import render
from provisioner.cli.main import app

runner = CliRunner()
ROOT = Path(__file__).parents[2]


def test_bare_provisioner_prints_the_help_and_exits_0():
    result = runner.invoke(app, [])
    assert result.exit_code == 0
    assert "Usage: provisioner" in result.stdout and "Commands" in result.stdout


@pytest.mark.parametrize(
    ("args", "wanted"),
    [
        (["up", "--time", "30"], "--ttl"),
        (["run", "--type", "g4dn.xlarge", "--", "true"], "--instance-type"),
        (["plan", "--location", "us-east-1"], "--region"),
    ],
)
def test_an_option_typed_under_another_name_suggests_the_real_one(args, wanted):
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert f"(Possible options: {wanted})" in result.output


@pytest.mark.parametrize(
    ("args", "hint"),
    [
        (
            ["up", "--simulate", "--provider", "aws", "--instance-type", "g4dn.xlargee"],
            "g4dn.xlarge",
        ),
        (
            [
                "up",
                "--simulate",
                "--provider",
                "aws",
                "--instance-type",
                "g4dn.xlarge",
                "--region",
                "us-eastt-1",
            ],
            "us-east-1",
        ),
        (["offers", "--gpu", "T5"], "T4"),
        (["offers", "--region", "us-wset-2"], "us-west-2"),
        (["plan", "--provider", "any", "--gpu", "A1000:1"], "A100"),
    ],
)
def test_a_mistyped_name_is_bad_input_with_a_did_you_mean(home, args, hint):
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: ") and f"did you mean {hint}" in line


@pytest.fixture
def narrow(monkeypatch):
    """A 60-column terminal (Rich's own console, told it is a terminal)."""
    screen = io.StringIO()
    monkeypatch.setattr(
        render, "out", Console(file=screen, force_terminal=True, width=60, color_system=None)
    )
    return screen


def test_offers_on_a_narrow_terminal_keep_types_and_regions_whole(home, narrow):
    result = runner.invoke(app, ["offers", "--gpu", "T4", "--provider", "aws", "--limit", "40"])
    assert result.exit_code == 0, result.output
    text = narrow.getvalue()
    assert "…" not in text
    offers = json.loads(
        runner.invoke(app, ["offers", "--gpu", "T4", "--provider", "aws", "--json"]).stdout
    )["offers"][:40]
    for offer in offers:
        assert any(
            offer["instanceType"] in line and offer["region"] in line for line in text.splitlines()
        ), offer


def test_token_list_and_list_on_a_narrow_terminal_keep_ids_whole(home, narrow):
    made = json.loads(runner.invoke(app, ["token", "create", "--user", "bob", "--json"]).stdout)
    up = runner.invoke(
        app, ["up", "--simulate", "--provider", "aws", "--instance-type", "g4dn.xlarge", "--json"]
    )
    instance = json.loads(up.stdout)["instance"]
    assert runner.invoke(app, ["token", "list"]).exit_code == 0
    assert runner.invoke(app, ["list"]).exit_code == 0
    text = narrow.getvalue()
    assert made["tokenInfo"]["id"] in text
    assert instance["id"] in text and "g4dn.xlarge us-east-1" in text
    assert "…" not in text


def _in_a_fresh_interpreter(env: dict[str, str]) -> tuple[str, list[str]]:
    code = (
        "import json, runpy, sys\n"
        "sys.argv = ['provisioner', *json.loads(sys.argv[1])]\n"
        "try:\n"
        "    runpy.run_module('provisioner.cli.main', run_name='__main__')\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = ('pulumi', 'sqlmodel', 'fastapi', 'sqlalchemy')\n"
        "print('LOADED', json.dumps([m for m in heavy if m in sys.modules]))\n"
    )
    args = env.pop("ARGS")
    done = subprocess.run(
        [sys.executable, "-c", code, args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        check=False,
        timeout=120,
    )
    line = next(x for x in done.stdout.splitlines() if x.startswith("LOADED "))
    return done.stdout + done.stderr, json.loads(line.removeprefix("LOADED "))


def test_shell_completion_scripts_and_answers_without_heavy_imports(home):
    base = {**os.environ, "PYTHONPATH": str(ROOT)}
    script, loaded = _in_a_fresh_interpreter({**base, "ARGS": '["--show-completion", "bash"]'})
    assert "_PROVISIONER_COMPLETE=complete_bash" in script and loaded == [], script
    answer, loaded = _in_a_fresh_interpreter(
        {
            **base,
            "ARGS": "[]",
            "_PROVISIONER_COMPLETE": "complete_bash",
            "COMP_WORDS": "provisioner li",
            "COMP_CWORD": "1",
        }
    )
    assert answer.splitlines()[0] == "list" and loaded == []
    help_text = runner.invoke(app, ["--help"]).stdout
    assert "--install-completion" in help_text


def test_failover_shows_attempt_n_of_m_and_one_line_per_refusal(home, monkeypatch):
    monkeypatch.setenv("PROVISIONER_SIM_CAPACITY", "aws/us-east-1/*/g5.xlarge=none")
    result = runner.invoke(
        app,
        ["up", "--simulate", "--provider", "aws", "--instance-type", "g5.xlarge",
         "--regions", "us-east-1,us-west-2"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    lines = [line.strip() for line in result.stderr.splitlines()]
    starts = [line for line in lines if line.startswith("attempt ") and "refused" not in line]
    assert starts[0].startswith("attempt 1/") and starts[0].endswith("g5.xlarge")
    assert "us-east-1/us-east-1" in starts[0]
    assert starts[-1].startswith("attempt 3/") and "us-west-2" in starts[-1]
    refused = [line for line in lines if line.startswith("attempt ") and "refused" in line]
    assert [r.split()[1] for r in refused] == ["1", "2"]
    assert all("InsufficientInstanceCapacity" in r or "capacity" in r.lower() for r in refused)


def test_down_task_shows_progress_and_piped_messages_are_not_wrapped(home):
    up = ["up", "--simulate", "--provider", "aws", "--instance-type", "g4dn.xlarge"]
    made = runner.invoke(app, [*up, "--task", "nightly"])
    assert made.exit_code == 0, made.output
    warning = [line for line in made.stderr.splitlines() if line.startswith("warning:")]
    assert warning and warning[-1].endswith("running (docs/reaper.md)")  # one line, not wrapped
    runner.invoke(app, [*up, "--task", "nightly"])
    done = runner.invoke(app, ["down", "--task", "nightly"])
    assert done.exit_code == 0, done.output
    assert done.stdout.count(": TERMINATED, final cost") == 2
    assert done.stderr.count("✓ deleted") >= 2  # each instance's destroy, as with ids
