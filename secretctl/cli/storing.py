"""What `secretctl set` does, without Typer: called by the Typer command and by the start-up
fast path in ``cli/main.py`` alike (a plain ``set KEY`` with the value on stdin skips the ~45 ms
Typer import), so both store, print and fail exactly the same."""

from __future__ import annotations

from pathlib import Path

from secretctl.cli.common import info, open_vault, read_secret_input, warn
from secretctl.errors import UsageError
from secretctl.service import Secret

TYPE_CHECKING = False  # typing costs every start ~3 ms to import: for mypy only
if TYPE_CHECKING:
    from typing import Any


def _parse_expires(text: str | None) -> Any:
    if text is None:
        return None
    from secretctl.service import parse_expiry, utcnow

    return parse_expiry(text, utcnow())


def store_secret(key: str, *, from_file: Path | None = None, generate: bool = False, length: int = 32,
                 no_symbols: bool = False, expires: str | None = None, notes: str | None = None,
                 url: str | None = None, tags: str | None = None, field: list[str] | None = None,
                 public: list[str] | None = None, template: str | None = None,
                 binding: list[str] | None = None) -> None:
    """Store a secret from stdin or a prompt, --from-file, --generate or --field/--template."""
    from secretctl.service import keys as keys_mod
    from secretctl.service.results import SetRequest

    keys_mod.validate_key(key)
    multi = bool(field) or template is not None
    if sum([from_file is not None, generate, multi]) > 1:
        raise UsageError("give one of --from-file, --generate or --field/--template")
    if (public or binding) and not multi:
        raise UsageError("--public and --binding need --field or --template")
    value: Secret | None = None
    fields: list[Any] = []
    bindings: dict[str, str] = {}
    if multi:
        from secretctl.cli.fieldinput import gather

        given = gather(field or [], public or [], template, binding or [])
        for name in given.in_argv:
            warn(f"the value of field {name} is on the command line, where other users of this machine can "
                 f"see it (ps); next time use --field {name}=- to read it from stdin or a prompt")
        fields, bindings = given.fields, given.bindings
    elif from_file is not None:
        from secretctl.service import store

        value = Secret(store.read_limited(from_file, 64 * 1024 * 1024, what="file"))
    elif generate:
        from secretctl.service import generate_password as gen

        value = gen(length, symbols=not no_symbols)
    else:
        value = read_secret_input(f"value for {key}: ")
    req = SetRequest(
        value=value, fields=fields, bindings=bindings,
        expires=_parse_expires(expires), notes=notes, url=url,
        tags=[t for t in tags.split(",")] if tags is not None else None,
    )
    v = open_vault()
    out = v.set(key, req)
    info(f"{'stored' if out.created else 'updated'} {key}")
