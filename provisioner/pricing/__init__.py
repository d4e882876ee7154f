"""Prices and spend reports: catalog refresh from the providers' price lists, the cost report.

May import: provisioner.ledger, provisioner.rules and provisioner.config."""
