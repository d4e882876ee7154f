"""The `provisioner` command. Thin adapters over `Provisioner`; errors map to exit codes here.

Keep module-level imports light: `provisioner --help` must not import pulumi, sqlmodel,
sqlalchemy, fastapi or pydantic-settings. Commands import what they need when they run.
"""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperGroup

from provisioner.cli import costs, gc, info, instances, reap, serve, tokens


class ProvisionerGroup(TyperGroup):
    """Maps typed errors to one line and an exit code, once, for every command."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        ctx.meta["json_output"] = "--json" in args
        return super().parse_args(ctx, args)

    def invoke(self, ctx: Any) -> Any:
        from provisioner.cli.errors import exit_code_for, report_error

        try:
            return super().invoke(ctx)
        except Exception as exc:  # typed errors become one line and an exit code; bugs re-raise
            code = exit_code_for(exc)
            if code is None:
                raise
            report_error(exc, json_mode=ctx.meta.get("json_output", False))
            ctx.exit(code)


app = typer.Typer(
    cls=ProvisionerGroup,
    name="provisioner",
    help="Ephemeral GPU VMs on AWS and Azure: one Pulumi stack per instance, a cost ledger, "
    "and a guarantee that they go away again.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # locals may hold credentials
    add_completion=False,
)
instances.register(app)
info.register(app)
reap.register(app)
costs.register(app)
serve.register(app)
tokens.register(app)
gc.register(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
