"""The request options: one set of `up`'s options, shared by every command that asks for a VM
(`up`, `run`, `plan`, `pool create`, `submit`), so they never drift into copies.

`@request_options` adds the options to a command's signature and hands the command one
`RequestOptions`; `RequestOptions.to_request` builds the `ProvisionRequest` the service takes.
Defaults from a config file or profile belong in `to_request`, once, for every command.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from provisioner.cli import completion

if TYPE_CHECKING:
    from provisioner.rules.validation import ProvisionRequest

F = TypeVar("F", bound=Callable[..., Any])

PANEL = "Request"
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the API's JSON shape.")]
VerboseOpt = Annotated[  # #27: each refusal is one line; --verbose adds the provider's full text
    bool, typer.Option("--verbose", "-v", help="Print each refusal's full text from the cloud.")
]
WideOpt = Annotated[  # #27: tables fold the other columns to fit; --wide folds none
    bool, typer.Option("--wide", help="Every column at full width, one line per row.")
]


@dataclass(frozen=True)
class RequestOptions:
    """What a user asked for, as typed (None: not given)."""

    provider: str | None = None
    instance_type: str | None = None
    region: str | None = None
    regions: str | None = None
    zone: str | None = None
    gpu: str | None = None
    min_gpu_memory: int | None = None
    min_vcpus: int | None = None
    max_price: float | None = None
    spot: bool = False
    max_attempts: int | None = None
    recover: bool = False
    disk_gb: int | None = None
    ttl: str | None = None
    task: str | None = None
    user: str | None = None
    tag: list[str] | None = None
    purpose: str | None = None
    ssh_key: Path | None = None
    allow_ssh_from: list[str] | None = None
    setup: Path | None = None
    idle_minutes: str | None = None
    allow_retired: bool = False
    profile: str | None = None

    def to_request(
        self, *, simulate: bool, default_cidrs: tuple[str, ...] = ()
    ) -> ProvisionRequest:
        """The request the service takes, with the defaults of config files, profile and
        environment filled in (`resolved`); `me` among the CIDRs becomes this machine's address,
        `default_cidrs` apply when no --allow-ssh-from was given (run must reach its VM)."""
        return self.resolved().to_request_as_given(simulate=simulate, default_cidrs=default_cidrs)

    def resolved(self) -> RequestOptions:
        """These options with every unset one filled from env, project and user config."""
        from provisioner.cli.config_file import resolve

        options: RequestOptions = resolve(self).options
        return options

    def to_request_as_given(
        self, *, simulate: bool, default_cidrs: tuple[str, ...] = ()
    ) -> ProvisionRequest:
        """The request from exactly these options (no config file read)."""
        from dataclasses import replace

        from provisioner.rules.durations import parse_minutes
        from provisioner.rules.errors import ValidationError

        if not self.provider:
            raise ValidationError(
                "provider",
                "Provider is required: --provider aws|azure|gcp|any (or a profile's provider; "
                "`provisioner config show`)",
            )
        request = build_request(
            provider=self.provider,
            instance_type=self.instance_type or "",
            region=self.region,
            disk_gb=self.disk_gb,
            ttl=parse_minutes("config.autoTerminateMinutes", self.ttl, flag="--ttl"),
            task=self.task,
            user=self.user,
            tag=self.tag,
            purpose=self.purpose,
            ssh_key=self.ssh_key,
            allow_ssh_from=self.allow_ssh_from,
            setup=self.setup,
            idle_minutes=parse_minutes(
                "config.idleMinutes", self.idle_minutes, flag="--idle-minutes"
            ),
            simulate=simulate,
            default_cidrs=default_cidrs,
            allow_retired=self.allow_retired,
        )
        return replace(
            request,
            regions=tuple(self.regions.split(",")) if self.regions else (),
            zone=self.zone,
            gpu=self.gpu,
            min_gpu_memory_gb=self.min_gpu_memory,
            min_vcpus=self.min_vcpus,
            max_price=self.max_price,
            spot=self.spot,
            max_attempts=self.max_attempts,
            recover=self.recover,
        )


def _option(*decls: str, help: str, complete: Any = None) -> Any:
    return typer.Option(*decls, help=help, rich_help_panel=PANEL, autocompletion=complete)


# The typer parameter of each RequestOptions field, in the order `--help` lists them.
OPTIONS: dict[str, tuple[Any, Any]] = {
    "provider": (
        str | None,
        _option("--provider", help="aws, azure, gcp, or any (with --gpu)."),
    ),
    "instance_type": (
        str | None,
        _option(
            "--instance-type",
            help="A type from `provisioner types`; a,b tries b when a is refused.",
            complete=completion.instance_types,
        ),
    ),
    "region": (
        str | None,
        _option(
            "--region",
            help="Default: us-east-1 / eastus / us-central1; `any`: all.",
            complete=completion.regions,
        ),
    ),
    "regions": (
        str | None,
        _option(
            "--regions",
            help="Regions to fail over across, e.g. us-east-1,us-west-2.",
            complete=completion.regions,
        ),
    ),
    "zone": (str | None, _option("--zone", help="Only this zone (e.g. us-east-1b).")),
    "gpu": (str | None, _option("--gpu", help="GPU spec instead of a type: T4:1, A100:8, H100.")),
    "min_gpu_memory": (int | None, _option("--min-gpu-memory", help="GB per GPU, with --gpu.")),
    "min_vcpus": (int | None, _option("--min-vcpus", help="With --gpu.")),
    "max_price": (
        float | None,
        _option("--max-price", help="Highest $/hour to accept (spot: the max bid)."),
    ),
    "spot": (bool, _option("--spot", help="Spot VMs: cheaper, may vanish.")),
    "max_attempts": (
        int | None,
        _option("--max-attempts", help="Candidates to try before giving up (default 6)."),
    ),
    "recover": (bool, _option("--recover", help="Relaunch elsewhere when the cloud takes it.")),
    "disk_gb": (int | None, _option("--disk-gb", help="Root disk, 30..4096 GB (default 100).")),
    "ttl": (
        str | None,
        _option("--ttl", help="Auto-terminate after MINUTES or a duration: 90m, 3h (default 60)."),
    ),
    "task": (
        str | None,
        _option("--task", help="Task id (terminate a task's VMs with `down --task`)."),
    ),
    "user": (str | None, _option("--user", help="User id (default: your login name).")),
    "tag": (list[str] | None, _option("--tag", help="key=value, repeatable.")),
    "purpose": (str | None, _option("--purpose", help="Free text, at most 256 characters.")),
    "ssh_key": (Path | None, _option("--ssh-key", help="OpenSSH public key file to install.")),
    "allow_ssh_from": (
        list[str] | None,
        _option(
            "--allow-ssh-from",
            help="CIDR allowed to reach tcp/22, or `me` (this machine's public address); "
            "repeatable. Default: none (run: me).",
        ),
    ),
    "setup": (
        Path | None,
        _option("--setup", help="Script run at first boot via cloud-init (<= 16 KiB text)."),
    ),
    "idle_minutes": (
        str | None,
        _option(
            "--idle-minutes",
            help="The VM stops itself after N minutes with no GPU use, SSH session or exec/run.",
        ),
    ),
    "allow_retired": (
        bool,
        _option("--allow-retired", help="Try a retired type on a real cloud anyway."),
    ),
    "profile": (
        str | None,
        _option(
            "--profile",
            help="Defaults from this profile of config.toml / provisioner.toml "
            "(env PROVISIONER_PROFILE; `provisioner config show`).",
        ),
    ),
}
assert set(OPTIONS) == {f.name for f in fields(RequestOptions)}


def request_options(command: F) -> F:
    """Adds every request option to `command`'s parameters (after its own, keyword-only) and
    calls it with `options: RequestOptions` in their place."""
    own = [p for p in inspect.signature(command).parameters.values() if p.name != "options"]
    hints = inspect.get_annotations(command, eval_str=True)
    added = [
        inspect.Parameter(
            name,
            inspect.Parameter.KEYWORD_ONLY,
            default=getattr(RequestOptions, name, None),
            annotation=Annotated[kind, option],
        )
        for name, (kind, option) in OPTIONS.items()
    ]
    parameters = [
        p.replace(annotation=hints.get(p.name, p.annotation), kind=inspect.Parameter.KEYWORD_ONLY)
        for p in own
    ]

    @functools.wraps(command)
    def wrapper(**kwargs: Any) -> Any:
        options = RequestOptions(**{name: kwargs.pop(name) for name in OPTIONS})
        return command(options=options, **kwargs)

    del wrapper.__wrapped__  # typer reads __signature__, not the command's own
    wrapper.__signature__ = inspect.Signature(parameters + added)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in parameters + added}
    return wrapper  # type: ignore[return-value]


def build_request(
    *,
    provider: str,
    instance_type: str,
    region: str | None,
    disk_gb: int | None,
    ttl: int | None,
    task: str | None,
    user: str | None,
    tag: list[str] | None,
    purpose: str | None,
    ssh_key: Path | None,
    allow_ssh_from: list[str] | None,
    setup: Path | None,
    idle_minutes: int | None,
    simulate: bool,
    default_cidrs: tuple[str, ...] = (),
    allow_retired: bool = False,
) -> ProvisionRequest:
    """The request `up` and `run` send; `me` among the CIDRs becomes this machine's address."""
    from provisioner.cli.context import default_user, load_settings
    from provisioner.remote.myip import resolve_cidrs
    from provisioner.rules.validation import ProvisionRequest

    settings = load_settings(simulate=simulate)
    cidrs = resolve_cidrs(
        list(allow_ssh_from or default_cidrs),
        url=settings.myip_url,
        simulated=settings.engine == "simulated",
    )
    return ProvisionRequest(
        provider=provider,
        instance_type=instance_type,
        user_id=default_user() if user is None else user,
        task_id=task,
        region=region,
        disk_size_gb=disk_gb,
        auto_terminate_minutes=ttl,
        tags=_parse_tags(tag or []),
        purpose=purpose,
        ssh_public_key=_read_key(ssh_key),
        allowed_ssh_cidrs=tuple(cidrs),
        setup_script=_read_setup(setup),
        idle_minutes=idle_minutes,
        allow_retired=allow_retired,
    )


def _parse_tags(pairs: list[str]) -> dict[str, str]:
    from provisioner.rules.errors import ValidationError

    tags: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise ValidationError("config.tags", f"Tag must be key=value (got {pair!r})")
        tags[key] = value
    return tags


def _read_key(path: Path | None) -> str | None:
    from provisioner.rules.errors import ValidationError

    if path is None:
        return None
    try:
        return path.expanduser().read_text().strip()
    except OSError as exc:
        raise ValidationError(
            "sshPublicKey", f"SSH key file {path} cannot be read: {exc.strerror}"
        ) from None


def _read_setup(path: Path | None) -> str | None:
    from provisioner.rules.errors import ValidationError

    if path is None:
        return None
    try:
        return path.expanduser().read_bytes().decode("utf-8")
    except OSError as exc:
        raise ValidationError(
            "config.setupScript", f"Setup script {path} cannot be read: {exc.strerror}"
        ) from None
    except UnicodeDecodeError:
        raise ValidationError("config.setupScript", "Setup script must be UTF-8 text") from None
