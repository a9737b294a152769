"""What the Vault's operations return: typed results, never values."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from secretctl.core.fields import FieldInput, schema_view
from secretctl.core.frozen import field, frozen, mutable, mutable_kw
from secretctl.core.meta import Meta, format_time
from secretctl.core.secret import Secret

TYPE_CHECKING = False  # typing costs every start ~3 ms to import: for mypy only
if TYPE_CHECKING:
    from typing import Any


@frozen
class Entry:
    """A secret as listing shows it: its key and (maybe absent) metadata, never a value."""

    key: str
    meta: Meta | None

    def to_json(self, now: datetime, *, detail: bool = False) -> dict[str, Any]:
        """The one JSON view of an entry, for `list --json`, `get --show-metadata` and the MCP
        tools alike. ``detail`` adds what only a person's `get --show-metadata` prints: notes,
        url, the recipients fingerprint, the field schema and the bindings (never a value)."""
        m = self.meta
        out: dict[str, Any] = {
            "key": self.key,
            "tags": list(m.tags) if m else [],
            "expires_at": format_time(m.expires) if m and m.expires else None,
            "expired": bool(m and m.expired(now)),
            "has_notes": bool(m and m.notes),
            "has_url": bool(m and m.url),
            "created_at": format_time(m.created) if m else None,
            "updated_at": format_time(m.updated) if m else None,
            "updated_by": m.updated_by if m else None,
            "fields": [f.name for f in m.fields] if m else [],
        }
        if detail and m is not None:
            out.update(notes=m.notes, url=m.url, recipients_fingerprint=m.recipients_fingerprint,
                       fields=[schema_view(f) for f in m.fields], bindings=dict(m.bindings))
        return out


@frozen
class ExpiryWarning:
    """A secret that has expired or expires soon, and what to tell about it."""

    key: str
    message: str


@mutable
class Outcome:
    """What a mutation did, for the front end to report: the keys it touched, its commit (None
    when nothing was committed) and, for a bulk command, the keys it skipped. An operation that
    reports more returns a subclass below with the fields a front end reads."""

    action: str
    keys: list[str] = field(default_factory=list)
    commit: str | None = None
    skipped: list[str] = field(default_factory=list)
    dry_run: bool = False  # import/reencrypt --dry-run: what would change, nothing written


@mutable_kw
class SetOutcome(Outcome):
    """`set`: whether the key was new (stored) or replaced (updated)."""

    created: bool


@mutable_kw
class InitOutcome(Outcome):
    """`init`: whether an existing passage store was adopted rather than a vault created."""

    adopted: bool


@mutable_kw
class MemberAdded(Outcome):
    """`member add`: who, and the folder (``/`` for the whole vault) they were added to."""

    member: str
    path: str


@mutable_kw
class MemberRemoved(Outcome):
    """`member remove`: who, and the keys they could decrypt until now (they may have copies)."""

    member: str
    could_read: list[str]


@mutable_kw
class PolicyCommitted(Outcome):
    """`policy commit`: the policy files committed (empty when they already matched HEAD)."""

    paths: list[str]


@frozen
class CheckProblem:
    """One problem `secretctl check` found: the path, the message and how bad it is."""

    path: str
    message: str
    severity: str = "error"  # "error" | "expired" | "warning"


@frozen
class SetRequest:
    """A value and metadata to store. ``fields`` non-empty makes it a multi-field secret."""

    value: Secret | None = None
    fields: Sequence[FieldInput] = ()  # every value goes to the .age file; the sidecar gets the schema
    bindings: Mapping[str, str] = field(default_factory=dict)
    expires: datetime | None = None
    notes: str | None = None
    url: str | None = None
    tags: Sequence[str] | None = None
