"""`/api/pools` and `/api/jobs` (#22) over the real app and service: pools created, edited and
deleted through the API, jobs submitted (with a workdir tar.gz) and run by the scheduler's sweep
on the simulated engine (real sshd, real detached jobs), their output read back, cancelled, and
hidden from other users."""

from __future__ import annotations

import base64
import io
import os
import tarfile
import time
from typing import Any

import pytest
from apiclient import Api
from remote.conftest import LOCAL, needs_sshd

from provisioner.config import Settings
from provisioner.ops.scheduler import Scheduler
from provisioner.rules.jobs import JOB_FINAL, JobStatus

CONFIG = {
    "provider": "AWS",
    "instanceType": "g4dn.xlarge",
    "region": "us-east-1",
    "diskSizeGB": 50,
    "autoTerminateMinutes": 120,
    "allowedSshCidrs": [LOCAL],
}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """These tests are the feature: the operator lets users' jobs run on the simulated host
    (#26's PROVISIONER_SIM_ALLOW_USER_CODE; the refusal without it is tested below)."""
    return settings.model_copy(update={"sim_allow_user_code": True})


def make_pool(api: Api, name: str = "t4", **extra: Any) -> dict[str, Any]:
    body = {"name": name, "config": CONFIG, "min": 0, "max": 1, **extra}
    response = api.client.post("/api/pools", json=body, headers=api.user)
    assert response.status_code == 201, response.text
    pool: dict[str, Any] = response.json()["pool"]
    return pool


