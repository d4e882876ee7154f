"""Characters no free-text field takes and no terminal is sent raw. Pure: no I/O."""

from __future__ import annotations

import unicodedata

# Unicode bidi embeddings/overrides (U+202A..U+202E), isolates (U+2066..U+2069) and marks.
BIDI_CONTROLS = frozenset(
    "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
)


def is_unsafe(ch: str) -> bool:
    """C0/C1 controls and DEL (category Cc), bidi controls, lone UTF-16 surrogates (Cs)."""
    return ch in BIDI_CONTROLS or unicodedata.category(ch) in ("Cc", "Cs")


def unsafe_character(text: str) -> str | None:
    """The first unsafe character of `text`, as U+XXXX, or None."""
    for ch in text:
        if is_unsafe(ch):
            return f"U+{ord(ch):04X}"
    return None


def inert(value: object) -> str:
    """`value` as text that is safe to print: unsafe characters shown as escapes (\\x1b)."""
    text = str(value)
    if not any(is_unsafe(ch) for ch in text):
        return text
    return "".join(ascii(ch)[1:-1] if is_unsafe(ch) else ch for ch in text)
