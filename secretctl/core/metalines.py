"""The line form of a sidecar without fields (pure core): what render_meta writes, read without
YAML. Its own module, apart from core/meta.py (dataclasses, datetime: ~10 ms of imports), so
`run`'s start-up fast path can tell a plain sidecar (no fields, no expiry) from any other.

The lines are `key: "text"`, `version: 1`, `tags:` and `- "tag"`, comments. A double-quoted
scalar without backslashes means its characters exactly, in YAML as in JSON. Anything else goes
to the YAML parser, so this is a shortcut to the same result (the tests compare both), 10x faster
for a 10,000-secret list.
"""

from __future__ import annotations

import re

TYPE_CHECKING = False
if TYPE_CHECKING:  # for mypy only (hyperscan loads typing on `run`'s path; not every command loads hyperscan)
    from typing import Any

# core/meta._TOP without fields, bindings and tags (tests/core/test_parsers_property.py checks).
FAST_KEYS = frozenset({"version", "created", "updated", "updated_by", "expires", "notes", "url",
                       "recipients_fingerprint"})
_FAST_LINE = re.compile(r'([a-z_]+): (?:"([ !#-\[\]-~]*)"|(0|[1-9][0-9]{0,5}))|(tags):|- "([ !#-\[\]-~]*)"|#[ -~]*')


def load_fast(data: bytes) -> dict[str, Any] | None:
    """The sidecar's mapping when it is in the line form; None: let YAML read it."""
    if not data.isascii():
        return None
    lines = data.decode("ascii").split("\n")
    if lines.pop() != "":
        return None  # no final newline
    out: dict[str, Any] = {}
    tags: list[str] | None = None  # the list a `tags:` line opened, while items may follow
    for line in lines:
        m = _FAST_LINE.fullmatch(line)
        if m is None:
            return None
        key, text, number, tags_key, item = m.groups()
        if item is not None:
            if tags is None:
                return None
            tags.append(item)
            continue
        if line[0] == "#":
            continue
        if tags == []:
            return None  # `tags:` with no items is null in YAML: let YAML say so
        tags = None
        name = key if key is not None else tags_key
        if (name not in FAST_KEYS and name != "tags") or name in out:
            return None
        if tags_key is not None:
            tags = out["tags"] = []
        else:
            out[name] = text if text is not None else int(number)
    if not out or tags == []:
        return None
    return out
