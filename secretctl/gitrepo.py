"""The one home of git: a thin wrapper over GitPython's command runner.

GitPython costs ~80 ms to import, so this module imports it only when a command needs
git (mutations, history); reading a secret never does. git's errors are translated here
into ConflictError with one line of git's own message (git never sees a secret value:
values are never in argv, and files are staged from disk).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from secretctl.errors import ConflictError


def _git(root: Path) -> Any:
    import git

    return git.Git(str(root))


def _run(root: Path, *args: str, env: dict[str, str] | None = None, istream: Any = None) -> str:
    import git

    try:
        out: str = _git(root).execute(
            ["git", *args], env=env, istream=istream, strip_newline_in_stdout=True, with_extended_output=False
        )
    except git.GitCommandError as exc:
        lines = [ln.strip() for ln in str(exc.stderr or "").splitlines() if ln.strip()]
        detail = lines[-1] if lines else f"exit {exc.status}"
        detail = detail.removeprefix("stderr: ").strip("'")
        raise ConflictError(f"git {args[0]} failed: {detail[:200]}",
                            hint="run `git status` in the vault to see what git needs") from None
    except git.GitCommandNotFound:
        raise ConflictError("git is not installed", hint="install git (apt-get install git)") from None
    return out


def run(root: Path, *args: str, env: dict[str, str] | None = None) -> str:
    return _run(root, *args, env=env)


def is_repo(root: Path) -> bool:
    return (root / ".git").exists()


def init(root: Path) -> None:
    root.mkdir(parents=True, exist_ok=True)
    _run(root, "init", "-q", "-b", "main")


def _identity_env(root: Path, actor: str) -> dict[str, str]:
    """Commit as the configured git user; fall back to the actor so a fresh CI box can commit."""
    env: dict[str, str] = {}
    have_name = _config_get(root, "user.name")
    have_email = _config_get(root, "user.email")
    if not have_name and "GIT_AUTHOR_NAME" not in os.environ:
        env["GIT_AUTHOR_NAME"] = env["GIT_COMMITTER_NAME"] = actor or "secretctl"
    if not have_email and "GIT_AUTHOR_EMAIL" not in os.environ:
        env["GIT_AUTHOR_EMAIL"] = env["GIT_COMMITTER_EMAIL"] = "secretctl@localhost"
    return env


def _config_get(root: Path, name: str) -> str:
    try:
        return _run(root, "config", "--get", name)
    except ConflictError:
        return ""


def user_name(root: Path) -> str:
    return _config_get(root, "user.name")


def commit_paths(root: Path, paths: Sequence[str], message: str, *, actor: str) -> str | None:
    """Stage exactly ``paths`` (added, changed or deleted) and commit them in one commit.

    Other changes in the work tree are left alone. Returns the new commit id, or None
    when nothing changed.
    """
    unique = sorted(set(paths))
    # update-index takes exact paths on stdin (added, changed or gone): unlike `git add` with
    # pathspecs it does not match every index entry against every path (0.3 s -> 0.1 s for a
    # 1,000-secret import into a 10,000-secret vault).
    import subprocess

    proc = subprocess.run(["git", "update-index", "--add", "--remove", "-z", "--stdin"], cwd=root,
                          input=b"\0".join(p.encode() for p in unique) + b"\0", capture_output=True, check=False)
    if proc.returncode != 0:
        last = (proc.stderr.decode(errors="replace").strip().splitlines() or [f"exit {proc.returncode}"])[-1]
        raise ConflictError(f"git update-index failed: {last[:200]}", hint="run `git status` in the vault")
    staged = _run(root, "diff", "--cached", "--name-only", "-z")
    if not staged:
        return None
    env = {**os.environ, **_identity_env(root, actor)}
    # A bulk commit's trailers can exceed the argv limit: pass the message as a file (it holds no value).
    msgfile = root.resolve() / ".git" / "SECRETCTL_COMMIT_MSG"
    msgfile.write_text(message)
    try:
        _run(root, "commit", "-q", "-F", str(msgfile), env=env)
    finally:
        msgfile.unlink(missing_ok=True)
    return _run(root, "rev-parse", "HEAD")


def head(root: Path) -> str | None:
    """The HEAD commit id, read from disk without spawning git (cheap enough for every call)."""
    gitdir = root / ".git"
    try:
        ref = (gitdir / "HEAD").read_text().strip()
    except OSError:
        return None
    if not ref.startswith("ref: "):
        return ref
    name = ref[5:]
    try:
        return (gitdir / name).read_text().strip()
    except OSError:
        pass
    try:
        for line in (gitdir / "packed-refs").read_text().splitlines():
            if line.endswith(" " + name):
                return line.split(" ", 1)[0]
    except OSError:
        pass
    return None


def show_committed(root: Path, relpath: str) -> bytes | None:
    """The committed (HEAD) content of a file, or None if it is not committed."""
    import git

    try:
        data: bytes = _git(root).execute(["git", "show", f"HEAD:{relpath}"], stdout_as_string=False,
                                         strip_newline_in_stdout=False)
    except git.GitCommandError:
        return None
    return data


def dirty_paths(root: Path, relpaths: Sequence[str]) -> list[str]:
    out = _run(root, "status", "--porcelain", "-z", "--", *relpaths)
    return [entry[3:] for entry in out.split("\0") if entry]
