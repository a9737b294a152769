"""The per-member access log: records wait outside the work tree, then join the member's
hash-chained log in the next commit."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from secretctl.core import audit
from secretctl.core.meta import format_time
from secretctl.errors import (
    SecretctlError,
)
from secretctl.infra import store
from secretctl.service.base import AUDIT_DIR, VaultBase

if TYPE_CHECKING:
    pass

class AccessLog(VaultBase):
    def invalidate(self) -> None:
        """Forget cached listings (after git changed the tree under us)."""
        self._keys_cache = None
        self._recipients_cache.clear()


    # ------------------------------------------------------------------ check
    def _pending_log(self) -> Path:
        return self.root / ".git" / "secretctl" / "audit-pending.jsonl"

    def record_access(self, action: str, keys: Sequence[str], **details: Any) -> None:
        """Append an access record. It waits outside the work tree (so `git status` stays clean)
        and is moved into the member's log by the next commit (mutation or sync)."""
        rec = {"ts": _fmt(self.clock()), "actor": self.actor, "action": action, "keys": list(keys), **details}
        line = json.dumps(rec, sort_keys=True, separators=(",", ":")) + "\n"
        store.append_locked(self._pending_log(), line.encode())

    def _audit_head_trailers(self, log_paths: Sequence[str]) -> str:
        """``Secretctl-Audit-Head: FILE HASH`` per log: the chain's last line at this commit, so an
        edit of the last line (which no later line's hash covers) is detected too."""

        out = ""
        for rel in log_paths:
            lines = (self.root / rel).read_bytes().splitlines(keepends=True)
            if lines:
                out += f"\nSecretctl-Audit-Head: {rel} {audit.line_hash(lines[-1])}"
        return out

    def _flush_access_log(self) -> list[str]:
        """Move pending access records into ``.secretctl/audit/<member>.jsonl`` (hash-chained)."""

        # The pending file stays locked until its records are in the member's log.
        return store.drain_locked(self._pending_log(), self._append_to_member_log) or []

    def _append_to_member_log(self, raw: bytes) -> list[str]:

        logpath = self.root / AUDIT_DIR / f"{_safe_name(self.actor)}.jsonl"
        existing = logpath.read_bytes() if logpath.exists() else b""
        prev = audit.line_hash(existing.splitlines(keepends=True)[-1]) if existing.strip() else audit.GENESIS
        out = bytearray(existing)
        for line in raw.splitlines():
            if not line.strip():
                continue
            try:
                rec = audit.record_from_json(json.loads(line))
            except (ValueError, SecretctlError):
                continue
            encoded = audit.encode_record(rec, prev)
            out += encoded
            prev = audit.line_hash(encoded)
        store.atomic_write(logpath, bytes(out))
        return [self.rel(logpath)]



def _fmt(t: datetime) -> str:

    return format_time(t)


def _safe_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in name) or "unknown"
