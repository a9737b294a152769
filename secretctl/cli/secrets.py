"""Everyday secret commands: set, get, list, exists, delete, mv, generate, import, export."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from secretctl.cli.bulk import format_name
from secretctl.cli.common import (
    confirm,
    emit_json,
    info,
    open_vault,
    print_warnings,
)
from secretctl.cli.options import JsonOpt
from secretctl.errors import NotFoundError, UsageError


def set_(
    key: Annotated[str, typer.Argument(help="Key, e.g. aws/secret_key.")],
    from_file: Annotated[Path | None, typer.Option("--from-file", help="Store this file's bytes exactly.")] = None,
    generate: Annotated[bool, typer.Option("--generate", help="Store a fresh random value.")] = False,
    length: Annotated[int, typer.Option("-l", "--length", help="Length for --generate.")] = 32,
    no_symbols: Annotated[bool, typer.Option("--no-symbols", help="Letters and digits only (--generate).")] = False,
    expires: Annotated[str | None, typer.Option("--expires", help="30d, 12h, or a date (2027-01-31).")] = None,
    notes: Annotated[str | None, typer.Option("--notes", help="Free text (stored in plaintext).")] = None,
    url: Annotated[str | None, typer.Option("--url", help="Where the secret is used or rotated.")] = None,
    tags: Annotated[str | None, typer.Option("--tags", help="Comma-separated tags.")] = None,
    field: Annotated[list[str] | None, typer.Option(
        "--field", help="A field of a multi-field secret: NAME (or NAME=-) reads its value from a hidden prompt or "
        "stdin; NAME=VALUE takes it from the command line, where other users see it in `ps` (fine for public "
        "fields). Every value is encrypted; fields are sensitive unless --public.")] = None,
    public: Annotated[list[str] | None, typer.Option(
        "--public", help="Mark field NAME public: agents may read it, run does not redact it. Never allowed for "
        "names such as password, secret, token, key, credential, pin.")] = None,
    template: Annotated[str | None, typer.Option(
        "--template", help="database, login, api or ssh: the usual fields and env bindings.")] = None,
    binding: Annotated[list[str] | None, typer.Option("--binding", help="ENV=field: inject a field as ENV.")] = None,
) -> None:
    """Store a secret. The value comes from stdin (one trailing newline dropped), a hidden
    prompt, --from-file (bytes exactly) or --generate; never from the command line."""
    from secretctl.cli.storing import store_secret

    store_secret(key, from_file=from_file, generate=generate, length=length, no_symbols=no_symbols, expires=expires,
                 notes=notes, url=url, tags=tags, field=field, public=public, template=template, binding=binding)


def get(
    key: Annotated[str, typer.Argument(help="Key to read.")],
    masked: Annotated[bool, typer.Option("--masked", help="Print ****WXYZ instead of the value.")] = False,
    show_metadata: Annotated[bool, typer.Option("--show-metadata", help="Print metadata, not the value.")] = False,
    field: Annotated[str | None, typer.Option("--field", help="One field of a multi-field secret.")] = None,
    json_out: Annotated[bool, JsonOpt] = False,
) -> None:
    """Print a secret's value exactly (a newline is added only on a terminal)."""
    from secretctl.cli.reading import show_secret

    show_secret(key, masked=masked, show_metadata=show_metadata, field=field, json_out=json_out)


def list_(
    pattern: Annotated[str | None, typer.Argument(help="* matches one level, ** any depth.")] = None,
    tag: Annotated[str | None, typer.Option("--tag", help="Only secrets with this tag.")] = None,
    expiring: Annotated[str | None, typer.Option("--expiring", help="Only those expiring within, e.g. 7d.")] = None,
    json_out: Annotated[bool, JsonOpt] = False,
) -> None:
    """List keys (never values)."""
    from secretctl.cli.listing import list_secrets

    list_secrets(pattern, tag=tag, expiring=expiring, json_out=json_out)


def exists(
    key: Annotated[str, typer.Argument(help="Key to look for.")],
    json_out: Annotated[bool, JsonOpt] = False,
) -> None:
    """Exit 0 if the secret exists, 1 if not."""
    v = open_vault()
    found = v.exists(key)
    if json_out:
        emit_json({"key": key, "exists": found})
    raise typer.Exit(0 if found else 1)


