"""The frame a forked collector sends its parent for the all-values redactor (service/valuesfeed):
per key, the signature of its files and its redaction values, or "read it yourself".

A frame holds plaintext: it only ever crosses a pipe between the MCP server and its own forked
child (never a file, argv or log). Decoding is strict: a frame that does not parse to its end is
refused whole (the parent then reads every key itself).
"""

from __future__ import annotations

import struct

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

    Stat = tuple[int, int, int] | None
    Signature = tuple[Stat, Stat]
    # a key's signature, its sensitive values by label, its public field values
    Record = tuple[Signature, dict[str, bytes], list[bytes]]

_STAT = struct.Struct("<Bqqq")
_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_SKIPPED, _FED = 0, 1


class FrameError(ValueError):
    """A frame that does not parse (truncated, or a child that went wrong)."""


def encode(records: Iterable[tuple[str, Record | None]]) -> bytes:
    """One frame: each key with its record, or None for a key the parent must read itself."""
    out = bytearray()
    for key, rec in records:
        _text(out, key)
        if rec is None:
            out.append(_SKIPPED)
            continue
        out.append(_FED)
        sig, values, public = rec
        for st in sig:
            out += _STAT.pack(0, 0, 0, 0) if st is None else _STAT.pack(1, *st)
        out += _U32.pack(len(values))
        for label, value in values.items():
            _text(out, label)
            _blob(out, value)
        out += _U32.pack(len(public))
        for value in public:
            _blob(out, value)
    return bytes(out)


def decode(frame: bytes) -> dict[str, Record | None]:
    """The records of a frame by key (None: read that key yourself). FrameError if malformed."""
    out: dict[str, Record | None] = {}
    view = memoryview(frame)
    pos = 0
    try:
        while pos < len(view):
            key, pos = _take_text(view, pos)
            kind = view[pos]
            pos += 1
            if kind == _SKIPPED:
                out[key] = None
                continue
            if kind != _FED:
                raise FrameError("unknown record kind")
            stats: list[tuple[int, int, int] | None] = []
            for _ in range(2):
                flag, a, b, c = _STAT.unpack_from(view, pos)
                pos += _STAT.size
                stats.append((a, b, c) if flag else None)
            (n,) = _U32.unpack_from(view, pos)
            pos += 4
            values: dict[str, bytes] = {}
            for _ in range(n):
                label, pos = _take_text(view, pos)
                values[label], pos = _take_blob(view, pos)
            (n,) = _U32.unpack_from(view, pos)
            pos += 4
            public = []
            for _ in range(n):
                value, pos = _take_blob(view, pos)
                public.append(value)
            out[key] = ((stats[0], stats[1]), values, public)
    except (struct.error, IndexError, UnicodeDecodeError):
        raise FrameError("truncated or malformed frame") from None
    return out


def _text(out: bytearray, text: str) -> None:
    data = text.encode("utf-8", errors="surrogateescape")
    out += _U16.pack(len(data))
    out += data


def _blob(out: bytearray, data: bytes) -> None:
    out += _U32.pack(len(data))
    out += data


def _take_text(view: memoryview, pos: int) -> tuple[str, int]:
    (n,) = _U16.unpack_from(view, pos)
    pos += 2
    if pos + n > len(view):
        raise FrameError("truncated text")
    return bytes(view[pos:pos + n]).decode("utf-8", errors="surrogateescape"), pos + n


def _take_blob(view: memoryview, pos: int) -> tuple[bytes, int]:
    (n,) = _U32.unpack_from(view, pos)
    pos += 4
    if pos + n > len(view):
        raise FrameError("truncated value")
    return bytes(view[pos:pos + n]), pos + n
