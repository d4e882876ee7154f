"""Cost, statistics windows, budgets and the cost report through the service: real SQLite, the
simulated engine, a fake clock."""

from datetime import timedelta
from decimal import Decimal

import pytest
from factories import azure_request, make_request

from provisioner.config import Settings
from provisioner.ledger.spend import user_spend
from provisioner.ops.service import Provisioner
from provisioner.rules.errors import BudgetExceededError, ProvisioningFailedError, ValidationError

# The DLAMI's 75 GB root plus the 50 GB data disk, both gp3 (#13).
AWS_DISK_30_MIN = Decimal("0.08") * (75 + 50) * Decimal("0.5") / 730
AZURE_P10_2_H = Decimal("19.71") * 2 / 730


def run_for(service, clock, request, **duration):
    instance = service.provision(request)
    clock.advance(**duration)
    return service.terminate(instance.id)


def test_g4dn_for_30_minutes_and_nc6_for_2_hours(service, clock):
    aws = run_for(service, clock, make_request(), minutes=30)
    assert aws.cost_breakdown.compute == 0.263
    assert aws.cost_breakdown.storage == pytest.approx(float(AWS_DISK_30_MIN), abs=1e-6)
    assert aws.cost_breakdown.storage > 0
    assert Decimal(str(aws.total_cost)) == Decimal(str(aws.cost_breakdown.compute)) + Decimal(
        str(aws.cost_breakdown.storage)
    ) + Decimal(str(aws.cost_breakdown.public_ipv4))  # the public IPv4 address (#24)
    azure = run_for(service, clock, azure_request(), hours=2)
    assert azure.cost_breakdown.compute == 1.80
    assert azure.cost_breakdown.storage == pytest.approx(float(AZURE_P10_2_H), abs=1e-6)
    # The JSON shape carries the split.
    assert azure.to_json()["costBreakdown"] == {
        "compute": 1.8,
        "storage": azure.cost_breakdown.storage,
        "publicIpv4": 0.01,  # $0.005/h for 2 hours (#24)
    }


def test_the_final_cost_is_frozen_and_a_catalog_change_does_not_rewrite_it(
    settings, clock, service
):
    done = run_for(service, clock, azure_request(), hours=2)
    row = service.ledger.require(done.id)
    assert row.compute_cost == Decimal("1.8") and row.storage_cost > 0
    assert row.storage_price_gb_month == Decimal("0.1971")  # P10 19.71 / 100 GB
    clock.advance(days=3)
    later = Provisioner(settings, clock=clock)  # a fresh process, maybe a refreshed catalog
    assert later.get(done.id).total_cost == done.total_cost


def test_a_failed_instance_is_billed_for_the_time_its_resources_existed(home, clock):
    settings = Settings(home=home, engine="simulated", sim_fail_up=1, sim_fail_destroy=1)
    failing = Provisioner(settings, clock=clock)
    with pytest.raises(ProvisioningFailedError):
        failing.provision(make_request())
    [failed] = failing.list()
    clock.advance(minutes=30)  # the clean-up destroy failed: it still holds resources
    assert failing.get(failed.id).cost_breakdown.compute == 0.263
    cleaned = Provisioner(Settings(home=home, engine="simulated"), clock=clock).terminate(failed.id)
    assert cleaned.status == "FAILED"
    assert cleaned.cost_breakdown.compute == 0.263 and cleaned.cost_breakdown.storage > 0


def test_statistics_count_live_instances_up_to_now_and_take_windows(service, clock):
    start = clock.now
    run_for(service, clock, make_request(), minutes=30)
    clock.advance(days=1)
    live = service.provision(azure_request(user_id="user-456"))
    clock.advance(hours=1)
    stats = service.statistics()
    assert stats.total_provisioned == 2 and stats.currently_running == 1
    # The live one costs what it has been billed so far, in SQL as in its own JSON.
    assert stats.total_cost == pytest.approx(
        service.get(live.id).total_cost + 0.263 + float(AWS_DISK_30_MIN), abs=0.01
    )
    first_day = service.statistics(since=start, until=start + timedelta(days=1))
    assert first_day.total_provisioned == 1 and first_day.provider_breakdown == {"AWS": 1}
    second_day = service.statistics(since=start + timedelta(days=1))
    assert second_day.total_provisioned == 1 and second_day.currently_running == 1
    assert service.statistics(until=start).total_provisioned == 0


def test_a_daily_budget_refuses_the_120_minute_request_before_recording_anything(service, clock):
    service.set_budget("user-123", daily_usd="1.00")
    with pytest.raises(BudgetExceededError) as refused:
        service.begin_provision(make_request(auto_terminate_minutes=120))
    message = refused.value.message
    assert "user-123's daily budget is $1.00" in message
    assert "spent today $0.00" in message and "g4dn.xlarge $0.526/h x 120 min" in message
    assert refused.value.code == "BUDGET_EXCEEDED" and refused.value.budget == "daily"
    assert service.list() == []  # nothing recorded, nothing created
    ok = service.provision(make_request(auto_terminate_minutes=60))
    assert ok.status == "READY"
    # Spend so far counts: a second 60-minute request would now pass $1.00.
    clock.advance(minutes=60)
    service.terminate(ok.id)
    with pytest.raises(BudgetExceededError, match=r"spent today \$0.5"):
        service.begin_provision(make_request(auto_terminate_minutes=60))


