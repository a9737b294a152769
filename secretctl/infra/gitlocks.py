"""git's lock files that a dead git left behind, and the rule for clearing them.

git takes a lock by creating ``index.lock`` (or ``HEAD.lock``, ``refs/heads/<branch>.lock``,
``packed-refs.lock``) and removes it when it is done, on failure and on Ctrl-C too. Only a git
killed outright (SIGKILL, the OOM killer, a power cut) leaves one, and then every later git
command that needs it fails. git records no owner, so secretctl calls a lock stale only when:

1. secretctl holds the vault lock (no secretctl process is running git in this vault), and
2. no process named ``git*`` has its working directory in the vault's work tree or git
   directory (read from ``/proc``; where there is no ``/proc`` secretctl cannot tell, and
   removes only a lock older than 10 minutes), and
3. the lock is at least half a second old (a tool built on libgit2 is not named git; its locks
   last milliseconds).

Processes of other users are invisible here (their ``/proc/PID/cwd`` is not readable): a git
run by another account in the same vault is the honest limit (docs/security.md).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Sequence
from pathlib import Path

from secretctl.infra import gitrepo

GRACE = 0.5  # seconds a lock must have existed before it may be called stale
BLIND_AGE = 600.0  # without /proc: only a lock this old is called stale
_POLL = 0.05


def lock_files(root: Path) -> list[Path]:
    """The git locks that exist now and would block a secretctl command."""
    gitdir, common = gitrepo.git_dirs(root)
    candidates = [gitdir / "index.lock", gitdir / "HEAD.lock", common / "packed-refs.lock"]
    with contextlib.suppress(OSError, UnicodeDecodeError):
        ref = (gitdir / "HEAD").read_text().strip()
        if ref.startswith("ref: refs/") and ".." not in ref:
            candidates.append(common / (ref[5:] + ".lock"))
    return [p for p in candidates if os.path.lexists(p)]


def git_processes(dirs: Sequence[Path]) -> list[int] | None:
    """Ids of git processes working in one of ``dirs`` (or below); None where this cannot be known."""
    if not os.path.isdir("/proc/self/fd"):
        return None
    prefixes = [os.path.realpath(d) for d in dirs]
    found = []
    me = os.getpid()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            with open(f"/proc/{entry.name}/comm", "rb") as fh:
                if fh.read(3) != b"git":
                    continue
            cwd = os.readlink(f"/proc/{entry.name}/cwd")
        except OSError:
            continue  # gone, or another user's
        if any(cwd == p or cwd.startswith(p + "/") for p in prefixes):
            found.append(int(entry.name))
    return found


def wait_for_git(dirs: Sequence[Path], timeout: float) -> bool:
    """Wait until no git process works in ``dirs`` (a killed secretctl's git children finish on
    their own); False if some still do after ``timeout`` seconds, or if this cannot be known."""
    deadline = time.monotonic() + timeout
    while True:
        running = git_processes(dirs)
        if running is None:
            return False
        if not running:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(_POLL)


_GIT_TEMPS = ("tmp_obj_", "tmp_pack_", "tmp_idx_", "tmp_rev_")


def clear_git_temps(root: Path) -> int:
    """Remove the temp object files a git that failed or died left in ``objects/`` (git removes
    them itself only in a ``gc`` weeks later; on a full disk they hold the space an undo needs).
    Only when no git process works in the repository: a live one may be writing them. The
    caller holds the vault lock. Returns how many were removed."""
    gitdir, common = gitrepo.git_dirs(root)
    running = git_processes([root, gitdir, common])
    if running is None or running:
        return 0
    removed = 0
    objects = common / "objects"
    try:
        folders = [e.path for e in os.scandir(objects) if e.is_dir(follow_symlinks=False)]
    except OSError:
        return 0
    for folder in folders:
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        for name in names:
            if name.startswith(_GIT_TEMPS):
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(folder, name))
                    removed += 1
    return removed


def clear_stale(root: Path, *, wait: float = 5.0) -> list[str]:
    """Remove the locks a dead git left (rule in the module doc). The caller holds the vault lock.
    Returns the locks removed, relative to ``root``."""
    locks = lock_files(root)
    if not locks:
        return []
    gitdir, common = gitrepo.git_dirs(root)
    dirs = [root, gitdir, common]
    can_tell = git_processes(dirs) is not None
    if can_tell and not wait_for_git(dirs, wait):
        return []  # a live git holds them
    removed: list[str] = []
    for lock in locks:
        try:
            age = time.time() - os.lstat(lock).st_mtime
        except FileNotFoundError:
            continue
        if not can_tell:
            if age < BLIND_AGE:
                continue
        elif age < GRACE:
            time.sleep(GRACE - age)
            if git_processes(dirs):
                return removed
        with contextlib.suppress(FileNotFoundError):
            lock.unlink()
            removed.append(os.path.relpath(lock, root))
    return removed
