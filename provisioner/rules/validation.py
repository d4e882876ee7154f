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
from provisioner.rules.errors import ValidationError, shown
from provisioner.rules.suggest import did_you_mean
from provisioner.rules.text import unsafe_character

ID_PATTERN = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
MIN_DISK_GB, MAX_DISK_GB = 30, 4096
MAX_TAGS, MAX_TAG_KEY, MAX_TAG_VALUE, MAX_PURPOSE = 40, 128, 256, 256
RESERVED_TAG_PREFIXES = ("aws:", "provisioner:", "azure", "microsoft", "windows")
FORBIDDEN_TAG_KEY_CHARS = set("<>%&\\?/")
DEFAULT_REGIONS = {"AWS": "us-east-1", "AZURE": "eastus", "GCP": "us-central1"}
# Only what both clouds accept: EC2 key pairs take ed25519 and RSA, Azure Linux VMs RSA (>= 2048
# bits) and ed25519. ECDSA and FIDO (sk-*) keys would pass here and fail at the cloud after
# resources exist, so they are refused up front.
SSH_KEY_TYPES = ("ssh-ed25519", "ssh-rsa")
MIN_RSA_BITS = 2048
MAX_SETUP_SCRIPT_BYTES = 16 * 1024
MIN_IDLE_MINUTES = 5
# Bidi overrides/isolates: text that reads differently from what runs (Trojan Source).
_BIDI = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


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
    # Capacity (#12): alternatives to fail over across, a GPU spec instead of a type, spot.
    instance_types: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    zone: str | None = None
    gpu: str | None = None
    min_gpu_memory_gb: int | None = None
    min_vcpus: int | None = None
    max_price: float | None = None
    spot: bool = False
    max_attempts: int | None = None
    recover: bool = False
    setup_script: str | None = None
    idle_minutes: int | None = None
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
    setup_script: str | None = None
    idle_minutes: int | None = None


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
        setup_script=validate_setup_script(request.setup_script),
        idle_minutes=validate_idle_minutes(request.idle_minutes, settings),
    )


def validate_provider(value: str | None) -> str:
    text = value or ""
    provider = text.upper() if text.isascii() else ""  # exactly what the OpenAPI pattern says
    if provider not in PROVIDERS:
        raise ValidationError(
            "config.provider", f"Provider must be AWS, AZURE or GCP (got {shown(value)})"
        )
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
        f"Instance type {shown(name)} is not in the {provider} catalog"
        f"{did_you_mean(name, (t.name for t in catalog.for_provider(provider)))}; "
        f"see `provisioner types --provider {provider.lower()}`",
    )


def _validate_region(itype: InstanceType, region: str | None) -> str:
    if region is None or region == "":
        default = DEFAULT_REGIONS[itype.provider]
        return default if default in itype.regions else itype.regions[0]
    normalized = region.lower() if region.isascii() else ""
    if normalized not in itype.regions:
        raise ValidationError(
            "config.region",
            f"Region {shown(region)} is not offered for {itype.name} on {itype.provider}"
            f"{did_you_mean(region, itype.regions)}; choose one of {', '.join(itype.regions)}",
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
            f"Disk size must be between {MIN_DISK_GB} and {MAX_DISK_GB} GB (got {shown(value)})",
        )
    return disk


# Google's Deep Learning VM images (stacks/gcp.py's default family) are 50 GB: Compute Engine
# refuses a smaller boot disk at create (#25), after the network is made.
GCP_DLVM_DISK_GB = 50


def _check_image_fits(catalog: Catalog, itype: InstanceType, disk: int, settings: Settings) -> None:
    """Azure's OS disk and GCP's boot disk are the requested disk and may not be smaller than
    the image (AWS keeps the image's root and adds the request as a data disk, so any size fits
    there). An image of one's own (PROVISIONER_AZURE_IMAGE / _GCP_IMAGE) is not checked."""
    if itype.provider == "GCP" and not settings.gcp_image and disk < GCP_DLVM_DISK_GB:
        raise ValidationError(
            "config.diskSizeGB",
            f"Disk size must be at least {GCP_DLVM_DISK_GB} GB for {itype.name}: its image, "
            f"Google's Deep Learning VM, has a {GCP_DLVM_DISK_GB} GB disk (got {disk})",
        )
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
            f"Auto-terminate must be between {low} and {high} minutes (got {shown(value)}); "
            f"the bounds are PROVISIONER_MIN_TTL_MINUTES / PROVISIONER_MAX_TTL_MINUTES (within "
            f"PROVISIONER_HARD_LIFETIME_MINUTES, now {settings.hard_lifetime_minutes})",
        )
    return ttl


def check_text(field_name: str, label: str, value: str) -> str:
    bad = unsafe_character(value)
    if bad is not None:
        raise ValidationError(
            field_name,
            f"{label} must be one line without control characters, bidi controls or lone "
            f"surrogates (found {bad})",
        )
    return value


def validate_id(field_name: str, label: str, value: str | None) -> str:
    if isinstance(value, str):
        check_text(field_name, label, value)
    if not isinstance(value, str) or not ID_PATTERN.fullmatch(value):
        raise ValidationError(
            field_name, f"{label} must be 1-64 characters of A-Z a-z 0-9 . _ - (got {shown(value)})"
        )
    return value


