"""provisioner: ephemeral GPU VMs, one Pulumi stack per instance, with a cost ledger."""

__version__ = "0.1.0"
