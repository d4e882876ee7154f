"""The on-VM deadman: a boot script that powers the VM off at its hard deadline.

It runs even if provisioner is gone. Its only dynamic content is the deadline, parsed and
re-rendered here, so nothing a user typed ever reaches the shell. It arms itself at first boot
(cloud-init runs the user-data script once) and on every later boot (a systemd unit), because a
reboot cancels a pending `shutdown`. The time left is computed on the VM from its own clock,
floored to whole minutes (so it fires at or just before the deadline, never after it) and at
least one minute (a deadline already passed means "soon", not "never").
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

CHECK_PATH = "/usr/local/sbin/provisioner-deadman"
UNIT_NAME = "provisioner-deadman.service"


def parse_deadline(hard_deadline_iso: str) -> datetime:
    """The deadline as an aware UTC datetime; refuses naive or unparsable times."""
    deadline = datetime.fromisoformat(hard_deadline_iso)
    if deadline.tzinfo is None:
        raise ValueError(f"hard deadline must carry a UTC offset: {hard_deadline_iso!r}")
    return deadline.astimezone(UTC).replace(microsecond=0)


def deadline_hhmm(hard_deadline_iso: str) -> str:
    """The deadline's time of day in UTC as "HHMM" (Azure auto-shutdown's format)."""
    return parse_deadline(hard_deadline_iso).strftime("%H%M")


def check_script(hard_deadline_iso: str, *, halt_after_minutes: int = 0) -> str:
    """The script that schedules `shutdown -h +N` for the minutes left until the deadline
    (plus `halt_after_minutes`: on Azure the cloud's deallocating schedule goes first)."""
    deadline = parse_deadline(hard_deadline_iso) + timedelta(minutes=halt_after_minutes)
    epoch = int(deadline.timestamp())
    label = deadline.strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"""#!/bin/sh
# provisioner deadman: power off at the hard deadline {label}
PATH="$PATH:/usr/sbin:/usr/bin:/sbin:/bin"
deadline={epoch}
now=$(date -u +%s)
minutes=$(( (deadline - now) / 60 ))
if [ "$minutes" -lt 1 ]; then minutes=1; fi
exec shutdown -h "+$minutes" "provisioner: hard deadline {label} reached"
"""


def shutdown_script(hard_deadline_iso: str, *, halt_after_minutes: int = 0) -> str:
    """The user-data / custom-data script: install the deadman, re-arm it on boot, arm it now."""
    check = check_script(hard_deadline_iso, halt_after_minutes=halt_after_minutes)
    return f"""#!/bin/sh
# provisioner: install and arm the deadman (see stacks/deadman.py).
cat > {CHECK_PATH} <<'PROVISIONER_DEADMAN'
{check}PROVISIONER_DEADMAN
chmod 0755 {CHECK_PATH}
if command -v systemctl >/dev/null 2>&1; then
  cat > /etc/systemd/system/{UNIT_NAME} <<'PROVISIONER_UNIT'
[Unit]
Description=provisioner deadman: power off at the hard deadline
After=systemd-logind.service dbus.service

[Service]
Type=oneshot
ExecStart={CHECK_PATH}
RemainAfterExit=yes

[Install]
WantedBy=multi-user.target
PROVISIONER_UNIT
  systemctl daemon-reload
  systemctl enable {UNIT_NAME}
fi
{CHECK_PATH}
"""
