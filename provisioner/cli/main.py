"""The `provisioner` command. Thin adapters over `Provisioner`; errors map to exit codes here.

Keep module-level imports light: `provisioner --help` must not import pulumi, sqlmodel,
sqlalchemy, fastapi or pydantic-settings. Commands import what they need when they run.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Annotated, Any

import typer
from typer.core import TyperGroup, TyperOption

# Exceptions that are the command line's own way out (--help; usage errors: Typer's usage box,
# exit 2).
# Typer >= 0.24 vendors click; older Typer uses click itself.
_CLI_EXITS: tuple[type[BaseException], ...] = (typer.Exit, typer.Abort)
try:
    from typer.exceptions import TyperException

    _CLI_EXITS += (TyperException,)
except ImportError:  # pragma: no cover - older Typer
    pass
try:
    import click

    _CLI_EXITS += (click.exceptions.Exit, click.exceptions.Abort, click.ClickException)
except ImportError:  # pragma: no cover - newer Typer without click installed
    pass

from provisioner.cli import (  # noqa: E402
    capacity,
    config_cmd,
    copy_cmd,
    costs,
    gc,
    info,
    instances,
    jobs,
    plan,
    pools,
    reap,
    remote,
    serve,
    tokens,
)


class ProvisionerGroup(TyperGroup):
    """Maps typed errors to one line and an exit code, once, for every command."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        ctx.meta["json_output"] = "--json" in args
        if not args and not ctx.resilient_parsing:  # bare `provisioner`: the help, exit 0 (#27)
            typer.echo(ctx.get_help())
            ctx.exit(0)
        return super().parse_args(ctx, args)

    def format_help(self, ctx: Any, formatter: Any) -> None:
        """The top level's help in click's plain format. Rich's boxes for twenty commands cost
        ~180 ms of a ~300 ms `provisioner --help` (bench/startup.py); each command's own help
        keeps them."""
        super(TyperGroup, self).format_help(ctx, formatter)

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        """Each command's whole first sentence, wrapped (click cuts it at the line's end)."""
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit=300)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def invoke(self, ctx: Any) -> Any:
        from provisioner.cli.errors import exit_code_for, report_error

        try:
            return super().invoke(ctx)
        except _CLI_EXITS as exc:
            _suggest_synonym(exc)
            raise
        except KeyboardInterrupt:
            print("error: interrupted", file=sys.stderr)
            ctx.exit(130)
        except BrokenPipeError:
            # The reader went away (`list --all --json | head`): stop quietly with SIGPIPE's
            # status, and keep the interpreter's final flush from reporting it again.
            with contextlib.suppress(OSError, ValueError):  # ValueError: no real stdout
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            ctx.exit(141)
        except Exception as exc:  # every failure is one line and an exit code, never a traceback
            code = exit_code_for(exc)
            if code is None:
                if os.environ.get("PROVISIONER_DEBUG"):
                    raise  # a developer asked for the traceback
                code = 1
            report_error(exc, json_mode=ctx.meta.get("json_output", False))
            ctx.exit(code)


# Words people type for an option under another name (`up --time 30`): click's "did you mean"
# only knows spellings close to the real name (#27).
SYNONYMS = {
    "--time": "--ttl",
    "--timeout": "--ttl",
    "--duration": "--ttl",
    "--hours": "--ttl",
    "--lifetime": "--ttl",
    "--auto-terminate": "--ttl",
    "--type": "--instance-type",
    "--machine-type": "--instance-type",
    "--vm-size": "--instance-type",
    "--size": "--instance-type",
    "--zone": "--region",
    "--location": "--region",
    "--cloud": "--provider",
    "--gpus": "--gpu",
    "--accelerator": "--gpu",
    "--accelerators": "--gpu",
    "--preemptible": "--spot",
    "--use-spot": "--spot",
    "--disk": "--disk-gb",
    "--disk-size": "--disk-gb",
    "--disk-size-gb": "--disk-gb",
    "--key": "--ssh-key",
}


def _suggest_synonym(exc: BaseException) -> None:
    """A NoSuchOption for a known other name of an option this command has: suggest it."""
    name = getattr(exc, "option_name", None)
    context = getattr(exc, "ctx", None)
    wanted = SYNONYMS.get(str(name).split("=")[0]) if name else None
    if wanted is None or context is None or not hasattr(exc, "possibilities"):
        return
    options = {o for p in context.command.params for o in getattr(p, "opts", ())}
    if wanted in options:
        exc.possibilities = [wanted]


