"""The simulated engine: the same stacks/ programs under Pulumi's mocks (mockrun.py), a fake
cloud that remembers what they declared, capacity rules, and the simulated VM's SSH endpoint.

May import: provisioner.rules, provisioner.config, provisioner.engine (base, shared pieces) and
stacks."""
