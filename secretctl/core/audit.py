"""The audit trail's formats (pure core): commit trailers and the hash-chained access log.

Access log: each member appends to their own ``.secretctl/audit/<member>.jsonl`` (one writer
per file, so it never conflicts). Each line is a JSON object (sorted keys, compact) whose
``prev`` is the SHA-256 of the previous line's bytes (64 zeros for the first), so an edited,
removed, reordered or inserted line breaks the chain. Records never hold a value: callers pass
keys and argv as the user wrote them (``$NAME`` unexpanded).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from secretctl.core.digest import sha256
from secretctl.core.frozen import frozen
from secretctl.errors import VaultCorruptError

TYPE_CHECKING = False  # typing costs every start ~3 ms to import: for mypy only
if TYPE_CHECKING:
    from typing import Any

GENESIS = "0" * 64
RECORD_VERSION = 1
MAX_LOG_BYTES = 256 * 1024 * 1024
MAX_LINE_BYTES = 64 * 1024
MAX_TRAILER_KEYS = 1000

TRAILER_ACTION = "Secretctl-Action"
TRAILER_KEY = "Secretctl-Key"
TRAILER_ACTOR = "Secretctl-Actor"
TRAILER_OMITTED = "Secretctl-Keys-Omitted"

_OPTIONAL = ("argv", "decision", "rule", "exit_code", "duration_ms", "reason", "tool", "field", "detail")
_ALLOWED = {"v", "ts", "actor", "action", "keys", "prev", *_OPTIONAL}


@frozen
class AuditRecord:
    """One access-log line: who did what to which keys, and when."""

    ts: str
    actor: str
    action: str
    keys: tuple[str, ...] = ()
    extra: tuple[tuple[str, Any], ...] = ()

    def to_data(self) -> dict[str, Any]:
        d: dict[str, Any] = {"v": RECORD_VERSION, "ts": self.ts, "actor": self.actor, "action": self.action,
                             "keys": list(self.keys)}
        d.update(self.extra)
        return d

    def get(self, name: str, default: Any = None) -> Any:
        return dict(self.extra).get(name, default)


def record_from_json(data: Mapping[str, Any], *, source: str = "record", line: int = 0) -> AuditRecord:
    where = f"{source}:{line}" if line else source
    if not isinstance(data, Mapping):
        raise VaultCorruptError(f"{where}: not a JSON object")
    unknown = set(data) - _ALLOWED
    if unknown:
        raise VaultCorruptError(f"{where}: unknown field {sorted(unknown)[0]!r}")
    for req in ("ts", "actor", "action"):
        if not isinstance(data.get(req), str):
            raise VaultCorruptError(f"{where}: field {req!r} missing or not text")
    keys = data.get("keys", [])
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise VaultCorruptError(f"{where}: keys must be a list of text")
    extra = tuple(sorted((k, _freeze(v)) for k, v in data.items() if k in _OPTIONAL and v is not None))
    return AuditRecord(data["ts"], data["actor"], data["action"], tuple(keys), extra)


def _freeze(v: Any) -> Any:
    return tuple(v) if isinstance(v, list) else v


def line_hash(line: bytes) -> str:
    return sha256(line.rstrip(b"\n")).hexdigest()


def encode_record(record: AuditRecord, prev_hash: str) -> bytes:
    data = record.to_data()
    data = {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}
    data["prev"] = prev_hash
    return (json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n").encode()


def _lines(data: bytes, source: str) -> list[bytes]:
    if len(data) > MAX_LOG_BYTES:
        raise VaultCorruptError(f"{source}: larger than {MAX_LOG_BYTES} bytes")
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return lines


def parse_log(data: bytes, *, source: str) -> list[AuditRecord]:
    out = []
    for n, line in enumerate(_lines(data, source), 1):
        if len(line) > MAX_LINE_BYTES:
            raise VaultCorruptError(f"{source}:{n}: line longer than {MAX_LINE_BYTES} bytes")
        try:
            raw = json.loads(line)
        except ValueError:
            raise VaultCorruptError(f"{source}:{n}: not valid JSON") from None
        out.append(record_from_json(raw, source=source, line=n))
    return out


def verify_chain(data: bytes, *, source: str) -> None:
    """Raise VaultCorruptError naming the first line whose ``prev`` does not match."""
    prev = GENESIS
    for n, line in enumerate(_lines(data, source), 1):
        try:
            raw = json.loads(line)
        except ValueError:
            raise VaultCorruptError(f"{source}:{n}: not valid JSON (the log was edited)") from None
        if not isinstance(raw, dict) or raw.get("prev") != prev:
            raise VaultCorruptError(f"{source}:{n}: hash chain broken (a line was edited, removed or reordered)",
                                    hint="inspect the file's history with git log -p")
        record_from_json(raw, source=source, line=n)
        prev = line_hash(line)


@frozen
class Trailers:
    """The Secretctl-* trailers of a commit message."""

    action: str
    keys: tuple[str, ...]
    actor: str
    omitted: int = 0


def format_trailers(action: str, keys: Sequence[str], actor: str) -> str:
    lines = [f"{TRAILER_ACTION}: {action}"]
    lines += [f"{TRAILER_KEY}: {k}" for k in keys[:MAX_TRAILER_KEYS]]
    if len(keys) > MAX_TRAILER_KEYS:
        lines.append(f"{TRAILER_OMITTED}: {len(keys) - MAX_TRAILER_KEYS}")
    lines.append(f"{TRAILER_ACTOR}: {' '.join(actor.split())}")
    return "\n".join(lines)


def parse_trailers(message: str) -> Trailers | None:
    """The secretctl trailers of a commit message, or None for a commit made by hand."""
    action = actor = None
    keys: list[str] = []
    omitted = 0
    for line in message.splitlines():
        name, sep, value = line.partition(": ")
        if not sep:
            continue
        if name == TRAILER_ACTION:
            action = value.strip()
        elif name == TRAILER_KEY:
            keys.append(value.strip())
        elif name == TRAILER_ACTOR:
            actor = value.strip()
        elif name == TRAILER_OMITTED and value.strip().isdigit():
            omitted = int(value.strip())
    if action is None or actor is None:
        return None
    return Trailers(action, tuple(keys), actor, omitted)
