"""What `secretctl get` prints, without Typer: called by the Typer command and by the start-up
fast path in ``cli/main.py`` alike, so both print exactly the same."""

from __future__ import annotations

import sys
from typing import Any

from secretctl.cli.common import emit_json, open_vault, print_warnings, stdout_is_tty, warn


def show_secret(key: str, *, masked: bool = False, show_metadata: bool = False, field: str | None = None,
                json_out: bool = False) -> None:
    """Print a secret's value exactly (a newline is added only on a terminal)."""
    v = open_vault()
    if show_metadata:
        entry = v.entry(key)
        print_warnings(v, [key])
        data = entry.to_json(v.clock(), detail=True)
        if json_out:
            emit_json(data)
        else:
            for k, val in data.items():
                if val not in (None, [], {}, ""):
                    sys.stdout.write(f"{k}: {val}\n")
        return
    if masked and field is None and _multifield(v, key):
        _show_masked_fields(v, key, json_out)
        return
    value = v.value_of(key, field) if masked else v.reveal(key, field=field)
    print_warnings(v, [key])
    _warn_conflict(v, key)
    if json_out:
        from secretctl.service import mask

        if masked:
            emit_json({"key": key, "masked_value": mask(value.reveal()), "value_length": len(value)})
        else:
            emit_json({"key": key, "value": value.reveal_text()})
        return
    if masked:
        sys.stdout.write(value.masked() + "\n")
        return
    out = sys.stdout.buffer
    out.write(value.reveal())
    if stdout_is_tty():
        out.write(b"\n")
    out.flush()


def _multifield(v: Any, key: str) -> bool:
    meta = v.meta(key)
    return meta is not None and bool(meta.is_multifield)


def _show_masked_fields(v: Any, key: str, json_out: bool) -> None:
    """One mask per field, each of its own value: never a mask of the serialized document."""
    masked = v.masked_fields(key)
    print_warnings(v, [key])
    if json_out:
        emit_json({"key": key, "fields": [m.to_json() for m in masked]})
        return
    sys.stdout.write("".join(f"{m.name}: {m.masked_value}\n" for m in masked))


def _warn_conflict(v: Any, key: str) -> None:
    """During a stopped sync the tree holds your side of a conflicted secret: say so."""
    from secretctl.service.conflicts import in_conflict

    if in_conflict(v.root, key):
        warn(f"{key} is in conflict with an incoming change: this is your side; see both with "
             f"`secretctl resolve --show {key}`")

