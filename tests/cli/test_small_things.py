"""Small things people expect: --version, help without type labels that read as values, `types`
available first (retired only with --all, marked once), money printed one way, `doctor` scoped
to the clouds in use, and an HTML cost report whose axis labels don't repeat."""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from provisioner.cli.main import app
from provisioner.cli.render import money, per_hour
from provisioner.pricing.cost_report_html import _usd_formatter, usd_labels

runner = CliRunner()


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert re.fullmatch(r"provisioner \d+\.\d+\.\d+\S*\n", result.stdout)


@pytest.mark.parametrize("command", [["list"], ["up"], ["doctor"], ["types"], ["--help"]])
def test_help_shows_no_type_label_on_flags(command):
    result = runner.invoke(app, [*command, "--help"] if command != ["--help"] else command)
    assert result.exit_code == 0
    assert "<bool>" not in result.stdout and "BOOLEAN" not in result.stdout


def test_types_lists_available_types_and_retired_ones_only_with_all(home):
    default = json.loads(runner.invoke(app, ["types", "--json"]).stdout)["instanceTypes"]
    assert default and not any(t["retired"] for t in default)
    everything = json.loads(runner.invoke(app, ["types", "--all", "--json"]).stdout)
    flags = [t["retired"] for t in everything["instanceTypes"]]
    assert any(flags) and flags == sorted(flags)  # available first, retired after
    table = runner.invoke(app, ["types", "--all", "--provider", "azure"]).stdout
    nc6 = next(line for line in table.splitlines() if "Standard_NC6 " in line)
    assert nc6.lower().count("retired") == 1
    assert "Standard_NC6 " not in runner.invoke(app, ["types", "--provider", "azure"]).stdout


def test_money_is_printed_one_way():
    assert per_hour(0.9) == "$0.90/hour"
    assert per_hour(0.526) == "$0.526/hour"
    assert per_hour(3.06) == "$3.06/hour"
    assert money(0.263) == "$0.2630" and money(1.8) == "$1.80"


def test_up_and_show_print_the_price_the_same_way(home):
    up = runner.invoke(
        app, ["up", "--simulate", "--provider", "azure", "--instance-type", "Standard_NC6"]
    )
    assert up.exit_code == 0, up.output
    assert "$0.90/hour" in up.stderr and "$0.90/hour" in up.stdout
    listed = runner.invoke(app, ["list"]).stdout
    assert "$0.90/h" in listed


def test_doctor_checks_only_the_clouds_in_use(home, monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "ARM_CLIENT_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(home / "nobody"))  # no ~/.aws, no ~/.azure
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "very-secret-value-123")
    for name in [n for n in list(__import__("os").environ) if n.startswith(("ARM_", "AZURE_"))]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("PROVISIONER_ENGINE", "pulumi")
    body = json.loads(runner.invoke(app, ["doctor", "--json"]).stdout)
    states = {c["name"]: c["state"] for c in body["checks"]}
    assert states["aws credentials"] == "ok"
    assert states["azure credentials"] == "not configured"
    only_aws = json.loads(runner.invoke(app, ["doctor", "--provider", "aws", "--json"]).stdout)
    assert "azure credentials" not in {c["name"] for c in only_aws["checks"]}
    azure = json.loads(runner.invoke(app, ["doctor", "--provider", "azure", "--json"]).stdout)
    assert {c["name"]: c["state"] for c in azure["checks"]}["azure credentials"] == "fail"
    text = runner.invoke(app, ["doctor"]).stdout
    assert "FAIL" not in text.split("azure credentials")[0].splitlines()[-1]
    assert "very-secret-value-123" not in text


def test_cost_report_axis_labels_never_repeat():
    assert usd_labels([0.0, 0.0025, 0.005, 0.0075, 0.01]) == [
        "$0.0000", "$0.0025", "$0.0050", "$0.0075", "$0.0100",
    ]  # fmt: skip
    assert usd_labels([0, 5, 10]) == ["$0.00", "$5.00", "$10.00"]
    assert usd_labels([0.0, 0.001, 0.002]) == ["$0.000", "$0.001", "$0.002"]
    ticks = _usd_formatter().format_ticks([0.0, 0.002, 0.004, 0.006])
    assert len(set(ticks)) == 4


def test_html_report_speaks_the_users_words(service, clock, tmp_path):
    from factories import make_request

    from provisioner.pricing.cost_report_html import render_html

    for task in ("a", "b"):
        service.terminate(service.provision(make_request(task_id=task)).id)
    clock.advance(minutes=1)
    page = render_html(service.cost_report(days=3))
    assert "2 instances" in page and "instance(s)" not in page
    assert "generated at" in page