def test_a_monthly_budget_counts_the_calendar_month(service, clock):
    run_for(service, clock, azure_request(), hours=2)  # $1.85 on 2026-11-26
    service.set_budget("user-123", monthly_usd="2.00")
    with pytest.raises(BudgetExceededError, match=r"monthly budget is \$2\.00; spent this month"):
        service.begin_provision(make_request(auto_terminate_minutes=30))
    clock.advance(days=5)  # December: a new month
    assert service.provision(make_request(auto_terminate_minutes=30)).status == "READY"


def test_max_instances_caps_live_instances(service):
    service.set_budget("user-123", max_instances=1)
    first = service.provision(make_request())
    with pytest.raises(BudgetExceededError, match="instance cap is 1"):
        service.begin_provision(make_request())
    service.provision(make_request(user_id="someone-else"))  # other users are not capped
    service.terminate(first.id)
    assert service.provision(make_request()).status == "READY"


def test_budgets_are_set_merged_shown_and_cleared(service, clock):
    service.set_budget("user-123", daily_usd=5)
    budget = service.set_budget("user-123", monthly_usd="50", max_instances=3)
    assert (budget.daily_usd, budget.monthly_usd, budget.max_instances) == (5.0, 50.0, 3)
    run_for(service, clock, make_request(), minutes=30)
    shown = service.get_budget("user-123").to_json()
    # compute, disk and the public IPv4 address (30 min at $0.005/h, #24)
    assert shown["spentToday"] == pytest.approx(0.263 + float(AWS_DISK_30_MIN) + 0.0025, abs=1e-6)
    assert shown["liveInstances"] == 0
    assert [b.user_id for b in service.list_budgets()] == ["user-123"]
    assert service.clear_budget("user-123") is True
    assert service.clear_budget("user-123") is False
    with pytest.raises(ValidationError, match="Daily budget"):
        service.set_budget("user-123", daily_usd="-1")
    with pytest.raises(ValidationError, match="User id"):
        service.set_budget("no spaces allowed", daily_usd="1")


def test_user_spend_is_attributed_to_the_day_the_instance_was_created(service, clock):
    clock.now = clock.now.replace(hour=23, minute=30)
    run_for(service, clock, make_request(), hours=1)  # runs past midnight
    day = clock.now.replace(hour=0, minute=0) - timedelta(days=1)
    spent = user_spend(
        service.ledger, "user-123", now=clock.now, since=day, until=day + timedelta(days=1)
    )
    ipv4 = Decimal("0.005")  # its public IPv4 address for the hour (#24)
    assert spent == pytest.approx(
        Decimal("0.526") + Decimal("0.08") * (75 + 50) / 730 + ipv4, abs=Decimal("1e-6")
    )


def test_the_cost_report_on_an_empty_and_a_busy_ledger(service, clock):
    empty = service.cost_report(days=7)
    assert empty["total"]["total"] == 0 and empty["rows"] == [] and len(empty["daily"]) == 7
    run_for(service, clock, make_request(), minutes=30)
    run_for(service, clock, azure_request(user_id="user-456"), hours=2)
    clock.advance(days=1)
    run_for(service, clock, make_request(user_id="user-456"), minutes=30)
    report = service.cost_report(days=7, by="provider")
    assert report["total"]["instances"] == 3
    by_provider = {r["key"]: r for r in report["rows"]}
    # Fleet sums count each VM's public IPv4 address ($0.005/h on both clouds) with compute.
    assert by_provider["AWS"]["compute"] == pytest.approx(0.526 + 2 * 0.0025)
    assert by_provider["AZURE"]["compute"] == pytest.approx(1.80 + 0.01)
    assert report["topSpenders"][0]["userId"] == "user-456"
    days = {d["day"]: d for d in report["daily"]}
    assert days["2026-11-26"]["byProvider"]["AZURE"] == pytest.approx(
        1.8 + float(AZURE_P10_2_H) + 0.01
    )
    assert days["2026-11-27"]["byProvider"] == {
        "AWS": pytest.approx(0.263 + float(AWS_DISK_30_MIN) + 0.0025, abs=1e-6),
        "AZURE": 0,
    }
    assert sum(d["total"] for d in report["daily"]) == pytest.approx(report["total"]["total"])
    with pytest.raises(ValidationError, match="Group by"):
        service.cost_report(by="colour")
    with pytest.raises(ValidationError, match="Days"):
        service.cost_report(days=0)
