"""The Typer CLI: thin commands over the service, errors mapped to exit codes once.

An edge (with api and web): may import any layer; no layer below imports it."""
