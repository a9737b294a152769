"""What git tells a pre-push hook (pure core): one line per ref on stdin,
``<local ref> <local object> <remote ref> <remote object>`` (githooks(5)).

An all-zeros local object is a deletion (nothing is sent, nothing to check); an all-zeros remote
object is a new ref on the remote (everything not already on a remote is sent).
"""

from __future__ import annotations

import re

from secretctl.core.frozen import frozen
from secretctl.errors import UsageError

_OID = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")  # SHA-1 or SHA-256 repositories
MAX_LINES = 10_000  # a push of more refs than this is not a vault's
MAX_REF = 1024


@frozen
class RefUpdate:
    local_ref: str
    local_oid: str
    remote_ref: str
    remote_oid: str

    @property
    def is_deletion(self) -> bool:
        return set(self.local_oid) == {"0"}

    @property
    def is_new(self) -> bool:
        return set(self.remote_oid) == {"0"}


def parse_push_lines(text: str) -> list[RefUpdate]:
    """The ref updates git passes a pre-push hook; a malformed line is an error naming it."""
    out: list[RefUpdate] = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        if n > MAX_LINES:
            raise UsageError(f"pre-push input: more than {MAX_LINES} lines")
        # Ref names cannot hold spaces (git check-ref-format), so four fields split cleanly.
        parts = line.split()
        if len(parts) != 4:
            raise UsageError(f"pre-push input line {n}: expected 4 fields, got {len(parts)}",
                             hint="git passes '<local ref> <local sha> <remote ref> <remote sha>' per line")
        local_ref, local_oid, remote_ref, remote_oid = parts
        for what, oid in (("local", local_oid), ("remote", remote_oid)):
            if not _OID.fullmatch(oid):
                raise UsageError(f"pre-push input line {n}: the {what} object is not a hex object id")
        if len(local_oid) != len(remote_oid):
            raise UsageError(f"pre-push input line {n}: object ids of different lengths")
        if len(local_ref) > MAX_REF or len(remote_ref) > MAX_REF:
            raise UsageError(f"pre-push input line {n}: ref name longer than {MAX_REF} characters")
        out.append(RefUpdate(local_ref, local_oid, remote_ref, remote_oid))
    return out
