"""What git runs: the pre-commit and pre-push hooks, the merge drivers and textconv, without
Typer. Git starts these once per commit, push, merged file or diffed file, so the ~45 ms Typer
import and the 39-command app would be paid that many times; ``cli/main.py`` calls these
functions for the exact forms git uses, and the Typer commands (``cli/gitcmds.py``) call them
for everything else, so both check, print and fail alike. Each returns the exit code."""

from __future__ import annotations

import sys
from pathlib import Path

from secretctl.cli.common import open_vault
from secretctl.cli.state import completing
from secretctl.service import settings

TYPE_CHECKING = False
if TYPE_CHECKING:  # importing typing's names costs start-up; for mypy only
    from secretctl.service import RefUpdate


def report(problems: list[object], *, what: str = "committed") -> int:
    for p in problems:
        sys.stderr.write(f"secretctl: rejected: {p}\n")
    if problems:
        sys.stderr.write(f"secretctl: {len(problems)} problem(s); nothing was {what}\n")
        return 1
    return 0


def pre_commit(*, deep: bool = False) -> int:
    """Without ``--deep`` the value check runs when it costs no prompt (precommit.check_staged)."""
    from secretctl.service import precommit

    return report(list(precommit.check_staged(open_vault(), deep=True if deep else None)))


def pre_push(*, deep: bool = False) -> int:
    """Git passes the remote's name and URL too; the refs on stdin say everything the check needs."""
    from secretctl.service import pushcheck

    vault = open_vault()
    return report(list(pushcheck.check_push(vault, _push_updates(vault.root), deep=deep)), what="pushed")


def _push_updates(root: Path) -> list[RefUpdate]:
    """The ref updates to check, from whoever runs the hook."""
    from secretctl.cli.common import stdin_is_tty
    from secretctl.service import RefUpdate, parse_push_lines, pushcheck

    env = settings.environ()
    if env.get("PRE_COMMIT_TO_REF") or env.get("PRE_COMMIT_LOCAL_BRANCH"):
        # The pre-commit framework consumed stdin; it names the range (or, for a first push of
        # a history, only the branch: everything not on a remote yet).
        local = pushcheck.resolve(root, (env.get("PRE_COMMIT_TO_REF") or env["PRE_COMMIT_LOCAL_BRANCH"]) + "^{commit}")
        base = env.get("PRE_COMMIT_FROM_REF") or "0" * len(local)
        return [RefUpdate(env.get("PRE_COMMIT_LOCAL_BRANCH", ""), local, env.get("PRE_COMMIT_REMOTE_BRANCH", ""),
                          base)]
    if not stdin_is_tty() and sys.stdin is not None:
        return parse_push_lines(sys.stdin.buffer.read(1024 * 1024).decode(errors="replace"))
    head = pushcheck.resolve(root, "HEAD")
    return [RefUpdate("HEAD", head, "", "0" * len(head))]


def merge_driver(kind: str, base: Path, ours: Path, theirs: Path, path: str) -> int:
    from secretctl.service import gitdrivers

    if kind == "age":
        ok = gitdrivers.merge_age(open_vault(), base, ours, theirs, path)
    else:
        ok = gitdrivers.merge_meta(base, ours, theirs, path)
    if not ok:
        sys.stderr.write(f"secretctl: conflict: {path} changed on both sides; secretctl resolve will settle it\n")
        return 1
    return 0


def textconv(path: Path) -> int:
    from secretctl.service import gitdrivers

    sys.stdout.buffer.write(gitdrivers.textconv(open_vault(), path))
    return 0


def fast_form(argv: list[str]) -> tuple[str, list[str]] | None:
    """``(command, operands)`` when ``argv`` is exactly what git passes (see core/gitconfig.py
    and the hook scripts), else None: options, help and anything unusual go through Typer."""
    if any(a.startswith("-") for a in argv) or completing(settings.environ()):
        return None
    if argv[:2] == ["hook", "pre-commit"] and len(argv) == 2:
        return "pre-commit", []
    if argv[:2] == ["hook", "pre-push"] and len(argv) <= 4:
        return "pre-push", argv[2:]
    if argv[:1] == ["merge-driver"] and len(argv) == 6:
        return "merge-driver", argv[1:]
    if argv[:1] == ["textconv"] and len(argv) == 2:
        return "textconv", argv[1:]
    return None


def run_fast(command: str, operands: list[str]) -> int:
    if command == "pre-commit":
        return pre_commit()
    if command == "pre-push":
        return pre_push()
    if command == "merge-driver":
        kind, base, ours, theirs, path = operands
        return merge_driver(kind, Path(base), Path(ours), Path(theirs), path)
    return textconv(Path(operands[0]))
