"""#13 through the service on the simulated engine: the seed's AWS example runs with every disk
billed, and a resumed Azure up declares the same admin key (Azure refuses to change osProfile)."""

from __future__ import annotations

from decimal import Decimal

from factories import azure_request, make_request

from provisioner.rules.billing import storage_price_gb_month


def test_seed_aws_example_bills_the_image_root_and_the_data_disk(service):
    instance = service.provision(make_request())
    assert instance.status == "READY"
    row = service.ledger.require(instance.id)
    # 75 GB root (the DLAMI's) + 50 GB data disk, both gp3 at $0.08/GB-month.
    assert row.storage_price_gb_month * row.disk_size_gb == Decimal("0.08") * 125
    assert row.storage_price_gb_month == storage_price_gb_month(
        service.catalog, "AWS", 50, instance_type="g4dn.xlarge"
    )


def test_an_azure_up_without_a_key_reuses_its_admin_key_when_resumed(service):
    pending = service.begin_provision(azure_request(instance_type="Standard_NC4as_T4_v3"))
    row = service.ledger.require(pending.id)
    key = row.ssh_public_key
    assert key and key.startswith("ssh-ed25519 ")
    first, again = service._spec(row), service._spec(service.ledger.require(pending.id))
    assert first.ssh_public_key == again.ssh_public_key == key
    assert first.image == "microsoft-dsvm:ubuntu-hpc:2204:latest"
