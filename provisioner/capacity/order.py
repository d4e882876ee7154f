"""The failover order: the exact order in which a request's candidates are tried.

The rule (docs/capacity.md has an example): candidates are grouped by region (provider,
region). Each round gives every region a fair share, `ZONES_PER_ROUND` candidates (two zones),
before any region gets more; so a region whose zones refused for capacity twice is left for the
next one, and with the default budget of 6 attempts three regions are all tried. Regions take
their turns round-robin across providers: the cheapest region of each provider first (providers
in the order of their cheapest candidate), then each provider's next region, and so on. Inside
a region, the cheapest type first, then the catalog's zone order. Ties keep the order the user
gave (providers, types, regions). The first candidate is always the cheapest one.

Pure: no I/O.
"""

from __future__ import annotations

from itertools import zip_longest

from provisioner.capacity.candidates import Candidate

ZONES_PER_ROUND = 2  # a region's fair share of attempts per round

Region = tuple[str, str]  # (provider, region)


def failover_order(
    candidates: list[Candidate], per_round: int = ZONES_PER_ROUND
) -> list[Candidate]:
    """`candidates` in the order they will be tried (see the module docstring)."""
    ranked = sorted(candidates, key=lambda c: c.price_per_hour)  # stable: ties keep user order
    groups: dict[Region, list[Candidate]] = {}
    for candidate in ranked:  # a region's place: where its cheapest candidate ranks
        groups.setdefault((candidate.provider, candidate.region), []).append(candidate)
    by_provider: dict[str, list[Region]] = {}
    for key in groups:
        by_provider.setdefault(key[0], []).append(key)
    turns = [key for tier in zip_longest(*by_provider.values()) for key in tier if key is not None]
    longest = max((len(g) for g in groups.values()), default=0)
    return [
        candidate
        for start in range(0, longest, per_round)
        for key in turns
        for candidate in groups[key][start : start + per_round]
    ]
