"""What the real engine reads from and writes to one stack around its operations: the
workspace's project file, the stack's tags, its outputs and its update history (whole functions
moved out of engine.py, #21).
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import yaml
from pulumi import automation as auto
from pulumi.automation import errors as auto_errors

from provisioner.engine.base import HistoryEntry, StackOutputs
from provisioner.engine.pulumi.events import error_line
from stacks.spec import (
    OUTPUT_CLOUD_INSTANCE_ID,
    OUTPUT_METADATA,
    OUTPUT_PRIVATE_IP,
    OUTPUT_PUBLIC_IP,
    TAG_INSTANCE_ID,
    TAG_TASK_ID,
    TAG_USER_ID,
    InstanceSpec,
)

log = logging.getLogger("provisioner.engine.pulumi.engine")  # the engine's log, as before

PROJECT = "gpu-provisioner"
TAG_NAME_MAX, TAG_VALUE_MAX = 40, 256  # Pulumi Cloud's limits
HISTORY_PAGE_SIZE, HISTORY_MAX_PAGES = 100, 50
TAG_LIVE = "provisioner:live"  # on a stack from its up until its destroy succeeds


# -- workspace files and settings ----------------------------------------------------------


def _plugin_version(package: str) -> str:
    text = resources.files(package).joinpath("pulumi-plugin.json").read_text(encoding="utf-8")
    return str(json.loads(text)["version"])


def _no_program() -> None:
    """Stands in for the program where Pulumi needs one but does not run it (destroy)."""


def _safe_dir_name(stack_name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.@-]", "_", stack_name)


def _write_project_file(work_dir: Path, backend_url: str) -> None:
    """Pulumi.yaml for the project, written atomically and only when it changes, so
    concurrent workspaces on one stack never see a half-written file."""
    work_dir.mkdir(parents=True, exist_ok=True)
    project = auto.ProjectSettings(
        name=PROJECT, runtime="python", backend=auto.ProjectBackend(url=backend_url)
    )
    text = yaml.safe_dump(project.to_dict(), sort_keys=True)
    path = work_dir / "Pulumi.yaml"
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return
    tmp = work_dir / f".Pulumi.yaml.{os.getpid()}.{threading.get_ident()}.tmp"
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _tag_stack(stack: auto.Stack, spec: InstanceSpec) -> None:
    """Stack tags for the console and `stack ls --tag`; best effort, since DIY backends in
    older CLIs refuse tags ("stack tags not supported in diy mode")."""
    tags = {
        TAG_USER_ID: spec.user_id,
        TAG_TASK_ID: spec.task_id,
        TAG_INSTANCE_ID: spec.instance_id,
        TAG_LIVE: "true",
    }
    if spec.attempt > 1:
        tags["provisioner:attempt"] = str(spec.attempt)
    for name, value in tags.items():
        if not value:
            continue
        try:
            stack.set_tag(name[:TAG_NAME_MAX], value[:TAG_VALUE_MAX])
        except auto_errors.CommandError as exc:
            log.info("stack %s left untagged: %s", stack.name, error_line([], str(exc)))
            return


def _untag_live(stack: auto.Stack) -> None:
    """The destroy succeeded: the stack leaves the live listing (best effort)."""
    try:
        stack.remove_tag(TAG_LIVE)
    except auto_errors.CommandError as exc:
        log.info("stack %s keeps its live tag: %s", stack.name, error_line([], str(exc)))


# -- results -------------------------------------------------------------------------------


def _stack_outputs(outputs: Mapping[str, auto.OutputValue]) -> StackOutputs:
    values = {name: output.value for name, output in outputs.items()}
    metadata_value = values.get(OUTPUT_METADATA) or {}
    if isinstance(metadata_value, str):
        try:
            metadata_value = json.loads(metadata_value)
        except ValueError:
            metadata_value = {"value": metadata_value}
    return StackOutputs(
        public_ip=values.get(OUTPUT_PUBLIC_IP) or None,
        private_ip=values.get(OUTPUT_PRIVATE_IP) or None,
        cloud_instance_id=values.get(OUTPUT_CLOUD_INSTANCE_ID) or None,
        metadata=dict(metadata_value) if isinstance(metadata_value, dict) else {},
    )


def _all_updates(stack: auto.Stack) -> list[auto.UpdateSummary]:
    """Every page of the stack's history (the CLI returns 10 entries unless asked for more)."""
    updates: list[auto.UpdateSummary] = []
    for page in range(1, HISTORY_MAX_PAGES + 1):
        batch = stack.history(page_size=HISTORY_PAGE_SIZE, page=page, show_secrets=False)
        updates.extend(batch)
        if len(batch) < HISTORY_PAGE_SIZE:
            break
    return updates


def _history_entry(update: auto.UpdateSummary) -> HistoryEntry:
    return HistoryEntry(
        version=update.version or 0,
        kind=update.kind,
        result=update.result,
        start_time=_utc(update.start_time) or datetime.fromtimestamp(0, UTC),
        end_time=_utc(update.end_time),
        message=update.message,
        resource_changes={str(op): int(n) for op, n in (update.resource_changes or {}).items()},
    )


def _utc(value: datetime | None) -> datetime | None:
    """The SDK parses the CLI's UTC timestamps into naive datetimes."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)
