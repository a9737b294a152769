"""Team membership: member add/remove/list and reencrypt."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from secretctl.cli.common import Progress, confirm, emit_json, info, open_vault
from secretctl.cli.options import JsonOpt

member_app = typer.Typer(help="Who can decrypt what: members are recipients in .age-recipients files.",
                         no_args_is_help=True)


@member_app.command("add")
def member_add(
    name: Annotated[str, typer.Argument(help="The member's name (shown in .age-recipients comments).")],
    recipient: Annotated[str, typer.Argument(help="Their recipient: age1..., ssh-ed25519 ... or a plugin one.")],
    path: Annotated[str, typer.Option("--path", help="Only this subtree, e.g. prod (default: everything).")] = "",
) -> None:
    """Give a member access and re-encrypt what they gain, in one commit."""
    from secretctl.cli.bulk import add_member

    add_member(name, recipient, path)


@member_app.command("remove")
def member_remove(
    name: Annotated[str, typer.Argument(help="The member to remove.")],
    yes: Annotated[bool, typer.Option("-y", "--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Remove a member and re-encrypt what they could read, in one commit.

    They keep whatever they already decrypted: rotate those secrets. Asks first on a terminal;
    without one, pass -y."""
    from secretctl.errors import NotFoundError

    v = open_vault()
    if name not in {m["name"] for m in v.members()}:
        raise NotFoundError(f"member not found: {name}", hint="secretctl member list")
    if not yes and not confirm(f"remove member {name} and re-encrypt what they could read?"):
        raise typer.Exit(1)
    with Progress("re-encrypting", lambda: len(v.key_names())) as bar:
        out = v.member_remove(name, progress=bar.update)
    could = out.could_read
    info(f"removed {name}; re-encrypted {len(out.keys)} secrets")
    if could:
        info(f"{name} could read {len(could)} secrets before; rotate them: " + ", ".join(could[:20])
             + (" ..." if len(could) > 20 else ""))


@member_app.command("list")
def member_list(json_out: Annotated[bool, JsonOpt] = False) -> None:
    """List members and where they have access."""
    members = open_vault().members()
    if json_out:
        emit_json(members)
        return
    for m in members:
        sys.stdout.write(f"{m['name'] or '(unnamed)'}\t{m['path']}\t{m['recipient']}\n")


def reencrypt(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List what would be re-encrypted.")] = False,
    json_out: Annotated[bool, JsonOpt] = False,
) -> None:
    """Re-encrypt exactly the secrets whose recipients changed (one unlock, one commit)."""
    v = open_vault()
    with Progress("re-encrypting", lambda: len(v.key_names())) as bar:
        out = v.reencrypt(dry_run=dry_run, progress=bar.update)
    if json_out:
        emit_json({"keys": out.keys, "dry_run": dry_run, "commit": out.commit})
        return
    if dry_run:
        for k in out.keys:
            sys.stdout.write(k + "\n")
        info(f"{len(out.keys)} secrets would be re-encrypted")
    else:
        info(f"re-encrypted {len(out.keys)} secrets" if out.keys else "nothing to re-encrypt")


def register(app: typer.Typer) -> None:
    app.add_typer(member_app, name="member")
    app.command("reencrypt")(reencrypt)
