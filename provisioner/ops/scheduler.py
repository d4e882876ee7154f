"""The scheduler for pools and jobs (#22), beside the reaper: each sweep calls `Scheduler.sweep`.

Per pool, under the pool's lock (ledger/pools.py: a replica that finds it taken skips the pool
this sweep): reconcile the pool's instances with their ledger states (booted -> IDLE, ended ->
segments closed and their job requeued or failed), follow the jobs on it (start, finish, cancel,
max runtime), run the scaling decision (rules/scaling.py), launch through the ordinary
provisioning path, and assign queued jobs to IDLE instances (ledger/jobs.py claim_next).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from provisioner.ledger import jobs as job_rows
from provisioner.ledger import pools as pool_rows
from provisioner.ledger.models import Instance
from provisioner.ledger.pool_models import Job, Pool
from provisioner.ops.forecast_service import floor_now
from provisioner.remote import jobrunner, ssh
from provisioner.remote.ssh import RemoteError
from provisioner.rules.errors import ConflictError, ProvisionerError
from provisioner.rules.jobs import JobStatus
from provisioner.rules.lifecycle import Status
from provisioner.rules.scaling import PoolMember, PoolSettings, PoolState, decide
from provisioner.rules.validation import ProvisionRequest

if TYPE_CHECKING:
    from provisioner.ops.service import Provisioner

log = logging.getLogger(__name__)
# A claimed job's start lease, in PROVISIONER_LEASE_SECONDS (default 60 s: 2 min): a replica that
# died after claiming is replaced by another once it expires (the start is idempotent).
LEASE_FACTOR = 2
Report = Callable[[str, str, str, str], None]  # (kind, target, outcome, detail)


# Pool states a VM holds only while a sweep (under the pool's lock) works on it, or while a job
# runs on it: found with no job at a sweep's reconcile, the sweep that held them died.
ORPHANABLE = (PoolState.SCRUBBING.value, PoolState.BUSY.value, PoolState.DRAINING.value)


def job_log_path(home: Path, job_id: str) -> Path:
    return home / "jobs" / job_id / "output.log"


def request_of(pool: Pool) -> ProvisionRequest:
    data: dict[str, Any] = dict(pool.request)
    for name in ("allowed_ssh_cidrs", "instance_types", "regions"):
        data[name] = tuple(data.get(name) or ())
    return ProvisionRequest(**data)


class Scheduler:
    def __init__(self, service: Provisioner, *, owner: str | None = None):
        self.service = service
        self.ledger = service.ledger
        self.owner = owner or f"scheduler-{secrets.token_hex(4)}"
        self._orphans: set[str] = set()  # drained as orphans this sweep (tried once each)

    @property
    def now(self) -> datetime:
        return self.service.clock()

    @property
    def lease(self) -> timedelta:
        return timedelta(seconds=LEASE_FACTOR * self.service.settings.lease_seconds)

    def sweep(self, report: Report | None = None) -> list[tuple[str, str, str, str]]:
        """One pass over every pool. Returns (kind, target, outcome, detail) per action."""
        actions: list[tuple[str, str, str, str]] = []

        def add(kind: str, target: str, outcome: str, detail: str) -> None:
            actions.append((kind, target, outcome, detail))
            if report is not None:
                report(kind, target, outcome, detail)

        for pool in pool_rows.list_pools(self.ledger):
            with pool_rows.pool_lock(self.ledger, pool.id) as held:
                if not held:
                    continue  # another replica is on this pool now
                try:
                    self.sweep_pool(pool, add)
                except ProvisionerError as exc:
                    add("pool", pool.name, "failed", exc.message)
        return actions

    # -- one pool ----------------------------------------------------------------------------

    def sweep_pool(self, pool: Pool, add: Report) -> None:
        self._orphans = set()
        self._reconcile(pool, add)
        for job in job_rows.list_jobs(
            self.ledger, pool_id=pool.id, statuses=(JobStatus.STARTING, JobStatus.RUNNING)
        ):
            try:
                self._follow(pool, job, add)
            except (RemoteError, ConflictError) as exc:
                add("job", job.id, "failed", exc.message)
        # Assign before scaling: a job that an IDLE VM can take starts now, not after launches.
        if pool.status == "ACTIVE":
            self._assign(pool, add)
        self._scale(pool, add)
        self._reconcile(pool, add)
        if pool.status == "ACTIVE":
            self._assign(pool, add)

    def _reconcile(self, pool: Pool, add: Report) -> None:
        now = self.now
        with_job: set[str] | None = None
        for instance in pool_rows.members(self.ledger, pool.id, ended=True):
            if instance.pool_state is None:
                continue
            if instance.terminated_at is not None or instance.status in (
                Status.STOPPING.value,
                Status.FAILED.value,
            ):
                self._gone(pool, instance, add)
            elif instance.status == Status.READY.value and instance.pool_state in ORPHANABLE:
                if with_job is None:
                    with_job = self._instances_with_jobs(pool)
                if instance.id not in with_job and instance.id not in self._orphans:
                    self._orphans.add(instance.id)
                    self._orphan(pool, instance, add)
            elif (
                instance.status == Status.READY.value
                and instance.pool_state == PoolState.WARMING.value
            ):
                pool_rows.move_member(
                    self.ledger,
                    instance.id,
                    expected=[PoolState.WARMING.value],
                    target=PoolState.IDLE.value,
                    at=now,
                    segment="idle",
                    idle_since=now,
                )
                add("pool", instance.id, "done", f"{pool.name}: warm, IDLE")

    def _instances_with_jobs(self, pool: Pool) -> set[str]:
        live = job_rows.list_jobs(
            self.ledger, pool_id=pool.id, statuses=(JobStatus.STARTING, JobStatus.RUNNING)
        )
        return {j.instance_id for j in live if j.instance_id is not None}

    def _orphan(self, pool: Pool, instance: Instance, add: Report) -> None:
        """A sweep that held this pool's lock died between a job's end and its VM's scrub (or
        its destroy): scrubs and drains run only under the lock, so one found now was
        abandoned. A VM nobody showed clean is never reused: drain and destroy it."""
        why = {
            PoolState.SCRUBBING.value: "its scrub was interrupted",
            PoolState.BUSY.value: "its job ended but it was never scrubbed",
            PoolState.DRAINING.value: "its drain was interrupted",
        }[str(instance.pool_state)]
        self._drain(pool, instance.id, why, add)

    def _gone(self, pool: Pool, instance: Instance, add: Report) -> None:
        """Its VM ended or is ending: close its segments; requeue or fail its job."""
        end = instance.terminated_at or self.now
        pool_rows.move_member(
            self.ledger,
            instance.id,
            expected=[instance.pool_state],
            target=PoolState.DRAINING.value,
            at=end,
            segment=None,
        )
        if instance.terminated_at is not None:
            self.ledger.update(instance.id, at=self.now, pool_state=None)
        for job in job_rows.list_jobs(
            self.ledger, pool_id=pool.id, statuses=(JobStatus.STARTING, JobStatus.RUNNING)
        ):
            if job.instance_id != instance.id:
                continue
            why = f"its VM {instance.id} ended ({instance.status})"
            if job.attempt <= job.retries:
                job_rows.move_job(
                    self.ledger,
                    job.id,
                    expected=(JobStatus.STARTING, JobStatus.RUNNING),
                    target=JobStatus.QUEUED,
                    at=self.now,
                    detail=f"requeued: {why}",
                    event_type="job:requeued",
                    instance_id=None,
                    lease_owner=None,
                )
                add("job", job.id, "done", f"requeued: {why}")
            else:
                self._end(job, JobStatus.FAILED, reason=f"preempted: {why}", code=None)
                add("job", job.id, "done", f"failed: {why}, no retries left")

    # -- jobs ----------------------------------------------------------------------------------

    def _target(self, instance_id: str) -> ssh.SshTarget:
        instance = self.ledger.require(instance_id)
        return self.service.ssh_target(instance)

    def _start(self, job: Job, add: Report) -> None:
        assert job.instance_id is not None
        target = self._target(job.instance_id)
        data = b""
        if job.workdir_file:
            data = Path(job.workdir_file).read_bytes()
        command = jobrunner.start_command(job.id, job.command, with_workdir=bool(data))
        code, out, err = jobrunner.run_with_input(target, command, data)
        if code != 0:
            raise RemoteError(f"starting job {job.id} failed (exit {code}): {err.strip()[-200:]}")
        job_rows.move_job(
            self.ledger,
            job.id,
            expected=JobStatus.STARTING,
            target=JobStatus.RUNNING,
            at=self.now,
            detail=f"on {job.instance_id} ({out.strip()})",
        )
        add("job", job.id, "done", f"started on {job.instance_id}")

    def _follow(self, pool: Pool, job: Job, add: Report) -> None:
        now = self.now
        if job.status == JobStatus.STARTING.value:
            if (
                job.lease_owner != self.owner
                and job.lease_expires_at
                and job.lease_expires_at > now
            ):
                return  # its claimer is starting it
            self._start(job, add)
            job = job_rows.get_job(self.ledger, job.id)
        assert job.instance_id is not None
        target = self._target(job.instance_id)
        code, out, err = jobrunner.capture(target, jobrunner.poll_command(job.id))
        if code != 0:
            raise RemoteError(f"polling job {job.id} failed: {err.strip()[-200:]}")
        state = out.strip()
        if state.startswith("done"):
            rc = int(state.split()[1])
            self._save_output(job, target)
            status = JobStatus.SUCCEEDED if rc == 0 else JobStatus.FAILED
            self._end(job, status, reason=None if rc == 0 else f"exit {rc}", code=rc)
            add("job", job.id, "done", f"{status.value} (exit {rc})")
        elif job.cancel_requested:
            jobrunner.capture(target, jobrunner.kill_command(job.id))
            self._save_output(job, target)
            self._end(job, JobStatus.CANCELLED, reason="cancelled by the user", code=None)
            add("job", job.id, "done", "cancelled")
        elif (
            job.max_runtime_minutes is not None
            and job.started_at is not None
            and now - job.started_at >= timedelta(minutes=job.max_runtime_minutes)
        ):
            jobrunner.capture(target, jobrunner.kill_command(job.id))
            self._save_output(job, target)
            reason = f"max-runtime: stopped after {job.max_runtime_minutes} min"
            self._end(job, JobStatus.FAILED, reason=reason, code=None)
            add("job", job.id, "done", reason)
        elif state in ("lost", "absent"):
            self._end(job, JobStatus.FAILED, reason=f"its process vanished ({state})", code=None)
            add("job", job.id, "failed", f"process {state}")
        else:
            return
        self._scrub(pool, job.instance_id, job.id, add)

    def _save_output(self, job: Job, target: ssh.SshTarget) -> None:
        code, out, _ = jobrunner.capture(target, jobrunner.output_command(job.id))
        path = job_log_path(self.service.settings.home, job.id)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        path.write_text(out if code == 0 else "")

    def _end(self, job: Job, status: JobStatus, *, reason: str | None, code: int | None) -> None:
        job_rows.move_job(
            self.ledger,
            job.id,
            expected=(JobStatus.STARTING, JobStatus.RUNNING, JobStatus.QUEUED),
            target=status,
            at=self.now,
            detail=reason,
            exit_code=code,
            reason=reason,
            ended_at=self.now,
            lease_owner=None,
        )
        if job.workdir_file:
            Path(job.workdir_file).unlink(missing_ok=True)

    def _scrub(self, pool: Pool, instance_id: str, job_id: str, add: Report) -> None:
        """Scrub the VM, then IDLE; a failed step (or a draining VM) is destroyed instead."""
        instance = self.ledger.require(instance_id)
        draining = instance.pool_state == PoolState.DRAINING.value
        if not draining:
            pool_rows.move_member(
                self.ledger,
                instance_id,
                expected=[PoolState.BUSY.value],
                target=PoolState.SCRUBBING.value,
                at=self.now,
                segment="scrub",
            )
        target = self._target(instance_id)
        code, out, err = jobrunner.capture(target, jobrunner.scrub_command(job_id))
        steps = " ".join(line.strip() for line in out.splitlines() if line.strip())
        if code != 0 or draining:
            why = "draining" if draining else f"scrub failed: {steps or err.strip()[-200:]}"
            self._drain(pool, instance_id, why, add)
            return
        pool_rows.move_member(
            self.ledger,
            instance_id,
            expected=[PoolState.SCRUBBING.value],
            target=PoolState.IDLE.value,
            at=self.now,
            segment="idle",
            idle_since=self.now,
        )
        self.ledger.note(
            instance_id,
            event_type="pool:scrubbed",
            status=Status(instance.status),
            at=self.now,
            detail=f"after job {job_id}: {steps}",
        )
        add("scrub", instance_id, "done", steps)

    def _drain(self, pool: Pool, instance_id: str, why: str, add: Report) -> None:
        instance = self.ledger.require(instance_id)
        if instance.pool_state != PoolState.DRAINING.value:
            pool_rows.move_member(
                self.ledger,
                instance_id,
                expected=[instance.pool_state],
                target=PoolState.DRAINING.value,
                at=self.now,
                segment="drain",
            )
        try:
            self.service.terminate(instance_id, reason="user")
            add("drain", instance_id, "done", why)
        except ProvisionerError as exc:
            add("drain", instance_id, "failed", f"{why}; destroy: {exc.message}")
        self._reconcile(pool, add)

    # -- scaling and assignment ----------------------------------------------------------------

    def _scale(self, pool: Pool, add: Report) -> None:
        now = self.now
        live = [
            m
            for m in pool_rows.members(self.ledger, pool.id)
            if m.pool_state is not None and m.status != Status.STOPPING.value
        ]
        waiting = job_rows.list_jobs(self.ledger, pool_id=pool.id, statuses=(JobStatus.QUEUED,))
        users = {j.user_id for j in waiting}
        members = [
            PoolMember(
                m.id,
                PoolState(m.pool_state),
                m.created_at,
                m.idle_since,
                serves_queue=pool.reuse == "pool" or m.pool_user is None or m.pool_user in users,
            )
            for m in live
            if m.pool_state is not None
        ]
        queued = len(waiting)
        minimum = pool.min if pool.status == "ACTIVE" else 0
        settings = PoolSettings(minimum, pool.max, pool.idle_minutes, pool.max_age_minutes)
        # A forecast schedule (#23) only raises the floor; a draining pool has none.
        floor = floor_now(self.service, pool, now) if pool.status == "ACTIVE" else None
        decision = decide(
            settings, members, queued if pool.status == "ACTIVE" else 0, now, floor=floor
        )
        states = {m.id: m.pool_state for m in live}
        for instance_id in decision.drain:
            if states.get(instance_id) == PoolState.BUSY.value:
                pool_rows.move_member(  # its job runs on; destroyed when it ends
                    self.ledger,
                    instance_id,
                    expected=[PoolState.BUSY.value],
                    target=PoolState.DRAINING.value,
                    at=now,
                    segment="job",
                    job_id=self._job_on(instance_id),
                )
                continue
            self._drain(pool, instance_id, "scale in / recycle", add)
        if pool.status == "DRAINING":
            for m in live:
                if m.pool_state == PoolState.IDLE.value:
                    self._drain(pool, m.id, "pool drained", add)
            return
        for _ in range(decision.launch):
            self._launch(pool, add)

    def _job_on(self, instance_id: str) -> str | None:
        running = job_rows.list_jobs(self.ledger, statuses=(JobStatus.STARTING, JobStatus.RUNNING))
        return next((j.id for j in running if j.instance_id == instance_id), None)

    def _launch(self, pool: Pool, add: Report) -> None:
        instance = self.service.begin_provision(request_of(pool), engine=pool.engine)
        pool_rows.move_member(
            self.ledger,
            instance.id,
            expected=[None],
            target=PoolState.WARMING.value,
            at=instance.created_at,
            segment="warm-up",
            pool_id=pool.id,
        )
        add("launch", instance.id, "done", f"{pool.name}: launching")
        try:
            self.service.run_provision(instance.id)
        except ProvisionerError as exc:
            add("launch", instance.id, "failed", exc.message)

    def _assign(self, pool: Pool, add: Report) -> None:
        while True:
            now = self.now
            claimed = job_rows.claim_next(
                self.ledger, pool, at=now, owner=self.owner, lease_until=now + self.lease
            )
            if claimed is None:
                return
            job, instance = claimed
            add("assign", job.id, "done", f"to {instance.id}")
            try:
                self._start(job, add)
            except (RemoteError, ConflictError) as exc:
                add("job", job.id, "failed", exc.message)  # retried next sweep (STARTING)
