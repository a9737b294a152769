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
    views = None
    if window is None and (json_out or tag is not None):
        from secretctl.service import settings
        from secretctl.service.listjson import list_views

        views = list_views(STATE.vault_dir, pattern, tag, settings.environ())  # no Vault needed
    if views is None:
        from secretctl.cli.common import open_vault  # here: a plain listing never needs it

        v = open_vault()
        if not json_out and tag is None and window is None:
            _print_names(v.list_keys(pattern))
            return
        views = v.list_json(pattern, tag=tag, expiring=window)
    if json_out:
        _print_json_texts(views)
        return
    import json

    _print_names([json.loads(view)["key"] for view in views])


def _print_names(names: list[str]) -> None:
    """One key per line: every names-only listing prints through here."""
    if names:
        sys.stdout.write("\n".join(names) + "\n")


def _print_json_texts(items: list[str]) -> None:
    """A JSON list of items already encoded (``json.dumps(x, ensure_ascii=False)`` each): the same
    bytes cli/common.emit_json writes for the decoded list, without decoding them for a pipe."""
    import os

    try:
        tty = os.isatty(sys.stdout.fileno())
    except (OSError, ValueError):
        tty = False
    if tty:
        import json

        from secretctl.cli.common import emit_json  # indented for a person: imported only then

        emit_json([json.loads(item) for item in items])
        return
    sys.stdout.write("[" + ", ".join(items) + "]\n")
