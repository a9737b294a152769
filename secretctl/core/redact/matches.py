"""What a scan found, and how found spans become markers: shared by the redactor and its stream
(kept apart so that neither imports the other at run time)."""

from __future__ import annotations

from secretctl.core.frozen import frozen
from secretctl.core.redact.detectors import CREDENTIAL


@frozen
class Match:
    start: int
    end: int
    label: str
    form: str
    view: str = "raw"


def apply(data: bytes, matches: list[Match], named: frozenset[str] | None = None) -> bytes:
    """``data`` with each match replaced by its marker. A secret not in ``named`` (when given) gets
    the generic ``[REDACTED]``: a marker must not name a secret the reader was not given."""
    if not matches:
        return data
    pieces = []
    last = 0
    for m in matches:
        pieces.append(data[last : m.start])
        shown = m.label == CREDENTIAL or named is None or m.label.split(":")[0] in named
        pieces.append(f"[REDACTED:{m.label}]".encode() if shown else b"[REDACTED]")
        last = m.end
    pieces.append(data[last:])
    return b"".join(pieces)
