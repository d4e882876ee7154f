"""The exact split of an instance's cost over its usage segments (rules/jobs.py split_cost)."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from provisioner.rules.jobs import MICRO, split_cost

totals = st.integers(min_value=0, max_value=10**12).map(lambda n: n * MICRO)
weights = st.lists(st.integers(min_value=0, max_value=10**12), min_size=1, max_size=40)


@given(totals, weights)
def test_shares_sum_exactly_and_each_is_within_a_micro_dollar_of_pro_rata(total, parts):
    shares = split_cost(total, parts)
    assert sum(shares, Decimal(0)) == total
    assert all(s >= 0 and s == s.quantize(MICRO) for s in shares)
    whole = sum(parts)
    if whole:
        for share, weight in zip(shares, parts, strict=True):
            exact = total * weight / whole
            assert abs(share - exact) < MICRO


def test_a_job_of_half_the_life_pays_half():
    assert split_cost(Decimal("1.000000"), [1, 2, 1]) == [
        Decimal("0.250000"),
        Decimal("0.500000"),
        Decimal("0.250000"),
    ]
    assert split_cost(Decimal("0.000001"), [0, 0]) == [Decimal("0.000001"), Decimal(0)]
