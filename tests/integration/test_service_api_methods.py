"""Service methods the API needs: the termination split, extend, paging."""

from __future__ import annotations

import pytest
from factories import make_request

from provisioner.rules.errors import ConflictError, InvalidTransitionError, ValidationError
from provisioner.rules.lifecycle import Status


def test_begin_terminate_records_stopping_and_finish_destroys(service):
    instance = service.provision(make_request())

    begun = service.begin_terminate(instance.id, reason="api")
    assert begun.status == Status.STOPPING
    assert service.get(instance.id).terminated_at is None

    done = service.finish_terminate(instance.id, reason="api")
    assert done.status == Status.TERMINATED and done.terminated_at is not None
    types = [e.type for e in service.events(instance.id)]
    assert types[-2:] == ["instance:stopping", "instance:terminated"]


def test_begin_terminate_keeps_terminates_rules(service):
    pending = service.begin_provision(make_request())
    with pytest.raises(ConflictError):
        service.begin_terminate(pending.id)
    service.run_provision(pending.id)
    service.terminate(pending.id)

    again = service.begin_terminate(pending.id)

    assert again.status == Status.TERMINATED  # a no-op, no new event
    assert [e.type for e in service.events(pending.id)].count("instance:stopping") == 1


def test_finish_terminate_refuses_an_instance_nobody_began_terminating(service):
    instance = service.provision(make_request())

    with pytest.raises(InvalidTransitionError):
        service.finish_terminate(instance.id)
    assert service.get(instance.id).status == Status.READY


def test_extend_moves_expiry_and_records_it(service):
    instance = service.provision(make_request(auto_terminate_minutes=30))

    extended = service.extend(instance.id, 45)

    assert (extended.expires_at - instance.expires_at).total_seconds() == 45 * 60
    assert service.events(instance.id)[-1].type == "instance:extended"


@pytest.mark.parametrize("minutes", [0, -5, 121, True])
def test_extend_refuses_bad_minutes(service, minutes):
    instance = service.provision(make_request())

    with pytest.raises(ValidationError) as refused:
        service.extend(instance.id, minutes)

    assert refused.value.field == "minutes"


def test_extend_never_passes_the_hard_deadline(service):
    instance = service.provision(make_request(auto_terminate_minutes=120))
    service.extend(instance.id, 120)  # now at 240, the hard deadline

    with pytest.raises(ValidationError) as refused:
        service.extend(instance.id, 1)

    assert "hard deadline" in refused.value.message
    assert service.get(instance.id).expires_at == instance.hard_deadline


def test_page_walks_newest_first_with_a_keyset(service, clock):
    made = []
    for _ in range(3):
        made.append(service.provision(make_request()).id)
        clock.advance(seconds=1)

    first, more = service.page("user-123", limit=2)
    last = first[-1]
    second, more_after = service.page("user-123", limit=2, after=(last.created_at, last.id))

    assert [i.id for i in first + second] == list(reversed(made))
    assert more is True and more_after is False
