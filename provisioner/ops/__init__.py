"""Operations that change the world: the Provisioner service, provisioning, termination, reaper,
leases, budgets.

The reaper (reaper.py) composes its steps, each in its own module (reap_expired, reap_recover,
reap_retry, reap_orphans; sweep.py what they share). Named for jobs and pools (#21), not yet
built: the scheduler (placing queued jobs on pool instances, asking the rules' scaling function
for more or fewer) is a module beside the reaper, run by `serve` next to it, not a step inside it.

May import: every layer below (pricing, ledger, engine, remote, capacity, rules, config); never
an edge."""
