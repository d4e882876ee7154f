"""Cost commands as a user drives them: CliRunner over the real app, real SQLite, simulated engine.

Instances with exact lifetimes are made through the service with a fake clock in the same data
dir; each CLI call runs with the wall clock pinned to that fake clock's now (time-machine), so the
figures do not depend on today's date."""

import json

import pytest
import time_machine
from factories import azure_request, make_request
from typer.testing import CliRunner

from provisioner.cli.main import app

runner = CliRunner()
_clock = None


@pytest.fixture(autouse=True)
def _cli_on_the_fake_clock(clock):
    global _clock
    _clock = clock
    yield
    _clock = None


def run(*args: str):
    assert _clock is not None
    with time_machine.travel(_clock.now, tick=False):
        return runner.invoke(app, list(args))


def run_json(*args: str) -> dict:
    result = run(*args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture
def two_done(service, clock):
    """user-123's g4dn.xlarge 10:00-10:30 (50 GB) and Standard_NC6 10:30-12:30 (100 GB)."""
    aws = service.provision(make_request())
    clock.advance(minutes=30)
    service.terminate(aws.id)
    azure = service.provision(azure_request())
    clock.advance(hours=2)
    service.terminate(azure.id)
    return [service.get(aws.id), service.get(azure.id)]


def test_show_json_has_the_cost_breakdown(two_done):
    aws = run_json("show", two_done[0].id)["instance"]
    assert aws["costBreakdown"]["compute"] == 0.263
    assert aws["costBreakdown"]["storage"] > 0
    assert aws["totalCost"] == pytest.approx(sum(aws["costBreakdown"].values()), abs=1e-9)
    assert run_json("show", two_done[1].id)["instance"]["costBreakdown"]["compute"] == 1.8
    assert "compute $0.2630 + disk" in run("show", two_done[0].id).stdout


def test_stats_json_for_the_two_seed_instances(two_done):
    stats = run_json("stats", "--user", "user-123")["statistics"]
    assert stats["totalProvisioned"] == 2
    assert stats["currentlyRunning"] == 0
    assert stats["averageDuration"] == 1.25
    assert stats["averageCost"] == pytest.approx(stats["totalCost"] / 2, abs=1e-6)
    assert stats["providerBreakdown"] == {"AWS": 1, "AZURE": 1}
    assert stats["instanceTypeBreakdown"] == {"Standard_NC6": 1, "g4dn.xlarge": 1}
    # 0.263 + 1.80, and their public IPv4 addresses, counted with compute in sums (#24)
    assert stats["costBreakdown"]["compute"] == pytest.approx(2.063 + 0.0025 + 0.01)
    assert stats["totalCost"] == pytest.approx(sum(stats["costBreakdown"].values()), abs=1e-6)
    # Windows by creation time.
    assert run_json("stats", "--since", "2026-11-27")["statistics"]["totalProvisioned"] == 0
    window = ["--since", "2026-11-26T10:15Z", "--until", "2026-11-26T11:00"]
    assert run_json("stats", *window)["statistics"]["providerBreakdown"] == {"AZURE": 1}
    bad = run("stats", "--since", "last tuesday")
    assert (
        bad.exit_code == 2
        and "--since must be a duration ago (2d, 12h), today, yesterday, a date" in bad.stderr
    )


def test_a_daily_budget_refuses_120_minutes_and_allows_60(home):
    assert run("budget", "set", "--user", "user-123", "--daily", "1.00").exit_code == 0
    request = ["up", "--simulate", "--provider", "aws", "--instance-type", "g4dn.xlarge"]
    request += ["--user", "user-123", "--disk-gb", "50"]
    refused = run(*request, "--ttl", "120")
    assert refused.exit_code == 2
    [line] = refused.stderr.strip().splitlines()
    assert line.startswith("error: Budget exceeded: user-123's daily budget is $1.00")
    assert "$0.526/h x 120 min" in line
    assert run_json("list")["count"] == 0
    as_json = run(*request, "--ttl", "120", "--json")
    assert json.loads(as_json.stdout)["error"]["code"] == "BUDGET_EXCEEDED"
    allowed = run(*request, "--ttl", "60", "--json")
    assert allowed.exit_code == 0 and json.loads(allowed.stdout)["instance"]["status"] == "READY"


def test_budget_show_set_and_clear(home):
    assert run("budget", "show").stdout.strip() == "no budgets"
    run("budget", "set", "--user", "user-123", "--daily", "5", "--max-instances", "2")
    shown = run_json("budget", "show", "--user", "user-123")["budget"]
    assert shown["dailyUsd"] == 5.0 and shown["maxInstances"] == 2 and shown["monthlyUsd"] is None
    assert run_json("budget", "show")["count"] == 1
    assert "removed" in run("budget", "clear", "--user", "user-123").stdout
    missing = run("budget", "show", "--user", "user-123")
    assert missing.exit_code == 2 and "has no budget" in missing.stderr
    bad = run("budget", "set", "--user", "user-123", "--daily", "lots")
    assert bad.exit_code == 2 and "Daily budget must be a number" in bad.stderr
    assert run("budget", "set", "--user", "user-123").exit_code == 2


def test_cost_report_on_an_empty_ledger(home, tmp_path):
    report = run_json("cost-report", "--days", "7")["report"]
    assert report["total"]["total"] == 0 and report["rows"] == []
    page = tmp_path / "empty.html"
    result = run("cost-report", "--html", str(page))
    assert result.exit_code == 0
    html = page.read_text()
    assert "no spend in this window" in html and "<svg" in html
    # Readable offline: nothing is loaded from anywhere (no scripts, stylesheets, images).
    assert "<script" not in html and "<link" not in html and "src=" not in html


def test_cost_report_on_a_busy_ledger(two_done, service, clock, tmp_path):
    other = service.provision(make_request(user_id="user-456", instance_type="g5.xlarge"))
    clock.advance(hours=1)
    service.terminate(other.id)
    service.provision(make_request(user_id="user-789"))  # still live
    by_type = run_json("cost-report", "--by", "type")["report"]
    assert {r["key"] for r in by_type["rows"]} == {"g4dn.xlarge", "Standard_NC6", "g5.xlarge"}
    assert by_type["total"]["instances"] == 4
    assert [s["userId"] for s in by_type["topSpenders"]][:2] == ["user-123", "user-456"]
    table = run("cost-report", "--by", "provider").stdout
    assert "AZURE" in table and "all" in table
    page = tmp_path / "busy.html"
    assert run("cost-report", "--html", str(page)).exit_code == 0
    html = page.read_text()
    assert html.count("<svg") == 2 and "user-456" in html and "Top spenders" in html
    bad = run("cost-report", "--by", "colour")
    assert bad.exit_code == 2 and "Group by one of user, provider, type, day" in bad.stderr


def test_catalog_refresh_offline_fails_with_one_line_and_keeps_the_catalog(home, monkeypatch):
    # Point httpx at a proxy that refuses connections: as offline as a machine gets.
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("ALL_PROXY", "http://127.0.0.1:9")
    before = run_json("types")["pricesAsOf"]
    result = run("catalog", "refresh", "--provider", "aws")
    assert result.exit_code == 1
    [line] = result.stderr.strip().splitlines()[-1:]
    assert "Catalog refresh failed" in line and "the catalog was not changed" in line
    assert not (home / "catalog.json").exists()
    assert run_json("types")["pricesAsOf"] == before
