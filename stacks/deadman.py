"""The on-VM deadman: a boot script that powers the VM off at its hard deadline (and, when asked,
after N idle minutes), followed by the user's setup script.

It runs even if provisioner is gone. Its only dynamic content is the deadline, parsed and
re-rendered here, so nothing a user typed reaches the deadman (the setup script travels
base64-encoded and runs as its own process after it). It arms itself at first boot
(cloud-init runs the user-data script once) and on every later boot (a systemd unit), because a
reboot cancels a pending `shutdown`. The time left is computed on the VM from its own clock,
floored to whole minutes (so it fires at or just before the deadline, never after it) and at
least one minute (a deadline already passed means "soon", not "never").
"""

from __future__ import annotations

import base64
import gzip
import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from stacks.spec import InstanceSpec

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


# -- idle auto-stop and the setup script (#11) ---------------------------------------------------

IDLE_PATH = "/usr/local/sbin/provisioner-idle"
IDLE_UNIT = "provisioner-idle.service"
STATE_DIR = "/var/lib/provisioner"
SETUP_PATH = f"{STATE_DIR}/setup.sh"
SETUP_RC = f"{STATE_DIR}/setup.rc"
SETUP_LOG = "/var/log/provisioner-setup.log"
# `provisioner exec`/`run` leave a file named by their wrapper's pid here while a command runs.
ACTIVE_DIR = "/var/tmp/provisioner-active"
IDLE_CHECK_SECONDS = 60
# AWS refuses user data over 16 KB (before base64); larger scripts go gzip-compressed, which
# cloud-init unpacks itself.
AWS_USER_DATA_LIMIT = 16 * 1024


def idle_script(idle_minutes: int) -> str:
    """One idle check: record activity, or power off once idle for `idle_minutes`.

    Busy means: a GPU with non-zero utilisation (nvidia-smi), a login session (`who`), or a live
    `exec`/`run` (a marker in ACTIVE_DIR whose pid is alive). The time of the last activity is
    kept in a state file, so the check can run every minute from a loop and survive restarts.
    PROVISIONER_IDLE_STATE / PROVISIONER_ACTIVE_DIR override the paths (tests).
    """
    minutes = int(idle_minutes)
    if minutes < 1:
        raise ValueError("idle minutes must be at least 1")
    return f"""#!/bin/sh
# provisioner idle guard: power off after {minutes} idle minutes
PATH="$PATH:/usr/sbin:/usr/bin:/sbin:/bin"
idle_seconds={minutes * 60}
state="${{PROVISIONER_IDLE_STATE:-{STATE_DIR}/idle-since}}"
active="${{PROVISIONER_ACTIVE_DIR:-{ACTIVE_DIR}}}"
now=$(date -u +%s)
busy=""
if command -v nvidia-smi >/dev/null 2>&1; then
  for u in $(nvidia-smi --query-gpu=utilization.gpu --format=csv,noheader,nounits 2>/dev/null); do
    case "$u" in ''|*[!0-9]*) ;; *) if [ "$u" -gt 0 ]; then busy="gpu"; fi ;; esac
  done
fi
if [ -z "$busy" ] && [ -n "$(who 2>/dev/null)" ]; then busy="session"; fi
if [ -z "$busy" ] && [ -d "$active" ]; then
  for marker in "$active"/*; do
    [ -e "$marker" ] || continue
    pid=${{marker##*/}}
    case "$pid" in ''|*[!0-9]*) continue ;; esac
    if kill -0 "$pid" 2>/dev/null; then busy="exec"; break; fi
  done
fi
since=$(cat "$state" 2>/dev/null)
case "$since" in ''|*[!0-9]*) since="" ;; esac
if [ -n "$busy" ] || [ -z "$since" ]; then
  echo "$now" > "$state"
  echo "provisioner-idle: busy (${{busy:-first check}})"
  exit 0
fi
if [ $((now - since)) -ge "$idle_seconds" ]; then
  exec shutdown -h now "provisioner: idle for {minutes} minutes"
fi
echo "provisioner-idle: idle for $((now - since)) s"
"""


