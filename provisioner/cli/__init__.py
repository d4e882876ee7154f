"""The Typer CLI: thin commands over the service, errors mapped to exit codes once.

The top edge: may import any part (serve runs `provisioner.asgi`); nothing imports it."""
