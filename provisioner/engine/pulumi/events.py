"""Pulumi's side of a run, in our terms: engine events become `EngineEvent`s, and a failed CLI
command becomes a typed error.

`EventRelay` is the `on_event` callback handed to the Automation API: it passes resource steps
and diagnostics on as `EngineEvent`s and keeps the error diagnostics. `failure` turns a
`CommandError` (plus those diagnostics) into `ProvisioningFailedError` / `DestroyFailedError` /
`CloudError`, classified by `classify_cloud_message`, with the provider's own error line as the
message rather than the CLI's whole output.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence

from pulumi.automation import errors as auto_errors
from pulumi.automation import events as auto_events

from provisioner.engine.base import EngineEvent, EventCallback
from provisioner.rules.cloud_errors import CLOUD_ERROR_CODES
from provisioner.rules.errors import CloudError, classify_cloud_message

log = logging.getLogger(__name__)


class EventRelay:
    """Called by the SDK with each Pulumi engine event (from its event-stream threads): passes
    them on as EngineEvents and keeps the error diagnostics to explain a failure."""

    def __init__(self, callback: EventCallback | None):
        self.callback = callback
        self.errors: list[str] = []

    def __call__(self, event: auto_events.EngineEvent) -> None:
        translated = _translate(event)
        if translated is None:
            return
        if translated.kind == "diagnostic" and translated.severity == "error":
            self.errors.append(translated.message)
        if self.callback is not None:
            try:
                self.callback(translated)
            except Exception:
                log.exception("on_event callback failed")


def _translate(event: auto_events.EngineEvent) -> EngineEvent | None:
    diagnostic = event.diagnostic_event
    if diagnostic is not None:
        if diagnostic.ephemeral or diagnostic.severity == "debug":
            return None
        return EngineEvent(
            kind="diagnostic",
            message=diagnostic.message.strip(),
            resource_type=_urn_part(diagnostic.urn, -2),
            resource_name=_urn_part(diagnostic.urn, -1),
            severity="info" if diagnostic.severity == "info#err" else diagnostic.severity,
        )
    steps = (
        (event.resource_pre_event, "started"),
        (event.res_outputs_event, "done"),
        (event.res_op_failed_event, "failed"),
    )
    for step, status in steps:
        if step is not None and not getattr(step, "planning", False):
            meta = step.metadata
            name = _urn_part(meta.urn, -1)
            return EngineEvent(
                kind="resource",
                message=f"{meta.op.value} {status}: {meta.type} {name}",
                resource_type=meta.type,
                resource_name=name,
                op=meta.op.value,
                status=status,
            )
    return None


def _urn_part(urn: str | None, index: int) -> str | None:
    """urn:pulumi:<stack>::<project>::<type>::<name>; the type may carry parents ($)."""
    parts = (urn or "").split("::")
    if len(parts) < 4:
        return None
    return parts[index].split("$")[-1] if index == -2 else parts[index]


_KNOWN_CODES = tuple(entry.code for entry in CLOUD_ERROR_CODES)
_NOISE = re.compile(r"^(error:\s*)?(update failed|destroy failed|an error occurred.*)$", re.I)
_LEADERS = re.compile(r"^(?:error:\s*|[\w./-]+\.go:\d+:\s*|sdk\.helper_schema:\s*)+")
_TRAILER = re.compile(r":\s*provider=\S+$")


def failure(
    error: type[CloudError], exc: auto_errors.CommandError, diagnostics: Sequence[str]
) -> CloudError:
    """A typed, classified error whose message is one useful line, not the CLI's whole output."""
    text = "\n".join([str(exc), *diagnostics])
    if isinstance(exc, auto_errors.ConcurrentUpdateError):
        line = error_line(diagnostics, str(exc))
        return error(f"another operation holds the stack's lock: {line}", kind="transient")
    if isinstance(exc, auto_errors.InlineSourceRuntimeError):
        found = re.search(r"python inline source runtime error:\s*(.+)", text)
        line = found.group(1).strip() if found else error_line(diagnostics, str(exc))
        return error(f"the Pulumi program failed: {line}", kind="error")
    kind, code = classify_cloud_message(text)
    return error(error_line(diagnostics, str(exc)), kind=kind, provider_code=code)


def error_line(diagnostics: Sequence[str], output: str) -> str:
    """The most telling line: one naming a known cloud code, else the first error line."""
    lines = []
    for chunk in (*diagnostics, output):
        for raw in chunk.splitlines():
            line = re.sub(r"^\s*(code|stdout|stderr):\s*", "", raw).strip()
            if line and not _NOISE.match(line) and not line.isdigit():
                lines.append(line)
    coded = [line for line in lines if any(code in line for code in _KNOWN_CODES)]
    flagged = [line for line in lines if "error:" in line.lower() or line.startswith("error")]
    best = (coded or flagged or lines or ["the Pulumi CLI failed without saying why"])[0]
    if "error:" in best:
        best = best[best.index("error:") :]
    best = _TRAILER.sub("", _LEADERS.sub("", best)).strip()
    return best if len(best) <= 400 else best[:397] + "..."


__all__ = ["EventRelay", "error_line", "failure"]