def _option_label(self: TyperOption, ctx: Any) -> str | None:
    """Help shows no type label for a flag (`--json <bool>` reads as if it took a value)."""
    if self.is_flag:
        return None
    return _typer_label(self, ctx)


_typer_label = TyperOption.display_type_rich
TyperOption.display_type_rich = _option_label  # type: ignore[method-assign]


def _plain_text_options() -> None:
    """A plain `str` option (or argument) takes click's string as it is, a flag click's bool,
    an `int` is parsed and checked against its min/max here (`list --limit`: the read commands
    start without pydantic, #21).
    Typer 0.29 builds a pydantic TypeAdapter for each the first time a command runs: ~15 ms
    each plus typer._adapters' imports (bench/startup.py, #21). Other types
    (int with min, enums, lists, paths) keep Typer's own coercion. Internals: if they move,
    this does nothing."""
    try:
        from typer import _coercion, core
    except ImportError:  # pragma: no cover - another Typer
        return
    build = getattr(core, "build_runtime_param", None)
    passthrough = getattr(_coercion, "PassThroughRuntimeParam", None)
    if build is None or passthrough is None:  # pragma: no cover - another Typer
        return

    def build_runtime_param(descriptor: Any) -> Any:
        info = descriptor.parameter_info
        if (
            descriptor.annotation in (str, bool)
            and getattr(descriptor, "file_annotation", None) is None
            and getattr(info, "parser", None) is None
            and getattr(info, "click_type", None) is None
        ):
            return passthrough(parameter_info=info, annotation=descriptor.annotation)
        if descriptor.annotation == list[str] and getattr(info, "parser", None) is None:
            # a repeated option (`list --status A --status B`): click's strings, as a list
            return _StrListParam(parameter_info=info, annotation=descriptor.annotation)
        if descriptor.annotation is int and not getattr(info, "clamp", False):
            return _IntParam(parameter_info=info, annotation=int)
        return build(descriptor)

    class _StrListParam(passthrough):  # type: ignore[misc,valid-type]
        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
                return list(value)
            return super()._coerce_value(value, param, ctx)

    class _IntParam(passthrough):  # type: ignore[misc,valid-type]
        """An int option with its min/max, in pydantic's words (what Typer's adapter said)."""

        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            from typer._click.exceptions import BadParameter

            if isinstance(value, str):
                try:
                    value = int(value.strip())
                except ValueError:
                    raise BadParameter(
                        "Input should be a valid integer, unable to parse string as an integer",
                        ctx=ctx,
                        param=param,
                    ) from None
            info = self.parameter_info
            low, high = getattr(info, "min", None), getattr(info, "max", None)
            if isinstance(value, int) and low is not None and value < low:
                message = f"Input should be greater than or equal to {low}"
                raise BadParameter(message, ctx=ctx, param=param)
            if isinstance(value, int) and high is not None and value > high:
                message = f"Input should be less than or equal to {high}"
                raise BadParameter(message, ctx=ctx, param=param)
            return super()._coerce_value(value, param, ctx)

    core.build_runtime_param = build_runtime_param


_plain_text_options()


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            print(f"provisioner {version('provisioner')}")
        except PackageNotFoundError:  # run from a source tree without installing
            from provisioner import __version__

            print(f"provisioner {__version__}")
        raise typer.Exit()


app = typer.Typer(
    cls=ProvisionerGroup,
    name="provisioner",
    help="Ephemeral GPU VMs on AWS, Azure and GCP: one Pulumi stack per instance, a cost ledger, "
    "and a guarantee that they go away again.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # locals may hold credentials
    add_completion=True,  # --install-completion / --show-completion for bash, zsh, fish (#27)
)


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Ephemeral GPU VMs on AWS, Azure and GCP (the help text is the app's `help`)."""


instances.register(app)
plan.register(app)
info.register(app)
reap.register(app)
costs.register(app)
serve.register(app)
tokens.register(app)
remote.register(app)
copy_cmd.register(app)
capacity.register(app)
gc.register(app)
pools.register(app)
jobs.register(app)
config_cmd.register(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
