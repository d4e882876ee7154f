"""Failover: plan a request's candidates, then record each attempt and decide whether to move on.

Every attempt has its own stack (`<id>`, `<id>-a2`, ...). A refused attempt is destroyed
completely and recorded (`instance:attempt-failed`, with the provider's code and the candidate)
before the next one starts; only capacity, zone-unsupported and quota refusals move on, within
`maxAttempts` and the provisioning deadline. Auth, bad-request and budget errors never do.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from typing import Any

from provisioner.capacity.candidates import AttemptOutcome, Candidate
from provisioner.capacity.planner import (
    CapacityRequest,
    is_multi,
    plan_candidates,
    split_list,
    validate_max_attempts,
)
from provisioner.ledger.attempts import attempts_of, end_attempt, start_attempt
from provisioner.ledger.models import Instance, InstanceAttempt
from provisioner.ops.service_core import ServiceCore
from provisioner.rules.billing import storage_price_gb_month
from provisioner.rules.cloud_errors import FailureClass, advice
from provisioner.rules.errors import CloudError, ProvisioningFailedError, ValidationError
from provisioner.rules.lifecycle import Status
from provisioner.rules.public_ip import public_ipv4_per_hour
from provisioner.rules.validation import ProvisionRequest, ValidRequest, validate_request
from stacks.spec import attempt_stack_name, missing_sdk

Region = tuple[str, str]  # (provider, region)
CAPACITY_KEY = "capacity"  # the plan, in the instance's metadata


def failure_class(error: CloudError) -> FailureClass:
    try:
        return FailureClass(error.kind)
    except ValueError:
        return FailureClass.ERROR


class Failover(ServiceCore):
    # -- planning ------------------------------------------------------------------------------

    def plan(self, request: ProvisionRequest) -> tuple[ValidRequest, list[Candidate], int]:
        """Validate the request and list its candidates in failover order."""
        listed = split_list(request.instance_types)
        named = () if request.gpu else split_list(request.instance_type)
        if listed and named and not set(named) <= set(listed):
            # A one-entry list was ignored for the named type (#26): say which one wins.
            raise ValidationError(
                "config.instanceTypes",
                f"instanceType {', '.join(named)!r} is not among instanceTypes "
                f"{', '.join(listed)!r}: give one of them, or make them agree",
            )
        types = listed or named
        regions = split_list(request.regions) or split_list(request.region)
        capacity = CapacityRequest(
            provider=request.provider or "",
            instance_types=types,
            regions=regions,
            zone=request.zone or None,
            gpu=request.gpu or None,
            min_gpu_memory_gb=request.min_gpu_memory_gb,
            min_vcpus=request.min_vcpus,
            max_price=request.max_price,
            spot=request.spot,
        )
        if not is_multi(capacity):  # one type in one region: the plain rules and messages
            single = replace(
                request,
                instance_type=types[0] if types else request.instance_type,
                region=regions[0] if regions else None,
            )
            valid = validate_request(single, self.settings, self.catalog)
            capacity = replace(
                capacity,
                provider=valid.provider,
                instance_types=(valid.type.name,),
                regions=(valid.region,),
            )
        candidates = plan_candidates(self.catalog, capacity)
        # A cloud whose Pulumi SDK (an extra) is missing cannot be tried: with several clouds
        # the others still can; with only that one, refuse before anything is recorded.
        usable = [c for c in candidates if missing_sdk(c.provider) is None]
        if not usable:
            raise ValidationError("config.provider", str(missing_sdk(candidates[0].provider)))
        candidates = usable
        first = candidates[0]
        valid = validate_request(
            replace(
                request,
                provider=first.provider,
                instance_type=first.instance_type,
                region=first.region,
            ),
            self.settings,
            self.catalog,
        )
        attempts = validate_max_attempts(request.max_attempts, self.settings.max_attempts)
        return valid, candidates, attempts

    @staticmethod
    def capacity_meta(
        candidates: list[Candidate], max_attempts: int, request: ProvisionRequest
    ) -> dict[str, Any]:
        first = candidates[0]
        return {
            "zone": first.zone,
            "spot": first.spot,
            CAPACITY_KEY: {
                "candidates": [c.to_json() for c in candidates],
                "maxAttempts": max_attempts,
                "recover": bool(request.recover),
                "spotMaxPrice": request.max_price if request.spot else None,
            },
        }

    # -- attempts ------------------------------------------------------------------------------

    def candidates_of(self, instance: Instance) -> list[Candidate]:
        plan = (instance.meta or {}).get(CAPACITY_KEY) or {}
        listed = [
            Candidate(
                provider=c["provider"],
                region=c["region"],
                instance_type=c["instanceType"],
                zone=c.get("zone"),
                spot=bool(c.get("spot")),
                price_per_hour=Decimal(str(c.get("costPerHour", 0))),
            )
            for c in plan.get("candidates") or []
        ]
        if listed:
            return listed
        return [  # made before #12: the one candidate it asked for
            Candidate(
                instance.provider,
                instance.region,
                instance.instance_type,
                (instance.meta or {}).get("zone"),
                bool((instance.meta or {}).get("spot")),
                Decimal(instance.cost_per_hour),
            )
        ]

    def max_attempts_of(self, instance: Instance) -> int:
        plan = (instance.meta or {}).get(CAPACITY_KEY) or {}
        return int(plan.get("maxAttempts") or self.settings.max_attempts)

    def provisioning_deadline(self, instance: Instance) -> Any:
        return instance.created_at + timedelta(minutes=self.settings.provisioning_timeout_minutes)

    def next_attempt(
        self, instance: Instance, refused: frozenset[Region] = frozenset()
    ) -> tuple[InstanceAttempt, Instance]:
        """The attempt to run now: an interrupted one (its stack is resumed), else a new one on
        the next candidate outside the `refused` regions, with the instance row pointing at its
        stack and price."""
        done = attempts_of(self.ledger, instance.id)
        if done and done[-1].outcome == AttemptOutcome.RUNNING:
            return done[-1], instance
        candidates = self.candidates_of(instance)
        # The next candidate in the planned order not yet tried in this launch, outside the
        # refused regions; a relaunch after a preemption starts after the one it was taken from.
        index = _candidate_index(candidates, done, refused)
        candidate = candidates[index]
        number = len(done) + 1
        stack_name = attempt_stack_name(instance.id, number)
        price_gb_month = storage_price_gb_month(
            self.catalog,
            candidate.provider,
            instance.disk_size_gb,
            instance_type=candidate.instance_type,
        )
        meta = {**(instance.meta or {}), "zone": candidate.zone, "spot": candidate.spot}
        fields = {
            "provider": candidate.provider,
            "instance_type": candidate.instance_type,
            "region": candidate.region,
            "cost_per_hour": candidate.price_per_hour,
            "storage_price_gb_month": price_gb_month,
            "public_ip_price_per_hour": public_ipv4_per_hour(
                candidate.provider, spot=candidate.spot
            ),
            "stack_name": stack_name,
            "meta": meta,
        }
        if any(getattr(instance, name) != value for name, value in fields.items()):
            # The first attempt usually matches what admission recorded: no write then.
            instance = self.ledger.update(instance.id, at=self.clock(), **fields)
        attempt = start_attempt(
            self.ledger,
            InstanceAttempt(
                instance_id=instance.id,
                number=number,
                provider=candidate.provider,
                region=candidate.region,
                zone=candidate.zone,
                instance_type=candidate.instance_type,
                spot=candidate.spot,
                price_per_hour=candidate.price_per_hour,
                stack_name=stack_name,
                outcome=AttemptOutcome.RUNNING,
                started_at=self.clock(),
            ),
        )
        if number > 1:
            self.ledger.note(
                instance.id,
                event_type="instance:attempt",
                status=Status(instance.status),
                at=self.clock(),
                detail=f"attempt {number}: {candidate.label()} "
                f"(${candidate.price_per_hour}/h, stack {stack_name})",
            )
        return attempt, instance

    def may_fail_over(
        self,
        instance: Instance,
        attempt: InstanceAttempt,
        error: CloudError,
        refused: frozenset[Region] = frozenset(),
    ) -> bool:
        """Whether a refused attempt moves on: a failure that fails over, a candidate left
        outside the `refused` regions (the caller adds the attempt's own region when its refusal
        was region-wide), attempts and time left. maxAttempts bounds each launch: the first,
        and each relaunch after a preemption has a budget of its own."""
        if not failure_class(error).fails_over:
            return False
        done = attempts_of(self.ledger, instance.id)
        if not _untried(self.candidates_of(instance), done, refused):
            return False
        if len(_launch(done)) >= self.max_attempts_of(instance):
            return False
        return self.clock() < self.provisioning_deadline(instance)

    def record_failed_attempt(
        self, instance: Instance, attempt: InstanceAttempt, error: CloudError
    ) -> None:
        fclass = failure_class(error)
        end_attempt(
            self.ledger,
            attempt.id or 0,
            at=self.clock(),
            outcome=AttemptOutcome.FAILED,
            failure_class=fclass.value,
            provider_code=error.provider_code,
            message=error.message[:2000],
        )
        code = error.provider_code or fclass.value
        detail = (
            f"attempt {attempt.number} on {_label(attempt)} failed: {code} ({fclass.value}); "
            f"its stack {attempt.stack_name} was destroyed"
        )
        self.ledger.note(
            instance.id,
            event_type="instance:attempt-failed",
            status=Status(self.ledger.require(instance.id).status),
            at=self.clock(),
            detail=detail,
        )
        self._emit(
            "instance:attempt-failed",
            {
                "instanceId": instance.id,
                "attempt": attempt.number,
                "candidate": _candidate(attempt).to_json(),
                "failureClass": fclass.value,
                "providerCode": error.provider_code,
            },
        )

    def landed(self, attempt: InstanceAttempt) -> None:
        end_attempt(self.ledger, attempt.id or 0, at=self.clock(), outcome=AttemptOutcome.LANDED)

    def final_failure(self, instance: Instance, last: CloudError) -> CloudError:
        """The error a request ends FAILED with: every attempt and what would help."""
        attempts = attempts_of(self.ledger, instance.id)
        fclass = failure_class(last)
        hint = advice(
            fclass,
            instance.provider,
            instance.instance_type,
            last.message,
            bool((instance.meta or {}).get("spot")),
        )
        if len(attempts) <= 1:
            message = last.message if not hint else f"{last.message} ({hint})"
            return ProvisioningFailedError(
                message, kind=last.kind, provider_code=last.provider_code
            )
        tried = "; ".join(
            f"{a.number}. {_label(a)}: {a.provider_code or a.failure_class or a.outcome}"
            for a in attempts
        )
        message = f"all {len(attempts)} attempts failed ({tried})"
        if hint:
            message += f"; {hint}"
        return ProvisioningFailedError(
            f"{message}. Last error: {last.message}",
            kind=last.kind,
            provider_code=last.provider_code,
        )


def _candidate(attempt: InstanceAttempt) -> Candidate:
    return Candidate(
        attempt.provider,
        attempt.region,
        attempt.instance_type,
        attempt.zone,
        attempt.spot,
        Decimal(attempt.price_per_hour),
    )


def _launch(done: list[InstanceAttempt]) -> list[InstanceAttempt]:
    """The attempts of the current launch: those after the last one that landed (a relaunch
    after a preemption starts a new launch)."""
    landed = [i for i, a in enumerate(done) if a.outcome == AttemptOutcome.LANDED]
    return done[landed[-1] + 1 :] if landed else list(done)


def _launch_start(candidates: list[Candidate], done: list[InstanceAttempt]) -> int:
    """Where the current launch starts in the order: the first candidate, or (a relaunch) the
    one after the candidate the preempted VM had landed on."""
    landed = [a for a in done if a.outcome == AttemptOutcome.LANDED]
    if not landed:
        return 0
    labels = [c.label() for c in candidates]
    last = _label(landed[-1])
    return (labels.index(last) + 1) % len(candidates) if last in labels else 0


def _untried(
    candidates: list[Candidate], done: list[InstanceAttempt], refused: frozenset[Region]
) -> list[int]:
    """Indexes of the candidates this launch has not tried, in the planned order from where the
    launch started, skipping regions whose refusal holds for every zone (a preflight's quota or
    registration check: each zone would fail the same way)."""
    start = _launch_start(candidates, done)
    tried = {_label(a) for a in _launch(done)}
    count = len(candidates)
    return [
        i
        for i in ((start + k) % count for k in range(count))
        if candidates[i].label() not in tried
        and (candidates[i].provider, candidates[i].region) not in refused
    ]


def _candidate_index(
    candidates: list[Candidate], done: list[InstanceAttempt], refused: frozenset[Region]
) -> int:
    rest = _untried(candidates, done, refused)
    return rest[0] if rest else _launch_start(candidates, done)


def _label(attempt: InstanceAttempt) -> str:
    return _candidate(attempt).label()
