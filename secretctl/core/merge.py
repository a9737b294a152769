"""Three-way merges for the git merge drivers (pure core).

Values are compared as plaintexts (the caller decrypts; nothing here keeps them): a side that
only re-encrypted did not change the value. Sidecars merge field by field.
"""

from __future__ import annotations

from collections.abc import Mapping

from secretctl.core.frozen import frozen

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing and dataclasses cost every merge driver and hook ~15 ms: for mypy only
    from typing import Any, Literal

    ValueDecision = Literal["same", "ours", "theirs", "conflict", "deleted"]

_MISSING = object()


def decide_value_merge(base: bytes | None, ours: bytes | None, theirs: bytes | None) -> ValueDecision:
    """Which side's value wins. ``None`` means the side deleted (or never had) the secret."""
    import hmac

    def eq(a: bytes | None, b: bytes | None) -> bool:
        if a is None or b is None:
            return a is b
        return hmac.compare_digest(a, b)

    if eq(ours, theirs):
        return "deleted" if ours is None else "same"
    if eq(ours, base):
        return "deleted" if theirs is None else "theirs"
    if eq(theirs, base):
        return "deleted" if ours is None else "ours"
    return "conflict"


@frozen
class MergeResult:
    merged: dict[str, Any]
    conflicts: tuple[str, ...]


def merge_mappings(base: Mapping[str, Any] | None, ours: Mapping[str, Any], theirs: Mapping[str, Any],
                   *, prefer: str = "ours") -> MergeResult:
    """Field by field: a field changed on one side takes that side; changed the same way on both
    is fine; ``updated`` takes the later timestamp; ``tags`` merge as sets (additions from both,
    removals from either). Any other field changed differently on both sides is a conflict,
    resolved to ``prefer`` and named in ``conflicts``."""
    base = base or {}
    merged: dict[str, Any] = {}
    conflicts: list[str] = []
    for key in list(dict.fromkeys([*ours, *theirs, *base])):
        b, o, t = base.get(key, _MISSING), ours.get(key, _MISSING), theirs.get(key, _MISSING)
        if key == "updated":
            vals = [v for v in (o, t) if v is not _MISSING]
            if vals:
                merged[key] = max(vals, key=str)
            continue
        if key == "tags":
            bs = set(b) if isinstance(b, list) else set()
            os_ = set(o) if isinstance(o, list) else set()
            ts = set(t) if isinstance(t, list) else set()
            tags = sorted((os_ | ts) - ((bs - os_) | (bs - ts)))
            if tags:
                merged[key] = tags
            continue
        if o == t:
            value = o
        elif o == b:
            value = t
        elif t == b:
            value = o
        else:
            conflicts.append(key)
            value = o if prefer == "ours" else t
        if value is not _MISSING:
            merged[key] = value
    return MergeResult(merged, tuple(conflicts))
