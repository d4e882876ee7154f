"""What a VM's public IPv4 address costs per hour on each cloud (#24). Pure data, no I/O.

Every stack in stacks/ gives its VM one public IPv4 address (AWS: an auto-assigned public IP on
the instance; Azure: a Standard-SKU static PublicIPAddress; GCP: an ephemeral external IP in an
access config), and each cloud bills it by the hour beside the VM's compute. The charge accrues
over the same billed interval as the VM (from the cloud's acceptance of it to its end); an
instance whose VM never got a public address, or never existed, pays none.

Figures as each source read on the date given; `catalog refresh` does not read them.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class PublicIpv4Rule:
    per_hour: Decimal  # on an on-demand (standard) VM
    spot_per_hour: Decimal  # on a spot / preemptible VM
    rule: str
    source: str
    read_on: str  # the date the figure was read

    def price(self, *, spot: bool) -> Decimal:
        return self.spot_per_hour if spot else self.per_hour


RULES: dict[str, PublicIpv4Rule] = {
    "AWS": PublicIpv4Rule(
        per_hour=Decimal("0.005"),
        spot_per_hour=Decimal("0.005"),
        rule="Every public IPv4 address, in use or idle, $0.005 per IP per hour since "
        "2024-02-01 (spot instances alike; BYOIP excepted; the EC2 free tier's 750 h/month "
        "for new accounts is not modelled).",
        source="https://aws.amazon.com/vpc/pricing/",
        read_on="2026-12-06",
    ),
    "AZURE": PublicIpv4Rule(
        per_hour=Decimal("0.005"),
        spot_per_hour=Decimal("0.005"),
        rule="A Standard-SKU public IPv4 address (the Basic SKU was retired on 2025-09-30), "
        "static, $0.005 per hour while it exists, also while its VM is deallocated.",
        source="https://azure.microsoft.com/en-us/pricing/details/ip-addresses/",
        read_on="2026-12-06",
    ),
    "GCP": PublicIpv4Rule(
        per_hour=Decimal("0.005"),
        spot_per_hour=Decimal("0.0025"),
        rule="An external IPv4 address in use by a standard VM $0.005 per hour, by a Spot or "
        "preemptible VM $0.0025 per hour (a static address reserved and not in use bills "
        "more; provisioner uses ephemeral ones).",
        source="https://cloud.google.com/vpc/network-pricing#ipaddress",
        read_on="2026-12-06",
    ),
}


def public_ipv4_per_hour(provider: str, *, spot: bool) -> Decimal:
    """$/hour of the one public IPv4 address a VM of `provider` gets (0 for an unknown cloud)."""
    rule = RULES.get(provider.upper())
    return rule.price(spot=spot) if rule is not None else Decimal(0)
