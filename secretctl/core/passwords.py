"""Random secrets (pure core; the randomness source is passed in)."""

from __future__ import annotations

import string
from typing import Protocol

from secretctl.core.secret import Secret
from secretctl.errors import UsageError

LOWER, UPPER, DIGITS = string.ascii_lowercase, string.ascii_uppercase, string.digits
# Symbols that survive shells, URLs in most positions, .env files and YAML without quoting surprises.
SYMBOLS = "!#%+,-.:=@^_~"
CHARSETS = {
    "full": LOWER + UPPER + DIGITS + SYMBOLS,
    "alnum": LOWER + UPPER + DIGITS,
    "hex": "0123456789abcdef",
    "digits": DIGITS,
}
MIN_LENGTH, MAX_LENGTH = 8, 4096


class Rng(Protocol):
    """``secrets.SystemRandom`` in production; tests pass a seeded ``random.Random``."""

    def randrange(self, start: int, stop: int | None = None, step: int = 1) -> int: ...


def generate(length: int, *, symbols: bool = True, charset: str | None = None, rng: Rng | None = None) -> Secret:
    """A uniformly random secret; with the default sets every character class appears once at least."""
    if not MIN_LENGTH <= length <= MAX_LENGTH:
        raise UsageError(f"length must be between {MIN_LENGTH} and {MAX_LENGTH}, not {length}")
    name = charset or ("full" if symbols else "alnum")
    if name not in CHARSETS:
        raise UsageError(f"unknown charset {name!r}", hint=f"use one of {', '.join(CHARSETS)}")
    alphabet = CHARSETS[name]
    if rng is None:
        import secrets

        source: Rng = secrets.SystemRandom()
    else:
        source = rng
    rb = source.randrange
    classes = [c for c in (LOWER, UPPER, DIGITS, SYMBOLS) if set(c) <= set(alphabet)] if name in ("full", "alnum") \
        else []
    # Rejection sampling keeps the distribution uniform over strings that contain every class.
    while True:
        chars = [alphabet[rb(len(alphabet))] for _ in range(length)]
        if all(any(ch in cls for ch in chars) for cls in classes):
            return Secret("".join(chars).encode())
