"""Tags as GCP labels: GCP allows far less in a label than AWS and Azure allow in a tag.

GCP's rules (cloud.google.com/compute/docs/labeling-resources): at most 64 labels; keys and
values at most 63 characters of lowercase letters, digits, `_` and `-` (international lowercase
letters are allowed too, but we keep to ASCII); a key starts with a lowercase letter; a value may
be empty. The mapping, applied to every key and value:

1. lowercase (ASCII and Unicode: `Team` -> `team`);
2. every character outside `[a-z0-9_-]` becomes `_` (`provisioner:user-id` -> `provisioner_user-id`,
   `2025-06-01T12:30:00Z` -> `2025-06-01t12_30_00z`);
3. a key that does not start with a letter is prefixed with `k` (`9lives` -> `k9lives`);
4. too long: cut to 56 characters plus `-` and 6 hex digits of the original's SHA-256, so two long
   texts that share a prefix stay distinct;
5. a user key that maps onto a key already taken (ours come first, then the user's in sorted order)
   gets the same hash suffix, so no tag silently overwrites another.

Pure Python, no pulumi: the engines and tests may use it directly.
"""

from __future__ import annotations

import hashlib
import re

MAX_LABELS = 64
MAX_LENGTH = 63
_SUFFIX_LENGTH = 6
_OUTSIDE = re.compile(r"[^a-z0-9_-]")


def _suffix(original: str) -> str:
    return hashlib.sha256(original.encode("utf-8")).hexdigest()[:_SUFFIX_LENGTH]


def _shorten(text: str, original: str, *, force_suffix: bool = False) -> str:
    if len(text) <= MAX_LENGTH and not force_suffix:
        return text
    keep = MAX_LENGTH - _SUFFIX_LENGTH - 1
    return f"{text[:keep]}-{_suffix(original)}"


def label_value(value: str) -> str:
    return _shorten(_OUTSIDE.sub("_", value.lower()), value)


def _key_text(key: str) -> str:
    text = _OUTSIDE.sub("_", key.lower())
    return text if text[:1].isalpha() else "k" + text


def label_key(key: str) -> str:
    return _shorten(_key_text(key), key)


def gcp_labels(ours: dict[str, str], users: dict[str, str]) -> dict[str, str]:
    """Labels for `ours` (the provisioner's tags, which win) and then `users` (user tags).

    Raises ValueError when there are more than GCP's 64 labels.
    """
    labels: dict[str, str] = {}
    for key, value in ours.items():
        labels[label_key(key)] = label_value(value)
    for key in sorted(users):
        mapped = label_key(key)
        if mapped in labels:
            mapped = _shorten(_key_text(key), key, force_suffix=True)
        labels[mapped] = label_value(users[key])
    if len(labels) > MAX_LABELS:
        raise ValueError(f"GCP allows at most {MAX_LABELS} labels; these tags make {len(labels)}")
    return labels
