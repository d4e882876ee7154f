"""Reaching a VM: SSH keys, sessions, file sync, remote runs and their logs.

Named for jobs and pools (#21), not yet built: a job's run on an instance (start it, follow its
log, collect its exit status) is a module here beside runlog.py.

May import: provisioner.rules and provisioner.config."""