def tarball(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def hostile(kind: str) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo({"absolute": "/etc/evil", "dotdot": "../evil"}.get(kind, "evil"))
        if kind == "symlink":
            info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
        elif kind == "hardlink":
            info.type, info.linkname = tarfile.LNKTYPE, "/etc/passwd"
        elif kind == "device":
            info.type, info.devmajor, info.devminor = tarfile.CHRTYPE, 1, 3
        tar.addfile(info, io.BytesIO(b"") if info.isfile() else None)
    return buffer.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def error(response: Any) -> dict[str, Any]:
    body = response.json()
    assert body["success"] is False
    detail: dict[str, Any] = body["error"]
    return detail


def test_a_pool_is_created_listed_shown_edited_and_deleted(api: Api):
    pool = make_pool(api, min=0, max=2, idleMinutes=15)
    assert (pool["name"], pool["userId"], pool["min"], pool["max"]) == ("t4", "user-123", 0, 2)
    assert (pool["idleMinutes"], pool["status"], pool["instanceType"]) == (
        15,
        "ACTIVE",
        "g4dn.xlarge",
    )
    listed = api.client.get("/api/pools", headers=api.other).json()
    assert listed["success"] is True and [p["name"] for p in listed["pools"]] == ["t4"]
    shown = api.client.get("/api/pools/t4", headers=api.user).json()["pool"]
    assert shown["id"] == pool["id"] and shown["instances"] == []
    edited = api.client.patch("/api/pools/t4", json={"max": 3, "reuse": "pool"}, headers=api.user)
    assert edited.status_code == 200, edited.text
    assert (edited.json()["pool"]["max"], edited.json()["pool"]["reuse"]) == (3, "pool")
    # Another user may see the pool but not change or delete it.
    assert api.client.patch("/api/pools/t4", json={"max": 1}, headers=api.other).status_code == 403
    assert api.client.delete("/api/pools/t4", headers=api.other).status_code == 403
    assert api.client.get("/api/pools/t4", headers=api.user).json()["pool"]["max"] == 3
    drained = api.client.post("/api/pools/t4/drain", headers=api.user)
    assert drained.json()["pool"]["status"] == "DRAINING"
    deleted = api.client.delete("/api/pools/t4", headers=api.user)
    assert deleted.status_code == 200 and deleted.json()["pool"]["status"] == "DELETED"
    gone = api.client.get("/api/pools/t4", headers=api.user)
    assert gone.status_code == 404 and error(gone)["code"] == "NOT_FOUND"
    assert api.client.get("/api/pools", headers=api.user).json()["pools"] == []


def test_bad_pool_input_is_a_400_naming_the_field(api: Api):
    cases = [
        ({"min": 3, "max": 2}, "min"),
        ({"max": 0}, "max"),
        ({"reuse": "everyone"}, "reuse"),
        ({"name": "bad name!"}, "name"),
        ({"max": "2"}, "max"),
        ({"config": {**CONFIG, "instanceType": "no.such"}}, None),
    ]
    for extra, field in cases:
        body = {"name": "p", "config": CONFIG, **extra}
        response = api.client.post("/api/pools", json=body, headers=api.user)
        assert response.status_code == 400, (extra, response.text)
        if field is not None:
            assert error(response)["field"] == field, (extra, response.text)
    assert api.client.get("/api/pools", headers=api.user).json()["pools"] == []  # none half-made
    make_pool(api)
    again = api.client.post("/api/pools", json={"name": "t4", "config": CONFIG}, headers=api.user)
    assert again.status_code in (400, 409)
    above = api.client.patch("/api/pools/t4", json={"min": 5}, headers=api.user)
    assert above.status_code == 400 and error(above)["field"] == "min"
    unknown = api.client.patch("/api/pools/nope", json={"max": 2}, headers=api.user)
    assert unknown.status_code == 404 and "nope" in error(unknown)["message"]
    as_other = {"name": "x", "userId": "user-9", "config": CONFIG}
    assert api.client.post("/api/pools", json=as_other, headers=api.user).status_code == 403


@needs_sshd
def test_jobs_queue_with_positions_run_in_a_sweep_and_their_output_is_read_back(api: Api, clock):
    make_pool(api, max=1)
    work = tarball({"task.py": b"import sys\nprint('from the workdir', sys.argv[1:])\n"})
    first = api.client.post(
        "/api/jobs",
        json={"pool": "t4", "command": ["python3", "task.py", "x"], "workdir": b64(work)},
        headers=api.user,
    )
    assert first.status_code == 201, first.text
    one = first.json()["job"]
    assert (one["status"], one["position"], one["userId"], one["pool"]) == (
        "QUEUED",
        1,
        "user-123",
        "t4",
    )
    assert one["workdirBytes"] is not None and one["waitReason"]
    clock.advance(seconds=1)
    second = api.client.post(
        "/api/jobs", json={"pool": "t4", "command": ["echo plain job"]}, headers=api.user
    ).json()["job"]
    assert (second["status"], second["position"]) == ("QUEUED", 2)
    queued = api.client.get("/api/jobs?pool=t4&status=queued", headers=api.user).json()
    assert [(j["id"], j["position"]) for j in queued["jobs"]] == [(one["id"], 1), (second["id"], 2)]

    scheduler = Scheduler(api.service)
    for _ in range(60):
        scheduler.sweep()
        jobs = api.client.get("/api/jobs?pool=t4", headers=api.user).json()["jobs"]
        if all(JobStatus(j["status"]) in JOB_FINAL for j in jobs):
            break
        time.sleep(0.3)
        clock.advance(seconds=20)
    done = api.client.get(f"/api/jobs/{one['id']}", headers=api.user).json()["job"]
    assert done["status"] == "SUCCEEDED" and done["exitCode"] == 0
    assert "job:started" in [e["type"] for e in done["events"]]
    logs = api.client.get(f"/api/jobs/{one['id']}/logs", headers=api.user).json()
    assert logs["success"] is True and "from the workdir ['x']" in logs["output"]
    plain = api.client.get(f"/api/jobs/{second['id']}/logs", headers=api.user).json()
    assert plain["status"] == "SUCCEEDED" and "plain job" in plain["output"]
    finished = api.client.delete(f"/api/jobs/{one['id']}", headers=api.user)
    assert finished.status_code == 409  # an ended job cannot be cancelled


def test_a_queued_job_is_cancelled_and_other_users_cannot_see_or_cancel_it(api: Api):
    make_pool(api)
    job = api.client.post(
        "/api/jobs", json={"pool": "t4", "command": ["sleep", "100"]}, headers=api.user
    ).json()["job"]
    assert job["command"] == "sleep 100"
    for call in (api.client.get, api.client.delete):
        hidden = call(f"/api/jobs/{job['id']}", headers=api.other)
        assert hidden.status_code == 404, hidden.text
    assert api.client.get(f"/api/jobs/{job['id']}/logs", headers=api.other).status_code == 404
    assert api.client.get("/api/jobs", headers=api.other).json()["jobs"] == []
    spying = api.client.get("/api/jobs?userId=user-123", headers=api.other)
    assert spying.status_code == 403
    admin = api.client.get("/api/jobs", headers=api.admin).json()["jobs"]
    assert [j["id"] for j in admin] == [job["id"]]
    still = api.client.get(f"/api/jobs/{job['id']}", headers=api.user).json()["job"]
    assert still["status"] == "QUEUED"
    cancelled = api.client.delete(f"/api/jobs/{job['id']}", headers=api.user)
    assert cancelled.status_code == 200 and cancelled.json()["job"]["status"] == "CANCELLED"
    shown = api.client.get(f"/api/jobs/{job['id']}", headers=api.user).json()["job"]
    assert shown["status"] == "CANCELLED" and shown["position"] is None
    assert api.client.get("/api/jobs/job-nope", headers=api.user).status_code == 404


def test_bad_job_input_is_a_400_naming_the_field_and_nothing_is_queued(make_api):
    api = make_api(max_workdir_bytes=4096)
    make_pool(api)
    big = tarball({"data.bin": bytes(range(256)) * 64})  # 16 KiB unpacked
    cases: list[tuple[dict[str, Any], str]] = [
        ({"pool": "nope", "command": ["echo"]}, "pool"),
        ({"pool": "t4"}, "command"),
        ({"pool": "t4", "command": []}, "command"),
        ({"pool": "t4", "command": ["echo"], "retries": 99}, "retries"),
        ({"pool": "t4", "command": ["echo"], "workdir": "not base64!"}, "workdir"),
        ({"pool": "t4", "command": ["echo"], "workdir": b64(b"not a tarball")}, "workdir"),
        ({"pool": "t4", "command": ["echo"], "workdir": b64(big)}, "workdir"),
    ]
    for kind in ("absolute", "dotdot", "symlink", "hardlink", "device"):
        cases.append(
            ({"pool": "t4", "command": ["echo"], "workdir": b64(hostile(kind))}, "workdir")
        )
    for body, field in cases:
        response = api.client.post("/api/jobs", json=body, headers=api.user)
        assert response.status_code == 400, (body, response.text)
        assert error(response)["field"] == field, (body, response.text)
    assert api.client.get("/api/jobs", headers=api.user).json()["jobs"] == []
    uploads = api.service.settings.home / "uploads"
    assert not uploads.exists() or list(uploads.iterdir()) == []  # nothing left unpacked
    assert not (api.service.settings.home / "evil").exists()


def test_a_workdir_may_pass_the_body_limit_up_to_its_own_limit_on_post_jobs_only(make_api):
    api = make_api(max_workdir_bytes=8192, max_body_bytes=1024)
    make_pool(api)
    work = tarball({"blob.bin": os.urandom(3000)})  # incompressible: ~4 KiB as base64
    body = {"pool": "t4", "command": ["ls"], "workdir": b64(work)}
    accepted = api.client.post("/api/jobs", json=body, headers=api.user)
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["job"]["workdirBytes"] > 3000
    elsewhere = api.client.post("/api/pools", json={**body, "name": "x"}, headers=api.user)
    assert elsewhere.status_code == 413  # other routes keep PROVISIONER_MAX_BODY_BYTES
    huge = {**body, "workdir": b64(os.urandom(12000))}
    refused = api.client.post("/api/jobs", json=huge, headers=api.user)
    assert (
        refused.status_code == 413 and "PROVISIONER_MAX_WORKDIR_BYTES" in error(refused)["message"]
    )


def test_a_users_job_is_refused_on_the_simulated_host_unless_the_operator_allows_it(make_api):
    """Under `serve --simulate` a pool VM is this host: a job's command would run as the server's
    user, so only admin tokens may submit one unless PROVISIONER_SIM_ALLOW_USER_CODE=1."""
    api = make_api(sim_allow_user_code=False)
    created = api.client.post(
        "/api/pools", json={"name": "t4", "config": CONFIG, "min": 0, "max": 1}, headers=api.admin
    )
    assert created.status_code == 201, created.text
    body = {"pool": "t4", "command": ["cat", "/etc/hostname"]}
    refused = api.client.post("/api/jobs", json=body, headers=api.user)
    assert refused.status_code == 403
    assert error(refused)["message"].startswith("command: the simulated engine runs it")
    assert api.client.get("/api/jobs", headers=api.admin).json()["jobs"] == []
    assert api.client.post("/api/jobs", json=body, headers=api.admin).status_code == 201
