"""Where an instance can land: offers, candidates (provider/region/zone/type/spot), failover order.

May import: provisioner.rules and provisioner.config."""
