"""The dashboard in a real browser (Debian's chromium via Playwright) against a real server and
ledger: sign in, create through the form, watch it turn READY, extend, terminate, isolation,
escaping, offline. Screenshots of each page land in the test's folder (or the docs: see
scripts/screenshots.sh)."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from dashboard import Dashboard, Tab, open_tab, screenshot
from playwright.sync_api import expect

from provisioner.web.render import money

expect.set_options(timeout=30_000)
NOT_RELOADED = "window.__notReloaded === true"


class Gate:
    """Holds the instance's operation when it reaches `status` until the test lets it go: the
    page is watched in that state, then sees the next one arrive without a reload."""

    def __init__(self, dashboard: Dashboard, status: str) -> None:
        self.status = status
        self.release = threading.Event()
        dashboard.service.on("*", self._hold)

    def _hold(self, event: dict[str, Any]) -> None:
        if event.get("status") == self.status:
            self.release.wait(30)


@pytest.fixture
def gates(dashboard: Dashboard) -> Iterator[list[Gate]]:
    made: list[Gate] = []
    yield made
    for gate in made:
        gate.release.set()


def mark_document(tab: Tab) -> None:
    tab.page.evaluate("window.__notReloaded = true")


def create_through_form(tab: Tab, *, tags: str = "project=vision", purpose: str = "") -> str:
    page = tab.page
    page.get_by_role("link", name="New instance").click()
    page.get_by_label("Provider").select_option("AWS")
    page.get_by_label("Instance type").select_option("g4dn.xlarge")
    page.get_by_label("Region").select_option("us-east-1")
    page.get_by_label("Disk (GB").fill("50")
    page.get_by_label("Time to live").fill("30")
    page.get_by_label("Tags (one key=value a line)").fill(tags)
    page.get_by_label("Purpose (optional)").fill(purpose)
    page.get_by_role("button", name="Create instance").click()
    page.wait_for_url(re.compile(r"/instances/[^/]+$"))
    return str(page.url.rsplit("/", 1)[-1])


def test_sign_in_create_watch_ready_extend_and_terminate(
    tab: Tab, dashboard: Dashboard, gates: list[Gate], shots: Path
) -> None:
    page = tab.page
    token = dashboard.token("alice")
    tab.sign_in(token)
    assert token not in page.url
    expect(page.get_by_text("No instances")).to_be_visible()

    booting = Gate(dashboard, "CONFIGURING")
    gates.append(booting)
    page.get_by_role("link", name="New instance").click()
    screenshot(tab, shots, "new-instance")
    instance_id = create_through_form(tab, tags="project=vision\nowner=alice")

    status = page.locator("#status")
    expect(status).to_have_text("CONFIGURING")
    mark_document(tab)
    booting.release.set()
    expect(status).to_have_text("READY")
    assert page.evaluate(NOT_RELOADED), "the page reloaded instead of updating itself"
    expect(page.locator("#public-ip")).to_have_text(re.compile(r"^203\.0\.113\.\d+$"))
    expect(page.locator("#timeline li")).to_have_count(len(dashboard.service.events(instance_id)))
    expect(page.locator("#timeline")).to_contain_text("instance:ready")

    before = dashboard.service.get(instance_id).expires_at
    page.get_by_text("Extend…").click()
    page.get_by_label("Extend by").select_option("30")
    page.get_by_role("button", name="Yes, extend").click()
    expect(page.get_by_role("status")).to_contain_text("Extended")
    assert dashboard.service.get(instance_id).expires_at == before + timedelta(minutes=30)
    expect(page.locator("#expires")).to_contain_text(
        (before + timedelta(minutes=30)).strftime("%H:%M:%S")
    )
    screenshot(tab, shots, "instance")

    page.get_by_text("Terminate…").click()
    page.get_by_role("button", name=f"Yes, terminate {instance_id}").click()
    expect(page.get_by_role("status")).to_contain_text("Termination started")
    mark_document(tab)
    expect(status).to_have_text("TERMINATED")
    assert page.evaluate(NOT_RELOADED)
    final = dashboard.service.get(instance_id)
    assert final.status == "TERMINATED"
    expect(page.locator("#total-cost")).to_have_text(money(final.total_cost))
    expect(page.get_by_text("Final cost")).to_be_visible()
    expect(page.get_by_role("button", name=re.compile("terminate"))).to_have_count(0)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Fleet").click()
    row = page.locator(f'tr[data-id="{instance_id}"]')
    expect(row).to_contain_text("TERMINATED")
    expect(row).to_contain_text(money(final.total_cost))


def test_the_fleet_changes_without_a_reload(tab: Tab, dashboard: Dashboard) -> None:
    tab.sign_in(dashboard.token("alice"))
    instance_id = create_through_form(tab)
    dashboard.service.get(instance_id)
    tab.go("/")
    mark_document(tab)
    row = tab.page.locator(f'tr[data-id="{instance_id}"]')
    expect(row).to_contain_text("READY")
    dashboard.service.begin_terminate(instance_id, reason="user")  # as the CLI would
    expect(row).to_contain_text("STOPPING")
    assert tab.page.evaluate(NOT_RELOADED)


def test_another_user_cannot_see_the_instance(browser: Any, tab: Tab, dashboard: Dashboard) -> None:
    tab.sign_in(dashboard.token("alice"))
    instance_id = create_through_form(tab)
    expect(tab.page.locator("#status")).to_have_text("READY")

    context, bob = open_tab(browser, dashboard.base)
    try:
        bob.sign_in(dashboard.token("bob"))
        expect(bob.page.get_by_text("No instances")).to_be_visible()
        expect(bob.page.get_by_text(instance_id)).to_have_count(0)
        response = bob.go(f"/instances/{instance_id}")
        assert response.status == 404
        expect(bob.page.get_by_role("alert")).to_contain_text(f"Instance {instance_id} not found")
        assert bob.go(f"/ui/instances/{instance_id}/panel").status == 404
        assert bob.go(f"/ui/stream/instances/{instance_id}").status == 404
        bob.go("/?user=alice")
        expect(bob.page.get_by_text("No instances")).to_be_visible()
        assert bob.blocked == []

        admin_context, admin = open_tab(browser, dashboard.base)
        admin.sign_in(dashboard.token("root", admin=True))
        expect(admin.page.locator(f'tr[data-id="{instance_id}"]')).to_contain_text("alice")
        admin.page.get_by_label("User").select_option("alice")
        admin.page.get_by_role("button", name="Filter").click()
        expect(admin.page.locator("tbody tr")).to_have_count(1)
        admin_context.close()
    finally:
        context.close()


def test_a_script_in_a_tag_value_stays_text(tab: Tab, dashboard: Dashboard) -> None:
    tab.sign_in(dashboard.token("alice"))
    script = "<script>alert(1)</script>"
    image = '<img src=x onerror="alert(2)">'
    instance_id = create_through_form(tab, tags=f"note={script}\nimg={image}")
    page = tab.page
    expect(page.locator("#status")).to_have_text("READY")
    expect(page.get_by_role("cell", name=script, exact=True)).to_be_visible()
    expect(page.get_by_role("cell", name=image, exact=True)).to_be_visible()
    assert page.locator("main script, main img").count() == 0
    page.reload()
    expect(page.get_by_role("cell", name=script, exact=True)).to_be_visible()
    assert dashboard.service.get(instance_id).tags["note"] == script
    # the `tab` fixture then checks that no dialog opened and nothing broke the CSP


def test_form_errors_are_shown_next_to_their_field(tab: Tab, dashboard: Dashboard) -> None:
    tab.sign_in(dashboard.token("alice"))
    page = tab.page
    page.get_by_role("link", name="New instance").click()
    page.get_by_label("Disk (GB").fill("10")
    page.get_by_role("button", name="Create instance").click()
    disk = page.get_by_label("Disk (GB")
    expect(disk).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#diskSizeGB-error")).to_contain_text("Disk size")
    expect(disk).to_have_value("10")
    page.get_by_label("Disk (GB").fill("50")
    page.get_by_label("Tags (one key=value a line)").fill("aws:owner=me")
    page.get_by_role("button", name="Create instance").click()
    expect(page.locator("#tags-error")).to_be_visible()
    assert dashboard.service.list() == []


def test_every_page_works_with_only_the_app_reachable(
    tab: Tab, dashboard: Dashboard, shots: Path, browser: Any
) -> None:
    """The `tab` blocks every request not to the app; the pages still render with their style
    and script, and the new-instance form narrows its lists by provider (the script ran)."""
    admin = dashboard.token("root", admin=True)
    tab.sign_in(admin)
    page = tab.page
    dashboard.service.set_budget("alice", daily_usd=50, monthly_usd=500, max_instances=4)
    for path in ("/", "/new", "/costs"):
        response = tab.go(path)
        assert response.status == 200
        assert "default-src 'self'" in response.headers["content-security-policy"]
        header = page.locator("header.top")
        expect(header).to_have_css("background-color", "rgb(20, 33, 61)")
    tab.go("/new")
    page.get_by_label("Provider").select_option("AZURE")
    expect(page.locator('#instanceType optgroup[data-provider="AWS"]')).to_be_hidden()
    page.get_by_role("link", name="Costs").click()
    expect(page.get_by_role("heading", name="Budgets")).to_be_visible()
    expect(page.locator("tbody tr", has_text="alice")).to_contain_text("$50.00")
    page.get_by_label("User", exact=True).fill("bob")
    page.get_by_label("Daily USD").fill("20")
    page.get_by_role("button", name="Set budget").click()
    expect(page.get_by_role("status")).to_contain_text("Budget of bob saved")
    assert dashboard.service.get_budget("bob").daily_usd == 20


def test_the_keyboard_alone_signs_in_and_reaches_every_page(tab: Tab, dashboard: Dashboard) -> None:
    page = tab.page
    tab.go("/signin")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.keyboard.press("Enter")  # past the header, to the page's content
    page.keyboard.press("Tab")
    expect(page.get_by_label("API token")).to_be_focused()
    page.keyboard.type(dashboard.token("alice"))
    page.keyboard.press("Enter")
    page.wait_for_url(dashboard.base + "/")
    for name, path in (("New instance", "/new"), ("Costs", "/costs"), ("Fleet", "/")):
        page.get_by_role("navigation", name="Main").get_by_role("link", name=name).focus()
        page.keyboard.press("Enter")
        page.wait_for_url(dashboard.base + path)
        current = page.get_by_role("navigation", name="Main").get_by_role("link", name=name)
        expect(current).to_have_attribute("aria-current", "page")
