"""Pure rules, no I/O: lifecycle states and moves, input validation, the catalog, billing, money,
typed errors.

Rooms named for jobs and pools (#21), not yet built: a pool's scaling is a pure function here
(given the pool's bounds, its instances and its queued jobs at a moment, how many to add or
remove), so it is tested without a database or an engine.

May import: provisioner.config only."""
