"""Defaults for every request option from config files, profiles and the environment.

Files: the user's `$XDG_CONFIG_HOME/provisioner/config.toml` (default `~/.config/...`) and a
project's `provisioner.toml`, the nearest one found upward from the current directory. In each,
top-level keys are defaults and `[profiles.NAME]` tables override them when that profile is
chosen (`--profile`, else `PROVISIONER_PROFILE`, else a file's `profile = "NAME"`). Request
options also read `PROVISIONER_<OPTION>` (PROVISIONER_REGION, PROVISIONER_TTL, ...).

Precedence, highest first: flag > environment > project file > user file (a profile's value
over its file's top level). `provisioner config show` prints each value with its origin.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

PROJECT_FILE = "provisioner.toml"
DEFAULT_CONFIRM_ABOVE_USD = 10.0
LIST_KEYS = {"tag", "allow_ssh_from"}
BOOL_KEYS = {"spot", "recover", "allow_retired"}
INT_KEYS = {"min_gpu_memory", "min_vcpus", "max_attempts", "disk_gb"}
PATH_KEYS = {"ssh_key", "setup"}
FLOAT_KEYS = {"max_price"}
# Keys that are not request options: the profile to use, and when `up` asks before spending.
EXTRA_KEYS = {"profile", "confirm_above_usd"}
# PROVISIONER_MAX_ATTEMPTS is already a setting (the same default); PROFILE is read on its own.
NO_ENV = {"max_attempts", "profile"}


def user_config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base).expanduser() / "provisioner" / "config.toml"


def project_config_path(start: Path | None = None) -> Path | None:
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / PROJECT_FILE
        if candidate.is_file():
            return candidate
    return None


@dataclass
class Resolved:
    options: Any  # RequestOptions, every default filled in
    origins: dict[str, str]  # field -> "flag" | "env PROVISIONER_X" | "<file> [profiles.x]"
    profile: str | None
    profile_origin: str
    files: list[Path] = field(default_factory=list)
    confirm_above_usd: float = DEFAULT_CONFIRM_ABOVE_USD
    confirm_origin: str = "default"


def _error(message: str) -> Exception:
    from provisioner.rules.errors import ValidationError

    return ValidationError("config", message)


def _read(path: Path) -> dict[str, Any]:
    import tomllib

    try:
        return tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError) as exc:
        raise _error(f"{path}: cannot be read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise _error(f"{path}: not valid TOML: {exc}") from None


def _suggest(word: str, choices: list[str] | set[str]) -> str:
    close = difflib.get_close_matches(word, sorted(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _coerce(key: str, value: Any, where: str, base: Path | None) -> Any:
    """A file's or the environment's value as the option takes it; one-line error otherwise."""

    def bad(rule: str) -> Exception:
        return _error(f"{where}: {key} must be {rule} (got {value!r})")

    if key in BOOL_KEYS:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("1", "true", "yes", "0", "false", "no"):
            return value.lower() in ("1", "true", "yes")
        raise bad("true or false")
    if key in LIST_KEYS:
        if key == "tag" and isinstance(value, dict):
            return [f"{k}={v}" for k, v in value.items()]
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return list(value)
        raise bad("a list of strings")
    if key in INT_KEYS:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().isdigit():
            return int(value)
        raise bad("a whole number")
    if key in FLOAT_KEYS or key == "confirm_above_usd":
        try:
            return float(value)
        except (TypeError, ValueError):
            raise bad("a number") from None
    if key == "regions" and isinstance(value, list):
        return ",".join(str(v) for v in value)
    if key in ("ttl", "idle_minutes") and isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise bad("a string")
    if key in PATH_KEYS:
        path = Path(value).expanduser()
        return path if path.is_absolute() or base is None else base / path
    return value


def _check_keys(table: dict[str, Any], where: str, *, allowed: set[str]) -> dict[str, Any]:
    clean = {}
    for raw, value in table.items():
        key = raw.replace("-", "_")
        if key not in allowed:
            raise _error(f"{where}: unknown key {raw!r}{_suggest(key, allowed)}")
        clean[key] = value
    return clean


def _layers_of(
    path: Path, label: str, profile: str | None, keys: list[str]
) -> list[tuple[str, dict[str, Any]]]:
    """(origin, values) of one file: its top level, then the chosen profile's table."""
    data = _read(path)
    profiles = data.pop("profiles", {})
    if not isinstance(profiles, dict):
        raise _error(f"{path}: profiles must be tables ([profiles.NAME])")
    allowed = set(keys) | EXTRA_KEYS
    layers = [(f"{label} {path}", _check_keys(data, str(path), allowed=allowed))]
    if profile is not None and profile in profiles:
        where = f"{path} [profiles.{profile}]"
        layers.append((f"{label} {where}", _check_keys(profiles[profile], where, allowed=allowed)))
    return layers


