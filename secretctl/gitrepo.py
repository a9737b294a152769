"""The one home of git: the git CLI, run as a subprocess.

secretctl only ever runs git commands, so it calls the git CLI directly rather than through
GitPython, whose import alone cost 59 ms of every mutation's ~140 ms here. git's errors are
translated into ConflictError with one line of git's own message (git never sees a secret
value: values are never in argv, and files are staged from disk).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from pathlib import Path

from secretctl.errors import ConflictError


def git(root: Path, *args: str, env: dict[str, str] | None = None, input: bytes | None = None,
        check: bool = True) -> subprocess.CompletedProcess[bytes]:
    """Run git in ``root``; with ``check``, a failure is a ConflictError with git's last line.
    Git never prompts (a fetch that needs credentials fails instead of hanging)."""
    env = {**(os.environ if env is None else env), "GIT_TERMINAL_PROMPT": "0"}
    try:
        proc = subprocess.run(["git", *args], cwd=root, env=env, input=input, capture_output=True, check=False)
    except FileNotFoundError:
        raise ConflictError("git is not installed", hint="install git (apt-get install git)") from None
    if check and proc.returncode != 0:
        lines = [ln.strip() for ln in proc.stderr.decode(errors="replace").splitlines() if ln.strip()]
        detail = lines[-1] if lines else f"exit {proc.returncode}"
        raise ConflictError(f"git {args[0]} failed: {detail[:200]}",
                            hint="run `git status` in the vault to see what git needs")
    return proc


def run(root: Path, *args: str, env: dict[str, str] | None = None) -> str:
    return git(root, *args, env=env).stdout.decode(errors="replace").strip()


def is_repo(root: Path) -> bool:
    return (root / ".git").exists()


def init(root: Path) -> None:
    root.mkdir(parents=True, exist_ok=True)
    git(root, "init", "-q", "-b", "main")


def _config_get(root: Path, name: str) -> str:
    return git(root, "config", "--get", name, check=False).stdout.decode(errors="replace").strip()


def _identity_env(root: Path, actor: str) -> dict[str, str]:
    """Commit as the configured git user; fall back to the actor so a fresh CI box can commit."""
    env: dict[str, str] = {}
    if not _config_get(root, "user.name") and "GIT_AUTHOR_NAME" not in os.environ:
        env["GIT_AUTHOR_NAME"] = env["GIT_COMMITTER_NAME"] = actor or "secretctl"
    if not _config_get(root, "user.email") and "GIT_AUTHOR_EMAIL" not in os.environ:
        env["GIT_AUTHOR_EMAIL"] = env["GIT_COMMITTER_EMAIL"] = "secretctl@localhost"
    return env


def commit_paths(root: Path, paths: Sequence[str], message: str, *, actor: str) -> str | None:
    """Stage exactly ``paths`` (added, changed or deleted) and commit them in one commit.

    Other changes in the work tree are left alone. Returns the new commit id, or None
    when nothing changed.
    """
    unique = sorted(set(paths))
    # update-index takes exact paths on stdin (added, changed or gone): unlike `git add` with
    # pathspecs it does not match every index entry against every path (0.3 s -> 0.1 s for a
    # 1,000-secret import into a 10,000-secret vault).
    git(root, "update-index", "--add", "--remove", "-z", "--stdin",
         input=b"\0".join(p.encode() for p in unique) + b"\0")
    if git(root, "diff", "--cached", "--quiet", check=False).returncode == 0:
        return None
    env = {**os.environ, **_identity_env(root, actor)}
    # A bulk commit's trailers can exceed the argv limit: the message goes on stdin (no value in it).
    git(root, "commit", "-q", "-F", "-", env=env, input=message.encode())
    return run(root, "rev-parse", "HEAD")


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
    proc = git(root, "show", f"HEAD:{relpath}", check=False)
    return proc.stdout if proc.returncode == 0 else None
