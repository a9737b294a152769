"""What a range of commits did to the vault (pure core), for `sync`'s report both ways.

Added, changed and removed come from each commit's diff (the status git gives every ``.age``
file: A, M, D), never from its subject: a new key whose name contains "update" is still added.
The trailers say who did it and which commits were moves and member changes. The net effect
over the range is reported: a key added then changed is added, added then removed is nothing.
"""

from __future__ import annotations

from secretctl.core.audit import parse_trailers
from secretctl.core.frozen import field, mutable
from secretctl.core.keys import SECRET_SUFFIX, key_from_path

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs every start ~3 ms to import: for mypy only
    from typing import Any

# `git log --reverse --no-renames --name-status --format=LOG_FORMAT RANGE` prints what parse_log reads.
LOG_FORMAT = "%x1e%H%x00%an%x00%B%x00"


@mutable
class Changes:
    commits: int = 0
    added: dict[str, str] = field(default_factory=dict)  # key -> who
    changed: dict[str, str] = field(default_factory=dict)
    removed: dict[str, str] = field(default_factory=dict)
    moved: dict[str, str] = field(default_factory=dict)  # old key -> new key
    members: list[str] = field(default_factory=list)
    rotate: list[str] = field(default_factory=list)  # readable by a member who was removed

    @property
    def keys(self) -> list[str]:
        return sorted({*self.added, *self.changed, *self.removed, *self.moved.values()})

    def to_json(self) -> dict[str, Any]:
        return {"commits": self.commits, "added": self.added, "changed": self.changed, "removed": self.removed,
                "moved": self.moved, "members": self.members, "rotate": self.rotate}

    # ------------------------------------------------------------- one file
    def _add(self, key: str, who: str) -> None:
        if key in self.removed:
            del self.removed[key]
            self.changed[key] = who
        else:
            self.added[key] = who

    def _change(self, key: str, who: str) -> None:
        if key not in self.added:
            self.changed[key] = who

    def _remove(self, key: str, who: str) -> None:
        if self.added.pop(key, None) is not None:
            return
        self.changed.pop(key, None)
        origin = next((o for o, n in self.moved.items() if n == key), None)
        if origin is not None:
            del self.moved[origin]
            key = origin
        self.removed[key] = who

    def _move(self, old: str, new: str, who: str) -> None:
        if old in self.added:
            del self.added[old]
            self.added[new] = who
            return
        if old in self.changed:
            self.changed[new] = self.changed.pop(old)
        origin = next((o for o, n in self.moved.items() if n == old), old)
        self.moved.pop(origin, None)
        if origin != new:
            self.moved[origin] = new


def parse_log(text: str) -> Changes:
    """The net changes of a ``git log`` printed with LOG_FORMAT, oldest first."""
    out = Changes()
    for entry in text.split("\x1e"):
        if not entry.strip():
            continue
        parts = entry.split("\x00", 3)
        if len(parts) != 4:
            continue
        _sha, author, body, files = parts
        out.commits += 1
        t = parse_trailers(body)
        who = t.actor.split(" <")[0] if t is not None else author
        statuses = _statuses(files)
        if t is not None and t.action == "move" and len(t.keys) == 2:
            old, new = t.keys
            out._move(old, new, who)
            statuses = {k: s for k, s in statuses.items() if k not in (old, new)}
        for key, status in statuses.items():
            {"A": out._add, "M": out._change, "D": out._remove}.get(status, out._change)(key, who)
        if t is not None and t.action.startswith("member"):
            out.members.append(body.split("\n", 1)[0].removeprefix("secretctl: "))
            if t.action == "member-remove":
                out.rotate += [k for k in t.keys if k not in out.rotate]
    return out


def _statuses(files: str) -> dict[str, str]:
    """``A\\tpath`` lines -> {key: status} for secret files only (sidecars follow their secret)."""
    out: dict[str, str] = {}
    for line in files.split("\n"):
        status, _, path = line.partition("\t")
        if not path.endswith(SECRET_SUFFIX):
            continue
        key = key_from_path(path)
        if key is not None:
            out[key] = status[:1]
    return out
