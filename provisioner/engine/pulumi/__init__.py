"""The real engine: Pulumi's Automation API driving the Pulumi CLI (engine.py), with its CLI
lookup, doctor, event relay, GCP auth, leak recovery and quota preflight beside it.

May import: provisioner.rules, provisioner.config, provisioner.engine (base, shared pieces) and
stacks. Importing this package imports no Pulumi code; engine.py does."""
