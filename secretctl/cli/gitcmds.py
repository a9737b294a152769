"""Team workflow commands: hook, clone, sync, resolve, backup, restore, scan; and the hidden
git plumbing (merge-driver, textconv)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from secretctl.cli.common import emit_json, info, open_vault
from secretctl.cli.options import JsonOpt

hook_app = typer.Typer(help="Git hooks that refuse plaintext and malformed files in the vault.", no_args_is_help=True)


@hook_app.command("install")
def hook_install(
    force: Annotated[bool, typer.Option("--force", help="Keep a hook secretctl did not write as "
                                        "<name>.before-secretctl and install ours.")] = False,
) -> None:
    """Install the pre-commit and pre-push hooks into this vault's .git/hooks (never over a hook
    someone else wrote, unless --force)."""
    from secretctl.service import team

    for path in team.install_hooks(open_vault().root, force=force):
        info(f"kept the old hook as {path}" if path.endswith(team.BACKUP_SUFFIX) else f"installed {path}")


def _exit(code: int) -> None:
    if code:
        raise typer.Exit(code)


@hook_app.command("pre-commit")
def hook_pre_commit(
    deep: Annotated[bool, typer.Option("--deep", help="Also look for current secret values in staged text "
                                       "(unlocks your identity).")] = False,
) -> None:
    """Check the staged files (what git will commit, not the work tree). When your identity is
    available without a prompt (unprotected, or SECRETCTL_PASSWORD set) and the vault holds at
    most 1,000 secrets, staged text is also searched for current values, as with --deep."""
    from secretctl.cli import plumbing

    _exit(plumbing.pre_commit(deep=deep))


@hook_app.command("pre-push")
def hook_pre_push(
    remote: Annotated[str | None, typer.Argument(help="The remote's name (git passes it).")] = None,
    url: Annotated[str | None, typer.Argument(help="The remote's URL (git passes it).")] = None,
    deep: Annotated[bool, typer.Option("--deep", help="Also look for current secret values.")] = False,
) -> None:
    """Check the commits a push sends (`commit --no-verify` skips pre-commit).

    As git's pre-push hook it reads the refs being pushed on stdin; under the pre-commit
    framework it reads PRE_COMMIT_FROM_REF / PRE_COMMIT_TO_REF; run by hand on a terminal it
    checks the commits of HEAD that no remote has yet."""
    from secretctl.cli import plumbing

    del remote, url  # git passes them; the refs on stdin say everything the check needs
    _exit(plumbing.pre_push(deep=deep))


def clone(
    url: Annotated[str, typer.Argument(help="The team's vault repository.")],
    directory: Annotated[Path | None, typer.Argument(help="Where (default: the repository's name).")] = None,
) -> None:
    """Clone a vault and set the local git config a clone does not carry (diff, merge drivers)."""
    from secretctl.service import team

    dest = directory or Path(url.rstrip("/").rsplit("/", 1)[-1].removesuffix(".git"))
    team.clone(url, dest)
    info(f"cloned into {dest}; hooks: secretctl hook install")


def sync(
    no_push: Annotated[bool, typer.Option("--no-push", help="Pull and re-encrypt, but do not push.")] = False,
    json_out: Annotated[bool, JsonOpt] = False,
) -> None:
    """Pull (rebase), re-encrypt if recipients changed, push; report what went out and came in."""
    from secretctl.service import team

    report = team.sync(open_vault(), push=not no_push)
    if json_out:
        emit_json(report.to_json())
        return
    out, incoming = report.outgoing, report.incoming
    if not out.commits and not incoming.commits:
        info("already up to date")
        return
    if out.commits:
        verb = "sent" if report.pushed else "not pushed (--no-push)"
        info(f"{verb}: {out.commits} commit(s)")
        _changes_lines(out, by=False)
    if incoming.commits:
        info(f"received: {incoming.commits} commit(s)")
        _changes_lines(incoming, by=True)


def _changes_lines(c: Any, *, by: bool) -> None:
    for label, items in (("added", c.added), ("changed", c.changed), ("removed", c.removed)):
        for key, who in items.items():
            info(f"  {label}: {key}" + (f" (by {who})" if by else ""))
    for old, new in c.moved.items():
        info(f"  moved: {old} -> {new}")
    for m in c.members:
        info(f"  {m}")
    if c.rotate:
        info("  a member was removed who could read: " + ", ".join(c.rotate) + " (rotate them)")


def resolve(
    key: Annotated[str, typer.Argument(help="The conflicted secret.")],
    ours: Annotated[bool, typer.Option("--ours", help="Keep your local value.")] = False,
    theirs: Annotated[bool, typer.Option("--theirs", help="Take the incoming value.")] = False,
    show: Annotated[bool, typer.Option("--show", help="Show both sides (masked) and change nothing.")] = False,
    reveal: Annotated[bool, typer.Option("--reveal", help="With --show: print both values in full.")] = False,
    json_out: Annotated[bool, JsonOpt] = False,
) -> None:
    """Settle a conflict named by sync: --ours is always your value, --theirs the incoming one.
    --show prints both sides first (masked as ****WXYZ unless --reveal)."""
    from secretctl.errors import UsageError
    from secretctl.service import team

    if show:
        if ours or theirs:
            raise UsageError("--show changes nothing: give it alone, then --ours or --theirs")
        _show_sides(key, reveal=reveal, json_out=json_out)
        return
    if reveal:
        raise UsageError("--reveal goes with --show")
    if ours == theirs:
        raise UsageError("choose exactly one of --ours and --theirs", hint=f"see both: secretctl resolve --show {key}")
    team.resolve(open_vault(), key, side="ours" if ours else "theirs")
    info(f"resolved {key} ({'your value' if ours else 'the incoming value'}); run secretctl sync")


def _show_sides(key: str, *, reveal: bool, json_out: bool) -> None:
    from secretctl.service import conflicts

    v = open_vault()
    yours, incoming = conflicts.show(v, key, reveal=reveal)
    if json_out:
        emit_json({"key": key, "ours": yours.to_json(), "theirs": incoming.to_json()})
        return

    def line(label: str, side: Any) -> str:
        if side.deleted:
            return f"  {label}: deleted\n"
        shown = side.value.reveal_text() if side.value is not None else side.masked_value
        return f"  {label}: {shown}  ({side.value_length} characters)\n"

    sys.stdout.write(f"{key}: changed on both sides\n" + line("yours    (--ours)  ", yours)
                     + line("incoming (--theirs)", incoming))


def merge_driver(
    kind: Annotated[str, typer.Argument()], base: Annotated[Path, typer.Argument()],
    ours: Annotated[Path, typer.Argument()], theirs: Annotated[Path, typer.Argument()],
    path: Annotated[str, typer.Argument()],
) -> None:
    """(git plumbing) Merge *.age by plaintext and sidecars field by field."""
    from secretctl.cli import plumbing

    _exit(plumbing.merge_driver(kind, base, ours, theirs, path))


def textconv(path: Annotated[Path, typer.Argument()]) -> None:
    """(git plumbing) Show an age file as plaintext for `git diff` if you can decrypt it."""
    from secretctl.cli import plumbing

    _exit(plumbing.textconv(path))


def backup(output: Annotated[Path, typer.Option("-o", "--output", help="The backup file (mode 0600).")]) -> None:
    """Write the whole history as a git bundle encrypted to the vault's root recipients."""
    from secretctl.service import team

    size = team.backup(open_vault(), output)
    info(f"wrote {output} ({size} bytes of history, encrypted)")


