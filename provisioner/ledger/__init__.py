"""Every database read and write: SQLModel tables, the ledger, spend as SQL, tokens, idempotency,
migrations.

May import: provisioner.rules and provisioner.config."""
