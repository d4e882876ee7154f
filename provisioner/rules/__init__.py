"""Pure rules, no I/O: lifecycle states and moves, input validation, the catalog, billing, money,
typed errors.

May import: provisioner.config only."""
