import itertools

import pytest

from provisioner.rules.errors import InvalidTransitionError
from provisioner.rules.lifecycle import (
    EVENT_NAMES,
    TRANSITIONS,
    Status,
    check_transition,
    parse_status,
)


def test_the_happy_path_is_legal_in_order():
    path = [
        Status.PROVISIONING,
        Status.CONFIGURING,
        Status.READY,
        Status.RUNNING,
        Status.STOPPING,
        Status.TERMINATED,
    ]
    for current, target in itertools.pairwise(path):
        check_transition("inst-1", current, target)


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (Status.PROVISIONING, Status.TERMINATED),  # never TERMINATED before a destroy
        (Status.READY, Status.TERMINATED),
        (Status.RUNNING, Status.TERMINATED),
        (Status.TERMINATED, Status.READY),
        (Status.TERMINATED, Status.STOPPING),
        (Status.FAILED, Status.READY),
        (Status.PROVISIONING, Status.READY),
        (Status.STOPPING, Status.READY),
    ],
)
def test_illegal_moves_are_refused_with_both_states_named(current, target):
    with pytest.raises(InvalidTransitionError) as err:
        check_transition("inst-1", current, target)
    assert current.value in err.value.message and target.value in err.value.message


def test_terminated_is_final_and_every_state_has_a_seed_event():
    assert TRANSITIONS[Status.TERMINATED] == frozenset()
    assert set(EVENT_NAMES) == set(Status)
    assert EVENT_NAMES[Status.FAILED] == "instance:error"


def test_parse_status_is_case_insensitive_and_names_the_choices():
    assert parse_status("running") is Status.RUNNING
    with pytest.raises(ValueError, match="Status must be one of PROVISIONING"):
        parse_status("BOOTING")
