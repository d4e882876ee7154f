"""Input rules of #11: only key types both clouds accept, setup scripts, idle minutes."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from provisioner.config import Settings
from provisioner.rules.errors import ValidationError
from provisioner.rules.validation import (
    validate_idle_minutes,
    validate_setup_script,
    validate_ssh_key,
)


def _openssh(public_key) -> str:
    return public_key.public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    ).decode()


ED25519 = _openssh(ed25519.Ed25519PrivateKey.generate().public_key())
RSA_2048 = _openssh(rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key())
RSA_1024 = _openssh(rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key())
ECDSA = _openssh(ec.generate_private_key(ec.SECP256R1()).public_key())
# A FIDO key line as ssh-keygen -t ed25519-sk writes it (key data: type, key, application).
SK_ED25519 = (
    "sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29tAAAAIDhYw1yBWNp0pTMIB"
    "qcR0jrwW2wF8sZkOMoNhz81XfpOAAAABHNzaDo= user@host"
)


def test_ed25519_and_rsa_2048_pass_with_their_fingerprint():
    for key in (ED25519, RSA_2048):
        text, fingerprint = validate_ssh_key(key + " me@laptop")
        assert text.startswith(key.split()[0]) and fingerprint.startswith("SHA256:")


@pytest.mark.parametrize(
    ("key", "message"),
    [
        (
            ECDSA,
            "SSH key type ecdsa-sha2-nistp256 is not accepted: use ssh-ed25519 or ssh-rsa "
            "(>= 2048 bits), the types both clouds accept",
        ),
        (
            SK_ED25519,
            "SSH key type sk-ssh-ed25519@openssh.com is not accepted: use ssh-ed25519 or ssh-rsa "
            "(>= 2048 bits), the types both clouds accept",
        ),
        (RSA_1024, "SSH key ssh-rsa must have at least 2048 bits (got 1024)"),
    ],
)
def test_keys_the_clouds_refuse_are_refused_naming_the_rule(key, message):
    with pytest.raises(ValidationError) as caught:
        validate_ssh_key(key)
    assert caught.value.field == "sshPublicKey"
    assert caught.value.message == message


def test_setup_script_rules():
    assert validate_setup_script("#!/bin/sh\r\necho\tok\n") == "#!/bin/sh\r\necho\tok\n"
    assert validate_setup_script("x" * 16384) is not None
    cases = {
        "x" * 16385: "Setup script must be at most 16384 bytes (got 16385)",
        "é" * 8193: "Setup script must be at most 16384 bytes (got 16386)",
        "echo \x00": "Setup script must be text without control characters or bidi overrides "
        "(found U+0000)",
        "echo \x1b[31m": "Setup script must be text without control characters or bidi "
        "overrides (found U+001B)",
        "echo \u202e": "Setup script must be text without control characters or bidi overrides "
        "(found U+202E)",
        "echo \x85": "Setup script must be text without control characters or bidi overrides "
        "(found U+0085)",
        "  \n": "Setup script must not be empty",
    }
    for script, message in cases.items():
        with pytest.raises(ValidationError) as caught:
            validate_setup_script(script)
        assert caught.value.field == "config.setupScript"
        assert caught.value.message == message


def test_idle_minutes_rules():
    settings = Settings(hard_lifetime_minutes=240)
    assert validate_idle_minutes(None, settings) is None
    assert validate_idle_minutes(5, settings) == 5
    assert validate_idle_minutes(240, settings) == 240
    for bad in (4, 241, True, "10"):
        with pytest.raises(ValidationError) as caught:
            validate_idle_minutes(bad, settings)  # type: ignore[arg-type]
        assert caught.value.field == "config.idleMinutes"
        assert caught.value.message.startswith("Idle minutes must be between 5 and 240")
