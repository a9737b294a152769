"""`member add` and `import`, Typer-free: the Typer commands call these, and cli/main.py calls
them directly for two exact forms (Typer's import is ~45 ms of a command that does a bulk
re-keying or import in ~400 ms):

    secretctl member add NAME RECIPIENT
    secretctl import FILE [--prefix PREFIX]

with no operand starting with ``-`` and nothing else. Anything else goes through Typer.
tests/cli/test_bulk_forms.py checks that Typer calls these functions with the same arguments.
"""

from __future__ import annotations

import sys

from secretctl.cli.common import Progress, emit_json, info, open_vault, read_stdin
from secretctl.cli.state import completing
from secretctl.errors import UsageError
from secretctl.service import settings

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path


def fast_form(argv: list[str]) -> tuple[str, dict[str, object]] | None:
    """``(command, arguments)`` for the two exact forms above, else None."""
    if completing(settings.environ()):
        return None
    if argv[:2] == ["member", "add"] and len(argv) == 4 and not _dashed(argv[2:]):
        return "member-add", {"name": argv[2], "recipient": argv[3]}
    if argv[:1] == ["import"] and len(argv) in (2, 4) and not _dashed(argv[1::2]) and argv[2:3] in ([], ["--prefix"]):
        from pathlib import Path  # what Typer converts the FILE argument to

        return "import", {"file": Path(argv[1]), **({"prefix": argv[3]} if len(argv) == 4 else {})}
    return None


def _dashed(operands: list[str]) -> bool:
    return any(a.startswith("-") for a in operands)


def run_fast(command: str, kwargs: dict[str, object]) -> None:
    if command == "member-add":
        add_member(**kwargs)  # type: ignore[arg-type]  # fast_form built them for this signature
    else:
        import_file(**kwargs)  # type: ignore[arg-type]  # fast_form built them for this signature


def add_member(name: str, recipient: str, path: str = "") -> None:
    v = open_vault()
    with Progress("re-encrypting", lambda: len(v.key_names())) as bar:
        out = v.member_add(name, recipient, path=path, progress=bar.update)
    info(f"added {name} to {out.path}; re-encrypted {len(out.keys)} secrets")


def import_file(file: Path, fmt: str | None = None, dry_run: bool = False, on_conflict: str = "error",
                prefix: str = "", tags: str | None = None, json_out: bool = False) -> None:
    from secretctl.service import formats, store

    if str(file) == "-":
        data = read_stdin(formats.MAX_IMPORT_BYTES, what="import data")
        name = "<stdin>"
    else:
        data = store.read_limited(file, formats.MAX_IMPORT_BYTES, what="import file")
        name = str(file)
    kind = format_name(fmt) or ("json" if name.endswith(".json") else "dotenv")
    if kind not in ("json", "dotenv"):
        raise UsageError(f"unknown --format {kind!r}", hint="use dotenv (or env) or json")
    items = formats.parse_json(data, source=name) if kind == "json" else formats.parse_dotenv(data, source=name)
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    entries = [(prefix + k, val) for k, val in items]
    v = open_vault()
    with Progress("importing", len(entries)) as bar:
        out = v.import_entries(entries, on_conflict=on_conflict, dry_run=dry_run,
                               tags=tags.split(",") if tags else None, progress=bar.update)
    if json_out:
        emit_json({"imported": out.keys, "skipped": out.skipped, "dry_run": dry_run, "commit": out.commit})
        return
    verb = "would import" if dry_run else "imported"
    info(f"{verb} {len(out.keys)} secrets" + (f", skipped {len(out.skipped)}" if out.skipped else ""))
    if dry_run:
        for k in out.keys:
            sys.stdout.write(k + "\n")


def format_name(fmt: str | None) -> str | None:
    """``env`` is secretctl's Go CLI name for the dotenv format."""
    return "dotenv" if fmt == "env" else fmt
