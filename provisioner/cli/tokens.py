"""`provisioner token create|list|revoke`: bearer tokens for the REST API."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from provisioner.cli.instances import JsonOpt

if TYPE_CHECKING:
    from provisioner.ledger.tokens import Tokens

token_app = typer.Typer(
    help="Bearer tokens for the REST API (stored hashed; a new token is shown once).",
    no_args_is_help=True,
)


def _tokens() -> Tokens:
    from datetime import UTC, datetime

    from provisioner.cli.context import load_settings
    from provisioner.ledger.ledger import Ledger
    from provisioner.ledger.tokens import Tokens

    settings = load_settings()
    settings.ensure_home()
    return Tokens(Ledger(settings.effective_database_url), lambda: datetime.now(UTC))


@token_app.command()
def create(
    user: Annotated[str, typer.Option(help="The user this token acts as.")],
    admin: Annotated[
        bool, typer.Option("--admin", help="May see and act on every user's instances.")
    ] = False,
    name: Annotated[str | None, typer.Option(help="A label, e.g. the calling service.")] = None,
    json_output: JsonOpt = False,
) -> None:
    """Create a token and print it on stdout, once."""
    from provisioner.cli.render import err, print_json

    token, info = _tokens().create(user, admin=admin, name=name)
    if json_output:
        print_json({"success": True, "token": token, "tokenInfo": info.to_json()})
        return
    print(token)
    role = "admin" if admin else "user"
    err.print(
        f"{info.id}: {role} token for {user}. Store it now: it is not shown again "
        "(only its hash is kept)."
    )


@token_app.command("list")
def list_tokens(
    user: Annotated[str | None, typer.Option(help="Only this user's tokens.")] = None,
    json_output: JsonOpt = False,
) -> None:
    """List tokens (never the tokens themselves)."""
    from rich.table import Table

    from provisioner.cli.render import emit, out, print_json, when

    tokens = _tokens().list(user)
    if json_output:
        rows = [t.to_json() for t in tokens]
        print_json({"success": True, "tokens": rows, "count": len(rows)})
        return
    if not tokens:
        out.print("no tokens")
        return
    table = Table(show_edge=False, header_style="bold")
    for column in ("ID", "USER", "ROLE", "NAME", "CREATED", "LAST USED", "REVOKED"):
        table.add_column(column)
    for t in tokens:
        table.add_row(
            t.id,
            t.user_id,
            "admin" if t.admin else "user",
            t.name or "-",
            when(t.created_at),
            when(t.last_used_at),
            when(t.revoked_at),
        )
    emit(table)


@token_app.command()
def revoke(token_id: str, json_output: JsonOpt = False) -> None:
    """Revoke a token by id: requests with it get 401 from then on."""
    from provisioner.cli.ids import full_token_id
    from provisioner.cli.render import out, print_json

    tokens = _tokens()
    info = tokens.revoke(full_token_id(tokens.ledger, token_id))
    if json_output:
        print_json({"success": True, "tokenInfo": info.to_json()})
    else:
        out.print(f"{info.id} ({info.user_id}) revoked")


def register(app: typer.Typer) -> None:
    app.add_typer(token_app, name="token")
