"""A fleet with a week of history, photographed: fleet (laptop and phone), one instance, costs,
the new-instance form. `scripts/screenshots.sh` runs this with PROVISIONER_SCREENSHOTS=docs/
screenshots to refresh the README's pictures; otherwise they land in the test's own folder."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from dashboard import Dashboard, open_tab, screenshot
from factories import FakeClock, azure_request, make_request
from playwright.sync_api import expect

from provisioner.config import Settings
from provisioner.ops.service import Provisioner

PEOPLE = ("alice", "bob", "chen")


def public_key() -> str:
    key = Ed25519PrivateKey.generate().public_key()
    return key.public_bytes(Encoding.OpenSSH, PublicFormat.OpenSSH).decode() + " alice@laptop"


def seed_history(settings: Settings) -> list[str]:
    """A week of finished work and three instances still up (times relative to now)."""
    now = datetime.now(UTC).replace(microsecond=0)
    clock = FakeClock(now - timedelta(days=6, hours=2))
    service = Provisioner(settings, clock=clock)
    live: list[str] = []
    try:
        for day in range(6):
            for number, user in enumerate(PEOPLE[: 1 + day % 3]):
                request = (azure_request if number == 1 else make_request)(
                    user_id=user, task_id=f"train-{day}-{number}"
                )
                instance = service.provision(request)
                clock.advance(hours=1 + number)
                service.terminate(instance.id)
                clock.advance(minutes=5)
            clock.now = now - timedelta(days=5 - day, hours=2)
        clock.now = now - timedelta(minutes=40)
        for request in (
            make_request(
                user_id="alice",
                task_id="eval-7",
                tags={"project": "vision"},
                ssh_public_key=public_key(),
                allowed_ssh_cidrs=("203.0.113.7/32",),
            ),
            azure_request(user_id="bob", task_id="sweep-3"),
            make_request(user_id="alice", task_id="eval-8", instance_type="g5.xlarge"),
        ):
            live.append(service.provision(replace(request, auto_terminate_minutes=120)).id)
            clock.advance(minutes=7)
        service.set_budget("alice", daily_usd=25, monthly_usd=400, max_instances=4)
        service.set_budget("bob", daily_usd=10, monthly_usd=150)
    finally:
        service.ledger.dispose()
    return live


def test_screenshots_of_every_page(
    settings: Settings, browser: Any, shots: Path, request: pytest.FixtureRequest
) -> None:
    live = seed_history(settings)
    dashboard: Dashboard = request.getfixturevalue("dashboard")
    context, tab = open_tab(browser, dashboard.base, viewport={"width": 1100, "height": 760})
    try:
        tab.sign_in(dashboard.token("root", admin=True))
        expect(tab.page.locator("tbody tr")).to_have_count(len(live) + 12)
        screenshot(tab, shots, "fleet", full_page=False)
        tab.go(f"/instances/{live[0]}")
        expect(tab.page.locator("#status")).to_have_text("READY")
        screenshot(tab, shots, "instance")
        tab.go("/costs")
        expect(tab.page.get_by_role("heading", name="Spend per day")).to_be_visible()
        screenshot(tab, shots, "costs")
        tab.go("/new")
        screenshot(tab, shots, "new-instance", full_page=False)
        assert tab.blocked == []
    finally:
        context.close()
    phone_context, phone = open_tab(
        browser, dashboard.base, viewport={"width": 390, "height": 800}, is_mobile=True
    )
    try:
        phone.sign_in(dashboard.token("alice"))
        expect(phone.page.locator("tbody tr")).to_have_count(8)
        no_sideways_scroll = "document.documentElement.scrollWidth <= window.innerWidth"
        assert phone.page.evaluate(no_sideways_scroll)
        screenshot(phone, shots, "fleet-phone", full_page=False)
        phone.go(f"/instances/{live[0]}")
        assert phone.page.evaluate(no_sideways_scroll)
    finally:
        phone_context.close()
    names = {p.name for p in shots.glob("*.png")}
    assert {"fleet.png", "instance.png", "costs.png", "new-instance.png"} <= names
