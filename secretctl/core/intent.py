"""The intent journal's records (pure core): what an interrupted mutation was doing.

A mutation writes its intent before it touches the work tree: the operation, the HEAD it
started from, and every vault file it may change. The journal is a file of JSON lines, only
ever appended to, each line fsynced before the files it names are touched:

    {"v": 1, "op": "import", "head": "1a2b...", "pid": 4242, "started": "2026-11-30T02:00:00Z"}
    {"paths": ["aws/key.age", "aws/key.meta.yaml"]}

A crash while a line is being appended leaves that last line torn; it named nothing touched
yet (the files are touched only after the line is durable), so the parser drops it. Any other
damage is an error: recovery then refuses to guess.

The parser treats the file as hostile input (whoever can write ``.git/`` can write it): only
vault files may be named (``*.age``, ``*.meta.yaml``, ``.age-recipients``, files under
``.secretctl/audit/``), never a path that leaves the vault or enters ``.git``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

from secretctl.core.frozen import frozen
from secretctl.errors import VaultCorruptError

VERSION = 1
MAX_JOURNAL_BYTES = 64 * 1024 * 1024  # 20,000 secrets name 40,000 paths: about 1.5 MB
_OP = re.compile(r"[a-z][a-z-]{0,31}")
_HEAD = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_SEGMENT = re.compile(r"[A-Za-z0-9._-]{1,255}")
AUDIT_DIR = ".secretctl/audit"  # service/base.AUDIT_DIR (tests/core/test_intent.py keeps them equal)
_AUDIT_DIR = AUDIT_DIR + "/"


@frozen
class Intent:
    """What a mutation's journal says: the operation, the HEAD it started from, its process, the paths."""

    op: str
    head: str | None
    pid: int
    started: str
    paths: tuple[str, ...] = ()


def header_line(op: str, head: str | None, pid: int, started: str) -> bytes:
    check_op(op)
    if head is not None and not _HEAD.fullmatch(head):
        raise ValueError("head must be a commit id")
    return _line({"v": VERSION, "op": op, "head": head, "pid": pid, "started": started})


def paths_line(paths: Iterable[str]) -> bytes:
    out = list(paths)
    for p in out:
        check_path(p)
    return _line({"paths": out})


def _line(obj: object) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=True).encode() + b"\n"


def check_op(op: str) -> str:
    if not _OP.fullmatch(op):
        raise ValueError(f"bad operation name {op!r}")
    return op


def path_ok(path: str) -> bool:
    """Whether ``path`` is a vault file a mutation may change (and so recovery may restore or remove)."""
    if not isinstance(path, str) or len(path) > 4096:
        return False
    segments = path.split("/")
    if not all(_SEGMENT.fullmatch(s) and s not in (".", "..") for s in segments):
        return False
    if any(s.lower() == ".git" for s in segments):
        return False
    if path.startswith(_AUDIT_DIR):
        return len(segments) == 3 and segments[2].endswith(".jsonl") and not segments[2].startswith(".")
    if segments[0] == ".secretctl":
        return False
    name = segments[-1]
    if name == ".age-recipients":
        return all(not s.startswith(".") for s in segments[:-1])
    return (not any(s.startswith(".") for s in segments)
            and (name.endswith(".age") or name.endswith(".meta.yaml"))
            and name not in (".age", ".meta.yaml"))


def check_path(path: str) -> str:
    if not path_ok(path):
        raise ValueError(f"not a vault file: {path!r}")
    return path


def parse(data: bytes, *, source: str) -> Intent | None:
    """The intent recorded in ``data``; None when even the header line never became durable
    (nothing was touched). A torn last line is dropped; anything else malformed is an error."""
    if len(data) > MAX_JOURNAL_BYTES:
        raise VaultCorruptError(f"{source}: larger than {MAX_JOURNAL_BYTES} bytes")
    lines = data.split(b"\n")
    # The text after the last newline is a torn append (or empty): the files it would have named
    # were never touched.
    complete = lines[:-1]
    if not complete:
        return None
    header = _load(complete[0], source, 1)
    if not isinstance(header, dict) or set(header) != {"v", "op", "head", "pid", "started"}:
        raise VaultCorruptError(f"{source}:1: not an intent header")
    if header["v"] != VERSION:
        raise VaultCorruptError(f"{source}:1: journal version {header['v']!r} is not supported",
                                hint="finish it with the secretctl version that started it")
    op, head, pid, started = header["op"], header["head"], header["pid"], header["started"]
    if not isinstance(op, str) or not _OP.fullmatch(op):
        raise VaultCorruptError(f"{source}:1: bad operation name")
    if head is not None and not (isinstance(head, str) and _HEAD.fullmatch(head)):
        raise VaultCorruptError(f"{source}:1: bad head")
    if type(pid) is not int or pid < 0 or not isinstance(started, str) or len(started) > 64:
        raise VaultCorruptError(f"{source}:1: bad pid or start time")
    paths: list[str] = []
    seen: set[str] = set()
    for n, raw in enumerate(complete[1:], start=2):
        rec = _load(raw, source, n)
        if isinstance(rec, dict) and set(rec) == {"paths"} and isinstance(rec["paths"], list):
            for p in rec["paths"]:
                if not isinstance(p, str) or not path_ok(p):
                    raise VaultCorruptError(f"{source}:{n}: names a file outside the vault's own files")
                if p not in seen:
                    seen.add(p)
                    paths.append(p)
        else:
            raise VaultCorruptError(f"{source}:{n}: not an intent record")
    return Intent(op, head, pid, started, tuple(paths))


def _load(raw: bytes, source: str, n: int) -> object:
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        raise VaultCorruptError(f"{source}:{n}: not JSON",
                                hint="an interrupted command's journal is damaged; see docs/cli.md") from None