def validate_tags(tags: dict[str, str] | None) -> dict[str, str]:
    tags = tags or {}
    if not isinstance(tags, dict):
        raise ValidationError("config.tags", "Tags must be an object of string keys and values")
    if len(tags) > MAX_TAGS:
        raise ValidationError("config.tags", f"Tags: at most {MAX_TAGS} allowed (got {len(tags)})")
    for key, value in tags.items():
        if isinstance(key, str):
            check_text("config.tags", "Tag key", key)
        if isinstance(value, str):
            check_text("config.tags", f"Tag value for {shown(key)}", value)
        if not isinstance(key, str) or not 1 <= len(key) <= MAX_TAG_KEY:
            raise ValidationError(
                "config.tags", f"Tag key must be 1-{MAX_TAG_KEY} characters (got {shown(key)})"
            )
        if key.lower().startswith(RESERVED_TAG_PREFIXES):
            raise ValidationError(
                "config.tags",
                f"Tag key {shown(key)} uses a reserved prefix ({', '.join(RESERVED_TAG_PREFIXES)})",
            )
        bad = sorted(FORBIDDEN_TAG_KEY_CHARS.intersection(key))
        if bad:
            raise ValidationError(
                "config.tags",
                f"Tag key {shown(key)} must not contain any of <>%&\\?/ (found {''.join(bad)})",
            )
        if not isinstance(value, str) or len(value) > MAX_TAG_VALUE:
            raise ValidationError(
                "config.tags",
                f"Tag value for {shown(key)} must be a string of at most {MAX_TAG_VALUE} "
                "characters",
            )
    return dict(tags)


def _validate_purpose(purpose: str | None) -> str | None:
    if purpose is None:
        return None
    if not isinstance(purpose, str) or len(purpose) > MAX_PURPOSE:
        raise ValidationError(
            "purpose", f"Purpose must be text of at most {MAX_PURPOSE} characters"
        )
    return check_text("purpose", "Purpose", purpose)


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
    known_family = bool(parts) and parts[0].startswith(("ssh-", "ecdsa-", "sk-"))
    if len(parts) < 2 or "\n" in text or not known_family:
        raise ValidationError(
            "sshPublicKey",
            "SSH key must be one OpenSSH public key line such as 'ssh-ed25519 AAAA... comment'",
        )
    if not all(" " <= c <= "~" for c in text):  # NUL, ESC, CR... would reach the cloud's key
        raise ValidationError(
            "sshPublicKey",
            "SSH key must be printable ASCII: its comment holds a control or non-ASCII character",
        )
    if parts[0] not in SSH_KEY_TYPES:
        raise ValidationError(
            "sshPublicKey",
            f"SSH key type {parts[0][:40]} is not accepted: use ssh-ed25519 or ssh-rsa "
            f"(>= {MIN_RSA_BITS} bits), the types both clouds accept",
        )
    try:
        blob = base64.b64decode(parts[1], validate=True)
    except (binascii.Error, ValueError):
        raise ValidationError("sshPublicKey", "SSH key must have valid base64 key data") from None
    embedded = _embedded_key_type(blob)
    if embedded != parts[0]:
        raise ValidationError("sshPublicKey", f"SSH key data does not match its type {parts[0]}")
    if embedded == "ssh-rsa":
        bits = _rsa_bits(blob)
        if bits < MIN_RSA_BITS:
            raise ValidationError(
                "sshPublicKey",
                f"SSH key ssh-rsa must have at least {MIN_RSA_BITS} bits (got {bits})",
            )
    digest = base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    return text, f"SHA256:{digest}"


def _embedded_key_type(blob: bytes) -> str | None:
    if len(blob) < 4:
        return None
    length = int.from_bytes(blob[:4], "big")
    if length > len(blob) - 4:
        return None
    return blob[4 : 4 + length].decode("ascii", errors="replace")


def _rsa_bits(blob: bytes) -> int:
    """The modulus size of an OpenSSH ssh-rsa blob: string type, mpint e, mpint n."""
    fields: list[bytes] = []
    offset = 0
    for _ in range(3):
        if offset + 4 > len(blob):
            return 0
        length = int.from_bytes(blob[offset : offset + 4], "big")
        fields.append(blob[offset + 4 : offset + 4 + length])
        offset += 4 + length
    return int.from_bytes(fields[2], "big").bit_length()


def validate_setup_script(script: str | None) -> str | None:
    """A first-boot script: text of at most 16 KiB, without control characters (tab, newline and
    carriage return aside), C1 codes or bidi overrides."""
    if script is None:
        return None
    if not isinstance(script, str):
        raise ValidationError("config.setupScript", "Setup script must be text")
    size = len(script.encode("utf-8", errors="replace"))
    if size > MAX_SETUP_SCRIPT_BYTES:
        raise ValidationError(
            "config.setupScript",
            f"Setup script must be at most {MAX_SETUP_SCRIPT_BYTES} bytes (got {size})",
        )
    for ch in script:
        code = ord(ch)
        if (code < 32 and ch not in "\t\n\r") or 0x7F <= code <= 0x9F or ch in _BIDI:
            raise ValidationError(
                "config.setupScript",
                f"Setup script must be text without control characters or bidi overrides "
                f"(found U+{code:04X})",
            )
    if not script.strip():
        raise ValidationError("config.setupScript", "Setup script must not be empty")
    return script


def validate_idle_minutes(value: int | None, settings: Settings) -> int | None:
    if value is None:
        return None
    high = settings.hard_lifetime_minutes
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or not MIN_IDLE_MINUTES <= value <= high
    ):
        raise ValidationError(
            "config.idleMinutes",
            f"Idle minutes must be between {MIN_IDLE_MINUTES} and {high} (got {value})",
        )
    return value


def validate_cidrs(cidrs: tuple[str, ...] | list[str] | None) -> tuple[str, ...]:
    result = []
    for cidr in cidrs or ():
        try:
            result.append(str(ipaddress.ip_network(str(cidr).strip(), strict=False)))
        except ValueError:
            raise ValidationError(
                "allowedSshCidrs",
                f"Allowed SSH CIDR {shown(cidr)} is not a valid IPv4/IPv6 network",
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
