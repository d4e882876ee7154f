#!/usr/bin/env bash
# The main job, offline: a simulated `up` (AWS, Azure and GCP), `list`, `stats`, a `run --down` that
# uses a VM over SSH, `down`, against the embedded SQLite ledger in ./.provisioner-demo. Nothing is
# created in any cloud. Needs only Python 3.11+ and git: a simulated VM's SSH endpoint is OpenSSH's
# sshd when installed, else asyncssh's server (a dependency); the client side is ssh (openssh-client).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
export PROVISIONER_HOME="${PROVISIONER_HOME:-$PWD/.provisioner-demo}"
export PROVISIONER_ENGINE=simulated
p=.venv/bin/provisioner
step() { printf '\n\033[1m$ provisioner %s\033[0m\n' "$*"; }

# The reaper enforces expiries (serve runs it every minute); one sweep here, so `up` sees a ledger
# that a reaper watches.
step reap --once
$p reap --once
step up --provider aws --instance-type g4dn.xlarge --region us-east-1 --disk-gb 50 --ttl 30 --task batch-789 --user user-123 --allow-ssh-from me
$p up --simulate --allow-ssh-from me --provider aws --instance-type g4dn.xlarge --region us-east-1 --disk-gb 50 \
  --ttl 30 --task batch-789 --user user-123 --purpose "Batch process 100 patient records"
step up --provider azure --instance-type Standard_NC4as_T4_v3 --region eastus --disk-gb 100 --ttl 60 --task task-456 --user user-123 --allow-ssh-from me --tag environment=production
$p up --simulate --allow-ssh-from me --provider azure --instance-type Standard_NC4as_T4_v3 --region eastus \
  --disk-gb 100 --ttl 60 --task task-456 --user user-123 --tag environment=production \
  --tag project=medical-analysis --purpose "Medical Document Analysis"
step up --provider gcp --instance-type g2-standard-4 --region us-central1 --disk-gb 100 --ttl 45 --task task-789 --user user-123 --allow-ssh-from me
$p up --simulate --allow-ssh-from me --provider gcp --instance-type g2-standard-4 --region us-central1 \
  --disk-gb 100 --ttl 45 --task task-789 --user user-123 --tag team=vision \
  --purpose "L4 inference benchmark"
step "run --down --provider aws --instance-type g4dn.xlarge --allow-ssh-from 127.0.0.1/32 --workdir demo-work -- sh -c '...'"
if command -v ssh >/dev/null 2>&1; then
  work=$(mktemp -d)
  printf 'print("hello from the VM")\n' > "$work/hello.py"
  $p run --simulate --down --provider aws --instance-type g4dn.xlarge --region us-east-1 --ttl 30 \
    --task demo-run --user user-123 --allow-ssh-from 127.0.0.1/32 --workdir "$work" \
    --purpose "One command on a fresh VM, then gone" -- 'ls && uname -s && cat hello.py'
  rm -rf "$work"
else
  echo "(skipped: using a VM needs an ssh client on this machine: apt-get install openssh-client)"
fi
step list --user user-123
$p list --user user-123
step stats --user user-123
$p stats --user user-123
step down --task batch-789
$p down --task batch-789
step down --task task-456
$p down --task task-456
step down --task task-789
$p down --task task-789
step "list --user user-123 --status TERMINATED"
$p list --user user-123 --status TERMINATED
step stats --user user-123 --json
$p stats --user user-123 --json
printf '\nledger: %s/ledger.db (remove the folder to start over)\n' "$PROVISIONER_HOME"
