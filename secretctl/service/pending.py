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

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing and pathlib cost `get`'s fast path about 20 ms of imports: for mypy only
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
