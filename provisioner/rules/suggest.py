""" "Did you mean" for names people mistype (#27): instance types, regions, GPU models. Pure."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(typed: str | None, known: Iterable[str]) -> str:
    """ " (did you mean X?)" (or "X or Y") for the closest known names, "" when none is close."""
    if not typed:
        return ""
    names = sorted(set(known))
    by_lower = {n.lower(): n for n in names}
    close = difflib.get_close_matches(typed.lower(), list(by_lower), n=2, cutoff=0.5)
    if not close:
        return ""
    return " (did you mean " + " or ".join(by_lower[c] for c in close) + "?)"
