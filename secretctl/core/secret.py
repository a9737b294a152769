"""The type plaintext travels in. Its ``repr`` and ``str`` are masked, so a value
cannot reach a log line, an f-string or a traceback's locals by accident; the
bytes come out only through the explicit ``reveal()``."""

from __future__ import annotations


def mask(value: bytes | str) -> str:
    """``****WXYZ``: the last four characters, all asterisks under 8 characters.

    Counts characters (not bytes) for text, so a UTF-8 value is not cut mid-rune;
    a value that is not UTF-8 is shown by its length alone.
    """
    if isinstance(value, bytes):
        try:
            text = value.decode("utf-8")
        except UnicodeDecodeError:
            return "*" * min(len(value), 8)
    else:
        text = value
    if len(text) < 8 or not text[-4:].isprintable():
        return "*" * min(len(text), 8)
    return "****" + text[-4:]


class Secret:
    """Plaintext bytes with a masked repr. Immutable; compare in constant time."""

    __slots__ = ("_value",)

    def __init__(self, value: bytes) -> None:
        if not isinstance(value, bytes):
            raise TypeError("Secret holds bytes")
        self._value = value

    def reveal(self) -> bytes:
        return self._value

    def reveal_text(self) -> str:
        """The value as text; undecodable bytes become U+FFFD (env vars must be text)."""
        return self._value.decode("utf-8", errors="replace")

    def masked(self) -> str:
        return mask(self._value)

    def __len__(self) -> int:
        return len(self._value)

    def __repr__(self) -> str:
        # The length only: even a masked tail (****WXYZ) is four characters an exception
        # message or a log line should never carry.
        return f"Secret(len={len(self._value)})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        import hmac  # lazily: it pulls in OpenSSL, ~2 ms of every command's start-up

        return hmac.compare_digest(self._value, other._value)

    def __hash__(self) -> int:
        # Hashing plaintext would make it recoverable from a dict's layout in a
        # core dump no more than the value itself is; but nothing needs it.
        raise TypeError("Secret is not hashable")

    def __reduce__(self) -> str | tuple[object, ...]:
        raise TypeError("Secret cannot be pickled")
