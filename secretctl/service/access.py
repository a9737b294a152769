"""The per-member access log: records wait outside the work tree, then join the member's
hash-chained log in the next commit."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from secretctl.core import audit, faults
from secretctl.core.meta import format_time
from secretctl.errors import (
    SecretctlError,
)
from secretctl.infra import store
from secretctl.service import pending
from secretctl.service.base import AUDIT_DIR, VaultBase

TYPE_CHECKING = False  # typing costs every start ~3 ms to import: for mypy only

if TYPE_CHECKING:
    from typing import Any
    pass

class AccessLog(VaultBase):
    def invalidate(self) -> None:
        """Forget cached listings (after git changed the tree under us)."""
        self._keys_cache = None
        self._recipients_cache.clear()


    # ------------------------------------------------------------------ check
    def pending_log_path(self) -> Path:
        """Where access records wait for the next commit: inside the work tree's git dir, so
        `git status` stays clean."""
        return pending.pending_path(self.root)

    def spool_path(self) -> Path:
        """Where they wait instead when the vault cannot be written: in the user's data dir, named
        by the vault's real path."""
        return Path(pending.spool_file(str(self.root)))

    def pending_log_paths(self) -> list[Path]:
        """Every file holding records not yet committed (for `audit list`)."""
        return [p for p in (self.pending_log_path(), self.spool_path()) if p.exists()]

    def record_access(self, action: str, keys: Sequence[str], **details: Any) -> None:
        """Append an access record. It waits outside the work tree (so `git status` stays clean)
        and is moved into the member's log by the next commit (mutation or sync).

        A read-only vault (mount, checkout or permissions) still serves reads: the record waits
        in the user's data dir instead, until this user's next commit to the vault. If that
        cannot be written either, the access is refused (no record, no value)."""
        pending.append(str(self.root), pending.access_line(_fmt(self.clock()), self.actor, action, keys, **details))

    def _audit_head_trailers(self, log_paths: Sequence[str]) -> str:
        """``Secretctl-Audit-Head: FILE HASH`` per log: the chain's last line at this commit, so an
        edit of the last line (which no later line's hash covers) is detected too."""

        out = ""
        for rel in log_paths:
            lines = (self.root / rel).read_bytes().splitlines(keepends=True)
            if lines:
                out += f"\nSecretctl-Audit-Head: {rel} {audit.line_hash(lines[-1])}"
        return out

    def seal_access_log(self) -> None:
        """Chain the pending records into the member's log now, not at the next commit (an agent
        run's record is sealed before the agent sees the result). The log file is then committed
        by the next commit, as the records would have been."""
        with store.locked(self._lock_path(), what=f"the vault at {self.root}"):
            written = self._flush_pending()
            if written:
                marker = self._sealed_marker()
                known = set(marker.read_text().split()) if marker.exists() else set()
                # An agent's runs all seal the same log: it is named once, not rewritten (and synced) each run.
                if not known.issuperset(written):
                    store.atomic_write(marker, "\n".join(sorted(known | set(written))).encode() + b"\n", mode=0o600)

    def _sealed_marker(self) -> Path:
        return self.pending_log_path().parent / "audit-sealed"

    def _flush_access_log(self) -> list[str]:
        """The member logs a commit must carry: pending records moved into
        ``.secretctl/audit/<member>.jsonl`` (hash-chained) now, and logs sealed since the last commit.

        Records moved out of the pending log are final (a rolled-back or killed mutation never
        rolls them back): the marker names their log before they move, and until a commit has
        carried it (``_access_log_committed``)."""
        marker = self._sealed_marker()
        sealed = set(marker.read_text().split()) if marker.exists() else set()
        mine = f"{AUDIT_DIR}/{_safe_name(self.actor)}.jsonl"
        try:
            pending = any(os.stat(p).st_size > 0 for p in self.pending_log_paths())
        except OSError:
            pending = False
        if pending and mine not in sealed:
            sealed.add(mine)
            store.atomic_write(marker, "\n".join(sorted(sealed)).encode() + b"\n", mode=0o600)
        written = self._flush_pending()
        faults.point("audit.flushed")
        return sorted({*written, *(p for p in sealed if (self.root / p).is_file())})

    def _access_log_committed(self) -> None:
        """The commit carrying the sealed logs landed."""
        store.remove(self._sealed_marker())

    def sealed_logs(self) -> list[str]:
        """Member logs holding records that wait for the next commit (not a crash's leftover)."""
        marker = self._sealed_marker()
        return marker.read_text().split() if marker.exists() else []

    def log_digest(self, text: str) -> str:
        """What the access log keeps of an argument that held secret material: a keyed hash. The
        key comes from this member's identity file (never committed), so the log cannot be
        searched for guesses by anyone who only has the repository; the same text always gives
        the same digest for this member, so repeated probes are visible."""
        if self._log_key is None:
            self._log_key = pending.digest_key(str(self.identity_path))
        return pending.digest(self._log_key, text)

    def _flush_pending(self) -> list[str]:
        """Pending access records (in the git dir, and any spooled while the vault was read-only)
        moved into ``.secretctl/audit/<member>.jsonl`` (hash-chained), oldest first."""

        def append(contents: list[bytes]) -> list[str]:
            lines = [ln for raw in contents for ln in raw.splitlines() if ln.strip()]
            ordered: list[bytes] = sorted(lines, key=_record_time)
            return self._append_to_member_log(b"\n".join(ordered))

        # The pending files stay locked until their records are in the member's log.
        return store.drain_all_locked([self.pending_log_path(), self.spool_path()], append) or []

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


def _record_time(line: bytes) -> str:
    """A record's timestamp for ordering (ISO UTC text sorts as time); unreadable lines first,
    where the chain's parser skips them."""
    try:
        ts = json.loads(line).get("ts")
    except (ValueError, AttributeError):
        return ""
    return ts if isinstance(ts, str) else ""


def _safe_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in name) or "unknown"
