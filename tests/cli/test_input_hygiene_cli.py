"""Input echo and consistency in the CLI: --user "" is refused like --task "", free text with
control or bidi characters is refused, and a huge value is quoted only in part."""

import pytest
from typer.testing import CliRunner

from provisioner.cli.main import app

runner = CliRunner()
UP = ["up", "--simulate", "--provider", "aws", "--instance-type", "g4dn.xlarge"]


@pytest.mark.parametrize("option", ["--user", "--task"])
def test_an_empty_id_is_refused(home, option):
    result = runner.invoke(app, [*UP, option, ""])
    assert result.exit_code == 2
    assert ("User id" if option == "--user" else "Task id") in result.stderr
    assert runner.invoke(app, ["list", "--json"]).stdout.count('"id"') == 0


@pytest.mark.parametrize(
    "args",
    [
        ["--purpose", "evil\x1b]0;title\x07"],
        ["--purpose", "right-to-left \u202e gnp.exe"],
        ["--tag", "team=a\x9bb"],
        ["--tag", "te\x7fam=x"],
    ],
)
def test_control_and_bidi_characters_are_refused(home, args):
    result = runner.invoke(app, [*UP, *args])
    assert result.exit_code == 2, result.output
    assert "control characters" in result.stderr
    assert "\x1b" not in result.output and "\u202e" not in result.output


def test_a_huge_task_id_is_quoted_in_part(home):
    result = runner.invoke(app, [*UP, "--task", "t" * 10_000])
    assert result.exit_code == 2
    assert len(result.stderr) < 250 and "10000 characters" in result.stderr
