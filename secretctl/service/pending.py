"""Access records waiting for the next commit, one JSON line each in
``.git/secretctl/audit-pending.jsonl`` (outside the work tree, so `git status` stays clean).

Its own small module: the Vault's access log and `get`'s start-up fast path through the unlock
agent (service/fastget.py) both write through it, so a record is the same whichever path wrote
it, and the fast path does not import the Vault to write one.
"""

from __future__ import annotations

import os
import time

from secretctl.core import jsonfast  # not json: its import of re costs `get`'s fast path ~9 ms
from secretctl.core.digest import sha256

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing and pathlib cost `get`'s fast path about 20 ms of imports: for mypy only
    from collections.abc import Sequence
    from pathlib import Path
    from typing import Any


def pending_path(root: Path) -> Path:
    """In the work tree's own git dir: in a linked work tree (`git worktree add`) ``.git`` is a
    file naming it (the same answer as infra/gitrepo.git_dir, read here without importing it)."""
    from pathlib import Path

    return Path(pending_file(str(root)))


def pending_file(root: str) -> str:
    """``pending_path`` with strings (`get`'s fast path: no pathlib)."""
    dotgit = os.path.join(root, ".git")
    if os.path.isfile(dotgit):
        try:
            with open(dotgit, encoding="utf-8") as fh:
                named = fh.read().strip().removeprefix("gitdir: ")
        except (OSError, ValueError):
            named = ""
        if named:
            gitdir = named if os.path.isabs(named) else os.path.join(root, named)
            return os.path.join(gitdir, "secretctl", "audit-pending.jsonl")
    return os.path.join(dotgit, "secretctl", "audit-pending.jsonl")


def format_ts(epoch: float) -> str:
    """A record's time as core.meta.format_time writes it (UTC, to the second), without datetime."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def encode(record: dict[str, Any]) -> bytes:
    return (jsonfast.dumps(record, sort_keys=True) + "\n").encode()


def access_line(ts: str, actor: str, action: str, keys: Sequence[str], **details: Any) -> bytes:
    """One access record, as every path writes it (the Vault's record_access and the start-up fast
    paths): the same fields, the same bytes."""
    return encode({"ts": ts, "actor": actor, "action": action, "keys": list(keys), **details})


def spool_file(root: str) -> str:
    """Where records wait instead when the vault cannot be written: in the user's data dir, named
    by the vault's real path."""
    from secretctl.infra import settings

    name = sha256(os.fsencode(os.path.realpath(root))).hexdigest()[:32]
    return os.path.join(settings.access_spool_dir(), f"{name}.jsonl")


def append(root: str, line: bytes) -> None:
    """Append a record to the pending log; when the vault cannot be written (a read-only mount or
    checkout), to the spool instead. Raises when neither can be written (no record: the caller
    must not release the value)."""
    from secretctl.errors import ReadOnlyError
    from secretctl.infra import store

    try:
        store.append_locked(pending_file(root), line)
    except ReadOnlyError:
        store.append_locked(spool_file(root), line)


def digest_key(identity: str) -> bytes:
    """The key of the access log's argument digests: derived from this member's identity file
    (never committed), so the log cannot be searched for guesses by anyone who only has the
    repository."""
    try:
        with open(identity, "rb") as fh:
            seed = fh.read()
    except OSError:
        seed = os.urandom(32)  # no identity file: digests are only comparable within this process
    return sha256(b"secretctl access-log key v1\0" + seed).digest()


def digest(key: bytes, text: str) -> str:
    """What the access log keeps of an argument that held secret material: a keyed hash; the same
    text always gives the same digest for this member, so repeated probes are visible."""
    import hashlib
    import hmac

    mac = hmac.new(key, text.encode("utf-8", errors="surrogateescape"), hashlib.sha256)
    return f"[hmac-sha256:{mac.hexdigest()[:16]}]"
