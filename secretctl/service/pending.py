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
    dotgit = root / ".git"
    if not dotgit.is_dir():  # a linked git worktree: `.git` is a file naming its own git dir
        from secretctl.infra import gitrepo

        return gitrepo.git_dir(root) / "secretctl" / "audit-pending.jsonl"
    return dotgit / "secretctl" / "audit-pending.jsonl"


def format_ts(epoch: float) -> str:
    """A record's time as core.meta.format_time writes it (UTC, to the second), without datetime."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def encode(record: dict[str, Any]) -> bytes:
    return (json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n").encode()
