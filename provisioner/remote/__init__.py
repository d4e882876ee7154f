"""Reaching a VM: SSH keys, sessions, file sync, remote runs and their logs.

May import: provisioner.rules and provisioner.config."""
