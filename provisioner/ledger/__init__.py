"""Every database read and write: SQLModel tables, the ledger, spend as SQL, tokens, idempotency,
migrations.

Rooms named for jobs and pools (#21), not yet built: jobs (a job's row, its queue and states)
and usage segments (which instance served which job from when to when, what it cost) are
modules here beside ledger.py, with their own migration.

May import: provisioner.rules and provisioner.config."""
