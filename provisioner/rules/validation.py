"""Input rules for an instance request (DESIGN.md: Input rules).

Each refusal is a `ValidationError` whose one-line message names the field and the rule, the same
for the CLI and the API. Pure: no I/O, no clock.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import ipaddress
import re
from dataclasses import dataclass, field

from provisioner.config import Settings
from provisioner.rules.catalog import PROVIDERS, Catalog, InstanceType
from provisioner.rules.errors import ValidationError

ID_PATTERN = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
MIN_DISK_GB, MAX_DISK_GB = 30, 4096
MAX_TAGS, MAX_TAG_KEY, MAX_TAG_VALUE, MAX_PURPOSE = 40, 128, 256, 256
RESERVED_TAG_PREFIXES = ("aws:", "provisioner:", "azure", "microsoft", "windows")
FORBIDDEN_TAG_KEY_CHARS = set("<>%&\\?/")
DEFAULT_REGIONS = {"AWS": "us-east-1", "AZURE": "eastus"}
SSH_KEY_TYPES = (
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
)


@dataclass(frozen=True)
class ProvisionRequest:
    """What a caller asks for; anything left None takes the documented default."""

    provider: str
    instance_type: str
    user_id: str
    task_id: str | None = None
    region: str | None = None
    disk_size_gb: int | None = None
    auto_terminate_minutes: int | None = None
    tags: dict[str, str] = field(default_factory=dict)
    purpose: str | None = None
    ssh_public_key: str | None = None
    allowed_ssh_cidrs: tuple[str, ...] = ()
    # Try a retired type on a real engine anyway (#13); the simulation always accepts them.
    allow_retired: bool = False


@dataclass(frozen=True)
class ValidRequest:
    provider: str
    type: InstanceType
    region: str
    user_id: str
    task_id: str | None
    disk_size_gb: int
    auto_terminate_minutes: int
    tags: dict[str, str]
    purpose: str | None
    ssh_public_key: str | None
    ssh_key_fingerprint: str | None
    allowed_ssh_cidrs: tuple[str, ...]


def validate_request(
    request: ProvisionRequest, settings: Settings, catalog: Catalog
) -> ValidRequest:
    provider = validate_provider(request.provider)
    itype = _validate_type(catalog, provider, request.instance_type)
    region = _validate_region(itype, request.region)
    key, fingerprint = validate_ssh_key(request.ssh_public_key)
    disk = _validate_disk(request.disk_size_gb, settings.default_disk_gb)
    _check_image_fits(catalog, itype, disk, settings)
    return ValidRequest(
        provider=provider,
        type=itype,
        region=region,
        user_id=validate_id("userId", "User id", request.user_id),
        task_id=None
        if request.task_id is None
        else validate_id("taskId", "Task id", request.task_id),
        disk_size_gb=disk,
        auto_terminate_minutes=validate_ttl(request.auto_terminate_minutes, settings),
        tags=validate_tags(request.tags),
        purpose=_validate_purpose(request.purpose),
        ssh_public_key=key,
        ssh_key_fingerprint=fingerprint,
        allowed_ssh_cidrs=validate_cidrs(request.allowed_ssh_cidrs),
    )


def validate_provider(value: str | None) -> str:
    provider = (value or "").strip().upper()
    if provider not in PROVIDERS:
        raise ValidationError("config.provider", f"Provider must be AWS or AZURE (got {value!r})")
    return provider


def _validate_type(catalog: Catalog, provider: str, name: str | None) -> InstanceType:
    itype = catalog.get(provider, name or "")
    if itype is not None:
        return itype
    elsewhere = catalog.find(name or "")
    if elsewhere is not None:
        raise ValidationError(
            "config.instanceType",
            f"Instance type {name} is an {elsewhere.provider} type, not offered on {provider}; "
            f"see `provisioner types --provider {provider.lower()}`",
        )
    raise ValidationError(
        "config.instanceType",
        f"Instance type {name!r} is not in the {provider} catalog; "
        f"see `provisioner types --provider {provider.lower()}`",
    )


def _validate_region(itype: InstanceType, region: str | None) -> str:
    if region is None or region == "":
        default = DEFAULT_REGIONS[itype.provider]
        return default if default in itype.regions else itype.regions[0]
    normalized = region.strip().lower()
    if normalized not in itype.regions:
        raise ValidationError(
            "config.region",
            f"Region {region!r} is not offered for {itype.name} on {itype.provider}; "
            f"choose one of {', '.join(itype.regions)}",
        )
    return normalized


def _validate_disk(value: int | None, default: int) -> int:
    disk = default if value is None else value
    if (
        isinstance(disk, bool)
        or not isinstance(disk, int)
        or not MIN_DISK_GB <= disk <= MAX_DISK_GB
    ):
        raise ValidationError(
            "config.diskSizeGB",
            f"Disk size must be between {MIN_DISK_GB} and {MAX_DISK_GB} GB (got {value})",
        )
    return disk


def _check_image_fits(catalog: Catalog, itype: InstanceType, disk: int, settings: Settings) -> None:
    """Azure's OS disk is the requested disk and may not be smaller than the image (AWS keeps
    the image's root and adds the request as a data disk, so any size fits there)."""
    if itype.provider != "AZURE" or settings.azure_image:
        return
    image = catalog.image_for(itype.provider, itype.name)
    if image is not None and disk < image.root_disk_gb:
        raise ValidationError(
            "config.diskSizeGB",
            f"Disk size must be at least {image.root_disk_gb} GB for {itype.name}: its image "
            f"{image.name} has a {image.root_disk_gb} GB OS disk (got {disk})",
        )


