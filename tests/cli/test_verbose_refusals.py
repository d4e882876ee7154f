"""#27: failover prints one line per refusal; `up --verbose` / `run --verbose` add the provider's
full refusal text under each attempt (the text `show`'s attempts and the events keep)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from provisioner.cli.main import app

runner = CliRunner()
UP = ["up", "--simulate", "--provider", "aws", "--instance-type", "g5.xlarge"]
REGIONS = ["--regions", "us-east-1,us-west-2"]


def _refusals(instance_id: str) -> dict[int, str]:
    shown = runner.invoke(app, ["show", instance_id, "--json"])
    attempts = json.loads(shown.stdout)["instance"]["attempts"]
    return {a["number"]: a["message"] for a in attempts if a["outcome"] == "failed"}


def test_up_verbose_prints_each_refusals_full_text(home, monkeypatch):
    monkeypatch.setenv("PROVISIONER_SIM_CAPACITY", "aws/us-east-1/*/g5.xlarge=none")
    result = runner.invoke(app, [*UP, *REGIONS, "-v"])
    assert result.exit_code == 0, result.output
    instance_id = next(
        line.split()[1].rstrip(":")
        for line in result.stderr.splitlines()
        if line.startswith("provisioning ")
    )
    refusals = _refusals(instance_id)
    assert sorted(refusals) == [1, 2]
    lines = [line.strip() for line in result.stderr.splitlines()]
    for number, text in refusals.items():
        assert len(text) > 160  # longer than the one-line summary
        at = next(i for i, line in enumerate(lines) if line.startswith(f"attempt {number} refused"))
        assert lines[at + 1] == text  # the full text, right under its attempt's line
    assert "choosing another zone." in result.stderr


def test_without_verbose_a_refusal_is_one_line_and_the_full_text_is_not_printed(home, monkeypatch):
    monkeypatch.setenv("PROVISIONER_SIM_CAPACITY", "aws/us-east-1/*/g5.xlarge=none")
    result = runner.invoke(app, [*UP, *REGIONS])
    assert result.exit_code == 0, result.output
    instance_id = next(
        line.split()[1].rstrip(":")
        for line in result.stderr.splitlines()
        if line.startswith("provisioning ")
    )
    refusals = _refusals(instance_id)
    assert sorted(refusals) == [1, 2]
    for text in refusals.values():
        assert text not in result.stderr  # neither the refusal line nor the failed resource's
    assert all(len(line) <= 200 for line in result.stderr.splitlines() if "capacity" in line)


def test_run_verbose_prints_every_refusal_when_all_attempts_fail(home, monkeypatch):
    monkeypatch.setenv("PROVISIONER_SIM_CAPACITY", "aws/*/*/g5.xlarge=none")
    result = runner.invoke(
        app,
        ["run", "--simulate", "--provider", "aws", "--instance-type", "g5.xlarge",
         "--region", "us-east-1", "--max-attempts", "2", "--verbose", "--down", "--", "true"],
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    lines = [line.strip() for line in result.stderr.splitlines()]
    for number, zone in ((1, "us-east-1a"), (2, "us-east-1b")):
        at = next(i for i, line in enumerate(lines) if line.startswith(f"attempt {number} refused"))
        full = lines[at + 1]
        assert f"Availability Zone you requested ({zone})" in full
        assert full.endswith("choosing another zone.")
    assert lines[-1].startswith("error: all 2 attempts failed")
