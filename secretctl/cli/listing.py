"""What `secretctl list` prints, without Typer: called by the Typer command and by the start-up
fast path in ``cli/main.py`` alike (``list`` and ``list --json`` skip the ~45 ms Typer import),
so both print exactly the same."""

from __future__ import annotations

import sys

from secretctl.cli.state import STATE


def list_secrets(pattern: str | None = None, *, tag: str | None = None, expiring: str | None = None,
                 json_out: bool = False) -> None:
    """List keys (never values): names only unless metadata is asked for or filtered on."""
    window = None
    if expiring is not None:
        from secretctl.service import parse_duration

        window = parse_duration(expiring)
    if not json_out and tag is None and window is None:
        from secretctl.service import settings
        from secretctl.service.fastget import list_names

        names = list_names(STATE.vault_dir, pattern, settings.environ())  # names only: no Vault needed
        if names is not None:
            _print_names(names)
            return
    from secretctl.cli.common import emit_json_texts, open_vault  # here: a names-only list never needs it

    v = open_vault()
    if not json_out and tag is None and window is None:
        _print_names(v.list_keys(pattern))
        return
    views = v.list_json(pattern, tag=tag, expiring=window)
    if json_out:
        emit_json_texts(views)
        return
    import json

    _print_names([json.loads(view)["key"] for view in views])


def _print_names(names: list[str]) -> None:
    """One key per line: every names-only listing prints through here."""
    if names:
        sys.stdout.write("\n".join(names) + "\n")