def delete(
    key: Annotated[str, typer.Argument(help="Key to delete.")],
    yes: Annotated[bool, typer.Option("-y", "--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete a secret (it stays in git history: rotate it if it leaked)."""
    v = open_vault()
    if not v.exists(key):
        raise NotFoundError(f"secret not found: {key}")
    if not yes and not confirm(f"delete {key}?"):
        raise typer.Exit(1)
    v.delete(key)
    info(f"deleted {key}")


def mv(
    old: Annotated[str, typer.Argument(help="Current key.")],
    new: Annotated[str, typer.Argument(help="New key.")],
) -> None:
    """Rename a secret (re-encrypted for the recipients of its new place)."""
    open_vault().move(old, new)
    info(f"moved {old} to {new}")


def generate(
    length: Annotated[int, typer.Option("-l", "--length", help="Characters per secret.")] = 24,
    count: Annotated[int, typer.Option("-n", "--count", help="How many to print.")] = 1,
    no_symbols: Annotated[bool, typer.Option("--no-symbols", help="Letters and digits only.")] = False,
    json_out: Annotated[bool, JsonOpt] = False,
) -> None:
    """Print random passwords (nothing is stored)."""
    from secretctl.service import generate_password as gen

    if not 1 <= count <= 1000:
        raise UsageError("--count must be between 1 and 1000")
    values = [gen(length, symbols=not no_symbols).reveal_text() for _ in range(count)]
    if json_out:
        emit_json(values)
    else:
        sys.stdout.write("".join(x + "\n" for x in values))


def import_(
    file: Annotated[Path, typer.Argument(help=".env or .json file ('-' for stdin, with --format).")],
    fmt: Annotated[str | None, typer.Option("--format", help="dotenv (or env) or json (default: by extension).")]
    = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would be stored.")] = False,
    on_conflict: Annotated[str, typer.Option("--on-conflict", "--conflict", help="skip, overwrite or error.")]
    = "error",
    prefix: Annotated[str, typer.Option("--prefix", help="Prepend to every key, e.g. app/.")] = "",
    tags: Annotated[str | None, typer.Option("--tags", help="Comma-separated tags for every secret.")] = None,
    json_out: Annotated[bool, JsonOpt] = False,
) -> None:
    """Import many secrets in one commit."""
    from secretctl.cli.bulk import import_file

    import_file(file, fmt, dry_run, on_conflict, prefix, tags, json_out)


def export(
    key: Annotated[list[str] | None, typer.Option("-k", "--key", help="Pattern(s) to export (default all).")] = None,
    fmt: Annotated[str, typer.Option("--format", help="dotenv (or env) or json.")] = "dotenv",
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Write to FILE (mode 0600).")] = None,
) -> None:
    """Export plaintext values (dotenv names: aws/access_key -> AWS_ACCESS_KEY)."""
    from secretctl.service import envmap, formats, store

    fmt = format_name(fmt) or fmt
    if fmt not in ("dotenv", "json"):
        raise UsageError(f"unknown --format {fmt!r}", hint="use dotenv (or env) or json")
    v = open_vault()
    all_keys = v.key_names()
    selected = envmap.expand_patterns(key, all_keys) if key else all_keys
    items = v.reveal_all(selected)
    if fmt == "dotenv":
        names = envmap.build_env_map([lbl.replace(":", "/") for lbl, _ in items], "")
        by_key = {lbl.replace(":", "/"): val for lbl, val in items}
        data = formats.render_dotenv([(n, by_key[k]) for n, k in names.items()])
    else:
        data = formats.render_json(items)
    print_warnings(v, selected)
    if output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    else:
        store.atomic_write(output, data, mode=0o600)
        info(f"wrote {len(items)} values to {output} (mode 0600)")


def register(app: typer.Typer) -> None:
    app.command("set")(set_)
    app.command("get")(get)
    app.command("list")(list_)
    app.command("ls", hidden=True)(list_)
    app.command("exists")(exists)
    app.command("delete")(delete)
    app.command("rm", hidden=True)(delete)
    app.command("mv")(mv)
    app.command("generate")(generate)
    app.command("import")(import_)
    app.command("export")(export)
