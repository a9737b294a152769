"""Access records waiting for the next commit, one JSON line each in
``.git/secretctl/audit-pending.jsonl`` (outside the work tree, so `git status` stays clean).

Its own small module: the Vault's access log and `get`'s start-up fast path through the unlock
agent (service/fastget.py) both write through it, so a record is the same whichever path wrote
it, and the fast path does not import the Vault to write one.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any


def pending_path(root: Path) -> Path:
    """In the work tree's own git dir: in a linked work tree (`git worktree add`) ``.git`` is a
    file naming it (the same answer as infra/gitrepo.git_dir, read here without importing it)."""
    dotgit = root / ".git"
    if dotgit.is_file():
        try:
            named = dotgit.read_text().strip().removeprefix("gitdir: ")
        except OSError:
            named = ""
        if named:
            gitdir = Path(named) if Path(named).is_absolute() else root / named
            return gitdir / "secretctl" / "audit-pending.jsonl"
    return dotgit / "secretctl" / "audit-pending.jsonl"


def format_ts(epoch: float) -> str:
    """A record's time as core.meta.format_time writes it (UTC, to the second), without datetime."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def encode(record: dict[str, Any]) -> bytes:
    return (json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n").encode()