def _profile_names(paths: list[Path]) -> set[str]:
    names: set[str] = set()
    for path in paths:
        profiles = _read(path).get("profiles", {})
        if isinstance(profiles, dict):
            names |= set(profiles)
    return names


def _chosen_profile(flag: str | None, files: list[tuple[str, Path]]) -> tuple[str | None, str]:
    if flag:
        return flag, "flag --profile"
    env = os.environ.get("PROVISIONER_PROFILE")
    if env:
        return env, "env PROVISIONER_PROFILE"
    for label, path in reversed(files):  # the project's choice over the user's
        name = _read(path).get("profile")
        if isinstance(name, str) and name:
            return name, f"{label} {path}"
    return None, "none"


def resolve(given: Any) -> Resolved:
    """`given` (a RequestOptions: the flags) with every unset option filled from env, project
    and user config."""
    request_keys = [f.name for f in fields(given) if f.name != "profile"]
    files: list[tuple[str, Path]] = []
    user = user_config_path()
    if user.is_file():
        files.append(("user", user))
    project = project_config_path()
    if project is not None:
        files.append(("project", project))
    profile, profile_origin = _chosen_profile(given.profile, files)
    if profile is not None and profile not in _profile_names([p for _, p in files]):
        known = _profile_names([p for _, p in files])
        where = ", ".join(str(p) for _, p in files) or f"no config file ({user} or {PROJECT_FILE})"
        raise _error(
            f"profile {profile!r} ({profile_origin}) is not defined in {where}"
            + (
                _suggest(profile, known)
                or (f"; profiles: {', '.join(sorted(known))}" if known else "")
            )
        )
    layers: list[tuple[str, dict[str, Any]]] = []
    for label, path in files:
        layers.extend(
            (origin, {k: _coerce(k, v, origin, path.parent) for k, v in values.items()})
            for origin, values in _layers_of(path, label, profile, request_keys)
        )
    env: dict[str, Any] = {}
    for key in [*request_keys, "confirm_above_usd"]:
        name = f"PROVISIONER_{key.upper()}"
        if key not in NO_ENV and os.environ.get(name):
            env[key] = (name, _coerce(key, os.environ[name], f"env {name}", None))
    values: dict[str, Any] = {}
    origins: dict[str, str] = {}
    for origin, layer in layers:  # lowest first: later layers win
        for key, value in layer.items():
            values[key], origins[key] = value, origin
    for key, (name, value) in env.items():
        values[key], origins[key] = value, f"env {name}"
    for key in request_keys:
        flag = getattr(given, key)
        if flag not in (None, False, []):
            values[key], origins[key] = flag, "flag"
    confirm = values.pop("confirm_above_usd", DEFAULT_CONFIRM_ABOVE_USD)
    confirm_origin = origins.pop("confirm_above_usd", "default")
    values.pop("profile", None)
    origins.pop("profile", None)
    options = replace(given, **{k: v for k, v in values.items() if k in request_keys})
    return Resolved(
        options=replace(options, profile=profile),
        origins=origins,
        profile=profile,
        profile_origin=profile_origin,
        files=[p for _, p in files],
        confirm_above_usd=float(confirm),
        confirm_origin=confirm_origin,
    )
