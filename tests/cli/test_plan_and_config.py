"""`provisioner plan` shows the failover candidates and the TTL's cost and creates nothing;
profiles in config files fill every request option, and `config show` names each origin."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from provisioner.cli.main import app

runner = CliRunner()


def _files(home):
    return sorted(p.relative_to(home) for p in home.rglob("*") if "lock" not in p.name)


def test_plan_lists_candidates_and_cost_and_creates_nothing(home):
    assert runner.invoke(app, ["list"]).exit_code == 0
    before = _files(home)
    args = ["plan", "--provider", "any", "--gpu", "T4:1", "--spot", "--ttl", "90m", "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)["plan"]
    assert plan["autoTerminateMinutes"] == 90
    assert plan["candidates"][0]["order"] == 1 and plan["projectedCost"] > 0
    assert json.loads(runner.invoke(app, ["list", "--json"]).stdout)["count"] == 0
    assert _files(home) == before


def test_profile_fills_request_and_config_show_names_origins(home, tmp_path, monkeypatch):
    folder = tmp_path / "xdg" / "provisioner"
    folder.mkdir(parents=True)
    (folder / "config.toml").write_text(
        '[profiles.gpu]\nprovider = "aws"\nregion = "us-west-2"\n'
        'instance_type = "g4dn.xlarge"\nallow_ssh_from = ["me"]\nttl = "90m"\n'
    )
    shown = runner.invoke(app, ["config", "show", "--profile", "gpu", "--json"])
    options = {o["key"]: o for o in json.loads(shown.stdout)["config"]["options"]}
    assert options["region"]["value"] == "us-west-2"
    assert "[profiles.gpu]" in options["region"]["origin"]
    monkeypatch.setenv("PROVISIONER_REGION", "us-east-1")
    shown = runner.invoke(app, ["config", "show", "--profile", "gpu", "--json"])
    options = {o["key"]: o for o in json.loads(shown.stdout)["config"]["options"]}
    assert options["region"]["origin"] == "env PROVISIONER_REGION"
    monkeypatch.delenv("PROVISIONER_REGION")
    result = runner.invoke(app, ["up", "--profile", "gpu", "--json"])
    assert result.exit_code == 0, result.output
    instance = json.loads(result.stdout)["instance"]
    assert instance["region"] == "us-west-2" and instance["autoTerminateMinutes"] == 90
    assert runner.invoke(app, ["down", instance["id"]]).exit_code == 0
    wrong = runner.invoke(app, ["up", "--profile", "gpx"])
    assert wrong.exit_code == 2 and "did you mean 'gpu'" in wrong.output