def restore(
    file: Annotated[Path, typer.Argument(help="A backup made by secretctl backup.")],
    directory: Annotated[Path | None, typer.Argument(help="Where to restore it.")] = None,
    verify_only: Annotated[bool, typer.Option("--verify-only", help="Decrypt and verify only.")] = False,
) -> None:
    """Restore (or just verify) a backup."""
    from secretctl.cli.common import unlocked_identity
    from secretctl.service import team

    info(team.restore(unlocked_identity(), file, directory, verify_only=verify_only))


def scan(
    paths: Annotated[list[Path] | None, typer.Argument(help="Files or directories (default: .).")] = None,
    json_out: Annotated[bool, JsonOpt] = False,
) -> None:
    """Look for vault values in other files (an app repo's pre-commit). Prints file:line: key,
    never the value; exit 1 on a hit."""
    from secretctl.service import team

    hits = team.scan(open_vault(), paths or [Path(".")])
    if json_out:
        emit_json([h.__dict__ for h in hits])
    else:
        for h in hits:
            sys.stdout.write(f"{h.path}:{h.line}: {h.key}\n")
    if hits:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.add_typer(hook_app, name="hook")
    app.command("clone")(clone)
    app.command("sync")(sync)
    app.command("resolve")(resolve)
    app.command("merge-driver", hidden=True)(merge_driver)
    app.command("textconv", hidden=True)(textconv)
    app.command("backup")(backup)
    app.command("restore")(restore)
    app.command("scan")(scan)
