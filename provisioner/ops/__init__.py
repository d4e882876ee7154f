"""Operations that change the world: the Provisioner service, provisioning, termination, reaper,
leases, budgets.

May import: every layer below (pricing, ledger, engine, remote, capacity, rules, config); never
an edge."""
