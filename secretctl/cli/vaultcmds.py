"""init and check: creating a vault and verifying one."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from secretctl.cli.common import emit_json, info, new_password
from secretctl.cli.options import JsonOpt
from secretctl.cli.state import STATE
from secretctl.service import settings


def init(
    directory: Annotated[Path | None, typer.Argument(help="Where (default: your default vault).")] = None,
    name: Annotated[str | None, typer.Option("--name", help="Your member name (default: $SECRETCTL_ACTOR, else "
                                             "git's user.name).")] = None,
    no_passphrase: Annotated[bool, typer.Option("--no-passphrase", help="If an identity must be created, "
                                                "store it unprotected.")] = False,
) -> None:
    """Create a vault (a git repo) from the template, or adopt a passage store, with you as member."""
    from secretctl.service import identity, vault

    root = directory or (Path(STATE.vault_dir) if STATE.vault_dir else settings.default_vault_dir())
    member = name or settings.get(settings.ENV_ACTOR) or _git_user_name()  # before anything is created
    ipath = settings.identity_path()
    recipient = identity.public_recipient(ipath)
    if recipient is None and ipath.exists():
        from secretctl.cli.common import unlocked_identity

        recipient = unlocked_identity().recipient
    if recipient is None:
        recipient = identity.create(ipath, passphrase=new_password(no_passphrase))
        info(f"created your identity at {ipath}")
    out = vault.init_vault(root, recipient=recipient, name=member)
    info(("adopted passage store at " if out.adopted else "created vault at ") + str(root))
    info(f"your recipient (share it with teammates): {recipient}")


def _git_user_name() -> str:
    """The default member name: the name git signs your commits with, so the recipients file and
    the history agree. Never a made-up one: it is written into .age-recipients for everyone."""
    from secretctl.errors import SecretctlError, UsageError
    from secretctl.service import validate_member_name
    from secretctl.service.vault import git_user_name

    found = git_user_name()
    if found is None:
        raise UsageError("no member name: git has no user.name",
                         hint="pass --name YOURNAME, or set it: git config --global user.name 'Your Name'")
    try:
        return validate_member_name(found)
    except SecretctlError:
        raise UsageError(f"git's user.name {found[:64]!r} is not a valid member name",
                         hint="pass --name with letters, digits, spaces and . _ @ + - ( )") from None


def check(
    json_out: Annotated[bool, JsonOpt] = False,
    no_decrypt: Annotated[bool, typer.Option("--no-decrypt", help="Parse headers only (no identity needed).")]
    = False,
    staged: Annotated[bool, typer.Option("--staged", help="Run the pre-commit checks on the staged files.")]
    = False,
    all_files: Annotated[bool, typer.Option("--all", help="Run the pre-commit checks on every committed file "
                                            "(for the vault repo's CI).")] = False,
    deep: Annotated[bool, typer.Option("--deep", help="With --staged/--all: also look for current secret "
                                       "values in plaintext files.")] = False,
) -> None:
    """Verify every file decrypts (or parses), sidecars match, recipients are current; exit 1 on
    problems or expired secrets (for CI)."""
    from secretctl.cli.common import open_vault

    if staged or all_files:
        from secretctl.service import precommit

        found = precommit.check_tree(open_vault(), staged=staged, deep=deep)
        if json_out:
            emit_json({"ok": not found, "problems": [p.__dict__ for p in found]})
        for p in found:
            sys.stderr.write(f"error: {p}\n")
        if found:
            raise typer.Exit(1)
        if not json_out:
            info("vault files ok")
        return
    problems = open_vault().check(decrypt=not no_decrypt)
    failing = [p for p in problems if p.severity in ("error", "expired")]
    if json_out:
        emit_json({"ok": not failing, "problems": [p.__dict__ for p in problems]})
    else:
        for p in problems:
            sys.stderr.write(f"{p.severity}: {p.path}: {p.message}\n")
        if not problems:
            info("vault ok")
    if failing:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("init")(init)
    app.command("check")(check)