def validate_ttl(value: int | None, settings: Settings) -> int:
    ttl = settings.default_ttl_minutes if value is None else value
    low, high = settings.min_ttl_minutes, settings.max_ttl_minutes
    if isinstance(ttl, bool) or not isinstance(ttl, int) or not low <= ttl <= high:
        raise ValidationError(
            "config.autoTerminateMinutes",
            f"Auto-terminate must be between {low} and {high} minutes (got {value})",
        )
    return ttl


def validate_id(field_name: str, label: str, value: str | None) -> str:
    if not isinstance(value, str) or not ID_PATTERN.match(value):
        raise ValidationError(
            field_name, f"{label} must be 1-64 characters of A-Z a-z 0-9 . _ - (got {value!r})"
        )
    return value


def validate_tags(tags: dict[str, str] | None) -> dict[str, str]:
    tags = tags or {}
    if not isinstance(tags, dict):
        raise ValidationError("config.tags", "Tags must be an object of string keys and values")
    if len(tags) > MAX_TAGS:
        raise ValidationError("config.tags", f"Tags: at most {MAX_TAGS} allowed (got {len(tags)})")
    for key, value in tags.items():
        if not isinstance(key, str) or not 1 <= len(key) <= MAX_TAG_KEY:
            raise ValidationError(
                "config.tags", f"Tag key must be 1-{MAX_TAG_KEY} characters (got {key!r})"
            )
        if key.lower().startswith(RESERVED_TAG_PREFIXES):
            raise ValidationError(
                "config.tags",
                f"Tag key {key!r} uses a reserved prefix ({', '.join(RESERVED_TAG_PREFIXES)})",
            )
        bad = sorted(FORBIDDEN_TAG_KEY_CHARS.intersection(key))
        if bad:
            raise ValidationError(
                "config.tags",
                f"Tag key {key!r} must not contain any of <>%&\\?/ (found {''.join(bad)})",
            )
        if not isinstance(value, str) or len(value) > MAX_TAG_VALUE:
            raise ValidationError(
                "config.tags",
                f"Tag value for {key!r} must be a string of at most {MAX_TAG_VALUE} characters",
            )
    return dict(tags)


def _validate_purpose(purpose: str | None) -> str | None:
    if purpose is None:
        return None
    if not isinstance(purpose, str) or len(purpose) > MAX_PURPOSE:
        raise ValidationError(
            "purpose", f"Purpose must be text of at most {MAX_PURPOSE} characters"
        )
    if any(ord(ch) < 32 and ch != "\t" for ch in purpose):
        raise ValidationError("purpose", "Purpose must be one line without control characters")
    return purpose


def validate_ssh_key(key: str | None) -> tuple[str | None, str | None]:
    """Return (the key, its SHA256 fingerprint as ssh-keygen prints it)."""
    if key is None:
        return None, None
    text = key.strip()
    if "PRIVATE KEY" in text:
        raise ValidationError(
            "sshPublicKey",
            "SSH key must be a public key (this looks like a private key; never send it)",
        )
    parts = text.split()
    if len(parts) < 2 or parts[0] not in SSH_KEY_TYPES or "\n" in text:
        raise ValidationError(
            "sshPublicKey",
            "SSH key must be one OpenSSH public key line such as 'ssh-ed25519 AAAA... comment'",
        )
    try:
        blob = base64.b64decode(parts[1], validate=True)
    except (binascii.Error, ValueError):
        raise ValidationError("sshPublicKey", "SSH key must have valid base64 key data") from None
    embedded = _embedded_key_type(blob)
    if embedded != parts[0]:
        raise ValidationError("sshPublicKey", f"SSH key data does not match its type {parts[0]}")
    digest = base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    return text, f"SHA256:{digest}"


def _embedded_key_type(blob: bytes) -> str | None:
    if len(blob) < 4:
        return None
    length = int.from_bytes(blob[:4], "big")
    if length > len(blob) - 4:
        return None
    return blob[4 : 4 + length].decode("ascii", errors="replace")


def validate_cidrs(cidrs: tuple[str, ...] | list[str] | None) -> tuple[str, ...]:
    result = []
    for cidr in cidrs or ():
        try:
            result.append(str(ipaddress.ip_network(str(cidr).strip(), strict=False)))
        except ValueError:
            raise ValidationError(
                "allowedSshCidrs", f"Allowed SSH CIDR {cidr!r} is not a valid IPv4/IPv6 network"
            ) from None
    return tuple(dict.fromkeys(result))


def refuse_retired(itype: InstanceType, catalog: Catalog) -> None:
    """A retired type on a real engine: refused before anything is created, naming the
    replacement (Azure would refuse it only after the resource group exists)."""
    if not itype.retired:
        return
    replacement = catalog.replacement_for(itype.provider, itype.name)
    instead = f"use {replacement} instead" if replacement else "choose a current type"
    raise ValidationError(
        "config.instanceType",
        f"Instance type {itype.name} is retired and can no longer be created on {itype.provider}; "
        f"{instead} (or pass --allow-retired to try anyway)",
    )
