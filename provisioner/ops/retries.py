"""Retry policy: transient cloud errors are retried within a call (tenacity); failed destroys are
retried across reaper sweeps with exponential backoff, for as long as it takes.

Capacity and quota errors are never retried here: trying the same type in the same region again a
second later gets the same answer, so they end FAILED with their code and the provider's message.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import TypeVar

from provisioner.config import Settings
from provisioner.rules.errors import CloudError

T = TypeVar("T")


def is_transient(exc: BaseException) -> bool:
    return isinstance(exc, CloudError) and exc.kind == "transient"


def retry_transient(call: Callable[[], T], settings: Settings) -> T:
    """Run `call`; on a transient CloudError (throttling, 5xx, a lock conflict) try again with
    exponential waits, `transient_attempts` tries in all. Other errors propagate at once."""
    # Imported here: read-only commands never retry, so they never pay for tenacity.
    from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

    retrying = Retrying(
        retry=retry_if_exception(is_transient),
        stop=stop_after_attempt(settings.transient_attempts),
        wait=wait_exponential(multiplier=settings.transient_wait_seconds, max=60),
        reraise=True,
    )
    return retrying(call)


def destroy_backoff(attempts: int, settings: Settings) -> timedelta:
    """How long after its `attempts`-th failure a destroy is tried again: base, 2x base, 4x base,
    ... capped. It is never given up: the instance keeps billing until a destroy succeeds."""
    exponent = max(0, min(attempts - 1, 30))
    seconds = min(
        settings.destroy_retry_max_seconds, settings.destroy_retry_base_seconds * 2**exponent
    )
    return timedelta(seconds=seconds)
