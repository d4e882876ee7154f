"""Typed errors. Raised in the core, mapped once to HTTP in `api/` and to exit codes in `cli/`."""

from __future__ import annotations

MAX_ECHO = 60


def shown(value: object, limit: int = MAX_ECHO) -> str:
    """`value` as an error message quotes it: repr (so control characters stay escaped), cut to
    about `limit` characters with the full length said, so a 10 KB input never comes back whole."""
    text = repr(value)
    if len(text) <= limit:
        return text
    length = f" ({len(value)} characters)" if isinstance(value, str) else ""
    return f"{text[: limit - 1]}…{length}"


def shown_id(value: object) -> str:
    """An id as a message names it: bare when it looks like an id, else quoted and cut."""
    plain = isinstance(value, str) and 0 < len(value) <= 64 and value.isascii()
    if plain and all(ch.isalnum() or ch in "._-" for ch in str(value)):
        return str(value)
    return shown(value)


class ProvisionerError(Exception):
    """Base of every error the core raises on purpose.

    `code` is the stable machine-readable name (the API's error.code), `retryable` says whether
    trying the same thing again later may succeed.
    """

    code = "ERROR"
    retryable = False

    def __init__(self, message: str, *, code: str | None = None, retryable: bool | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if retryable is not None:
            self.retryable = retryable


class ValidationError(ProvisionerError):
    """Bad input. The message names the field and the rule, on one line."""

    code = "VALIDATION_ERROR"

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


class NotFoundError(ProvisionerError):
    code = "NOT_FOUND"


SHOWN_CANDIDATES = 5  # ids named in an ambiguity error (#27)


def resolve_prefix(typed: str, found: list[str], *, noun: str, field: str) -> str:
    """The one id `typed` names among `found` (the ids starting with it, sorted, up to
    SHOWN_CANDIDATES + 1), or a one-line error: none, or several (the first few named)."""
    if len(found) == 1 and typed:
        return str(found[0])
    if len(found) > 1 and typed:
        more = ", ..." if len(found) > SHOWN_CANDIDATES else ""
        raise ValidationError(
            field,
            f"{noun} id {shown_id(typed)} is ambiguous: it starts "
            f"{', '.join(str(f) for f in found[:SHOWN_CANDIDATES])}{more}; type more of it",
        )
    raise NotFoundError(f"{noun} {shown_id(typed)} not found")


class AuthenticationError(ProvisionerError):
    """No credentials, or credentials nobody issued (or that were revoked)."""

    code = "UNAUTHORIZED"


class PermissionDeniedError(ProvisionerError):
    """Valid credentials asking to act as someone else."""

    code = "FORBIDDEN"


class InvalidTransitionError(ProvisionerError):
    """A state change the lifecycle does not allow (e.g. RUNNING from TERMINATED)."""

    code = "INVALID_TRANSITION"


class ConflictError(ProvisionerError):
    """Someone else is operating on the instance or stack right now."""

    code = "CONFLICT"
    retryable = True


class EngineUnavailableError(ProvisionerError):
    """The engine cannot run here (e.g. the Pulumi CLI is missing). The message says the fix."""

    code = "ENGINE_UNAVAILABLE"


class BudgetExceededError(ProvisionerError):
    """A request would take a user over a spend budget or instance cap (#5; API 402)."""

    code = "BUDGET_EXCEEDED"

    def __init__(self, message: str, *, user_id: str, budget: str):
        super().__init__(message)
        self.user_id = user_id
        self.budget = budget  # "daily", "monthly" or "maxInstances"


class CatalogRefreshError(ProvisionerError):
    """The price sources could not be read; the catalog was left as it was (#5)."""

    code = "CATALOG_REFRESH_FAILED"
    retryable = True


class CloudError(ProvisionerError):
    """An engine operation failed in the cloud or in Pulumi.

    `kind` classifies it: "capacity" (no such VMs free now), "quota" (account limit), "transient"
    (throttling, 5xx, lock conflicts: retry), "timeout" (the watchdog stopped it), "error".
    `provider_code` is the cloud's own code when one was found (InsufficientInstanceCapacity...).
    `region_wide`: the refusal holds for every zone of the region (a preflight's quota check).
    """

    code = "CLOUD_ERROR"
    region_wide = False

    def __init__(self, message: str, *, kind: str = "error", provider_code: str | None = None):
        super().__init__(message, retryable=kind == "transient")
        self.kind = kind
        self.provider_code = provider_code


class ProvisioningFailedError(CloudError):
    code = "PROVISIONING_FAILED"


class DestroyFailedError(CloudError):
    code = "DESTROY_FAILED"


def classify_cloud_message(message: str) -> tuple[str, str | None]:
    """Return (kind, provider_code) for an engine's error text (the table: cloud_errors.py)."""
    from provisioner.rules.cloud_errors import classify

    failure_class, code = classify(message)
    return failure_class.value, code
