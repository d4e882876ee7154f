"""Private files whatever the umask, `doctor`'s warning, Allow on OPTIONS/405, and `down` on a
queued up (#10)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from apiclient import SEED_AWS_BODY, build_api
from factories import make_request
from typer.testing import CliRunner

from provisioner.cli.doctor_files import privacy_check
from provisioner.cli.main import app as cli
from provisioner.config import Settings
from provisioner.engine.simulated import sshd as sim_sshd
from provisioner.ops.service import Provisioner


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_ledger_and_its_wal_are_0600_under_umask_022_in_a_0755_home(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir(mode=0o755)
    os.chmod(home, 0o755)
    old = os.umask(0o022)
    try:
        service = Provisioner(Settings(home=home, engine="simulated"))
        service.provision(make_request())  # writes: the WAL and SHM exist now
        files = {p.name: mode(p) for p in home.iterdir() if p.name.startswith("ledger.db")}
        service.ledger.dispose()
    finally:
        os.umask(old)
        for folder in sim_sshd.existing(home):  # power off the simulated VM (its sshd)
            sim_sshd.stop(folder)

    assert {"ledger.db", "ledger.db-wal", "ledger.db-shm"} <= set(files)
    assert set(files.values()) == {0o600}


def test_doctor_names_a_group_readable_home_and_file(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    os.chmod(home, 0o755)
    (home / "ledger.db").write_text("")
    os.chmod(home / "ledger.db", 0o644)

    check = privacy_check(home)

    assert not check.ok
    assert "mode 755" in check.detail and "ledger.db is mode 644" in check.detail
    os.chmod(home, 0o700)
    os.chmod(home / "ledger.db", 0o600)
    assert privacy_check(home).ok


def test_doctor_reports_the_files_check(home):
    result = CliRunner().invoke(cli, ["doctor", "--simulate", "--json"])

    assert '"name": "files"' in result.output


def test_options_and_405_list_every_method_of_the_path(service):
    for api in build_api(service):
        options = api.client.options("/api/instances/inst-1")
        wrong = api.client.patch("/api/instances/inst-1", headers=api.user, json={})

        assert options.status_code == 204
        assert options.headers["Allow"] == "DELETE, GET, OPTIONS"
        assert wrong.status_code == 405
        assert wrong.headers["Allow"] == "DELETE, GET, OPTIONS"


def test_down_on_a_queued_up_cancels_it(settings):
    service = Provisioner(settings.model_copy(update={"max_parallel": 1, "sim_delay": 5.0}))
    for api in build_api(service, pickup=False):
        first = api.client.post("/api/instances", json=SEED_AWS_BODY, headers=api.user)
        queued = api.client.post("/api/instances", json=SEED_AWS_BODY, headers=api.user)
        queued_id = queued.json()["instance"]["id"]
        assert service.ledger.require(queued_id).operation == "queued"

        down = api.client.delete(f"/api/instances/{queued_id}", headers=api.user)

        assert first.status_code == 202
        assert down.status_code == 200
        body = down.json()
        assert body["message"].startswith("Queued provisioning cancelled")
        assert body["instance"]["status"] == "FAILED"
        assert body["instance"]["errorCode"] == "CANCELLED"
        assert body["instance"]["totalCost"] == 0
        assert body["instance"]["terminatedAt"] is not None