def _idle_install(idle_minutes: int) -> str:
    return f"""# idle auto-stop: check every minute, from boot on
mkdir -p {STATE_DIR}
cat > {IDLE_PATH} <<'PROVISIONER_IDLE'
{idle_script(idle_minutes)}PROVISIONER_IDLE
chmod 0755 {IDLE_PATH}
if command -v systemctl >/dev/null 2>&1; then
  cat > /etc/systemd/system/{IDLE_UNIT} <<'PROVISIONER_IDLE_UNIT'
[Unit]
Description=provisioner idle guard: power off when idle
After=multi-user.target

[Service]
ExecStart=/bin/sh -c 'while :; do {IDLE_PATH}; sleep {IDLE_CHECK_SECONDS}; done'
Restart=always

[Install]
WantedBy=multi-user.target
PROVISIONER_IDLE_UNIT
  systemctl daemon-reload
  systemctl enable --now {IDLE_UNIT}
else
  nohup /bin/sh -c 'while :; do {IDLE_PATH}; sleep {IDLE_CHECK_SECONDS}; done' >/dev/null 2>&1 &
fi
"""


def _setup_run(setup_script: str, login_user: str) -> str:
    # Base64 keeps the script's text out of this shell (no heredoc it could end early); it runs
    # in its own process as the login user, after the guards above are armed, so an `exit` or a
    # failure in it skips nothing of ours. Gzipped first: base64 of plain text barely compresses
    # again, and EC2's 16 KB limit must hold a 16 KiB script beside the deadman and data disk.
    encoded = base64.b64encode(gzip.compress(setup_script.encode(), mtime=0)).decode()
    user = re.sub(r"[^a-z0-9_-]", "", login_user) or "root"
    return f"""# the user's setup script, as {user}: output to {SETUP_LOG}, status to {SETUP_RC}
mkdir -p {STATE_DIR}
echo '{encoded}' | base64 -d | gunzip > {SETUP_PATH}
chmod 0755 {SETUP_PATH}
touch {SETUP_LOG} && chmod 0644 {SETUP_LOG}
if id {user} >/dev/null 2>&1 && command -v runuser >/dev/null 2>&1; then
  runuser -l {user} -c 'sh {SETUP_PATH}' >> {SETUP_LOG} 2>&1
else
  sh {SETUP_PATH} >> {SETUP_LOG} 2>&1
fi
echo $? > {SETUP_RC}
"""


def user_data(
    spec: InstanceSpec, login_user: str, *, halt_after_minutes: int = 0, disks: str = ""
) -> bytes:
    """The whole first-boot script: the deadman first (always), the data disk (`disks`, #13),
    then the idle guard and the setup script when asked for. Without any of them it is exactly
    `shutdown_script`."""
    parts = [shutdown_script(spec.hard_deadline, halt_after_minutes=halt_after_minutes)]
    parts.append(f"mkdir -p {ACTIVE_DIR} && chmod 1777 {ACTIVE_DIR}\n")
    if disks:
        parts.append(disks)
    if spec.idle_minutes:
        parts.append(_idle_install(spec.idle_minutes))
    if spec.setup_script:
        parts.append(_setup_run(spec.setup_script, login_user))
    if len(parts) == 2:
        return parts[0].encode()
    return "".join(parts).encode()


def aws_user_data(
    spec: InstanceSpec, login_user: str, *, disks: str = ""
) -> tuple[str | None, str | None]:
    """(user_data, user_data_base64) for EC2: plain text when it fits, else gzip + base64."""
    data = user_data(spec, login_user, disks=disks)
    if len(data) <= AWS_USER_DATA_LIMIT:
        return data.decode(), None
    packed = gzip.compress(data, mtime=0)
    if len(packed) > AWS_USER_DATA_LIMIT:
        raise ValueError(f"user data is {len(packed)} bytes compressed; EC2 allows 16 KB")
    return None, base64.b64encode(packed).decode()
