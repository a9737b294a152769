"""What `secretctl get` prints, without Typer: called by the Typer command and by the start-up
fast path in ``cli/main.py`` alike, so both print exactly the same."""

from __future__ import annotations

import sys

from secretctl.cli.common import emit_json, open_vault, print_warnings, stdout_is_tty


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
    value = v.value_of(key, field) if masked else v.reveal(key, field=field)
    print_warnings(v, [key])
    if json_out:
        from secretctl.core.secret import mask

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
