"""The pre-push check (service layer): exactly the commits a push sends, as git's hook contract
describes them, each file checked as it is in the commit that brings it.

`git commit --no-verify` skips the pre-commit hook, so the pre-push hook checks again what is
about to leave the machine. It sees what git passes a pre-push hook (``<local ref> <local sha>
<remote ref> <remote sha>`` per line on stdin): a deletion sends nothing; an update sends the
commits between the remote's sha and ours; a new ref sends every commit not already on a
remote-tracking ref. Each of those commits is checked for what it adds or changes (against its
first parent), with the recipients files and policy of that same commit, so a bad file added
and removed again before the push is still refused: its content is in the history being sent.
"""

from __future__ import annotations

from secretctl.core import hookcheck
from secretctl.core.hookcheck import Problem
from secretctl.core.pushrefs import RefUpdate
from secretctl.infra import detcache, gitobjects, gitrange, gitrepo
from secretctl.service.allvalues import values_redactor

TYPE_CHECKING = False
if TYPE_CHECKING:  # importing typing costs every push ~3 ms: for mypy only
    from collections.abc import Sequence
    from pathlib import Path
    from typing import Any

    from secretctl.core.hookcheck import Problem
    from secretctl.service.vault import Vault

def resolve(root: Path, rev: str) -> str:
    """The object id ``rev`` names (`git rev-parse --verify`): the pre-push hook's refs."""
    return gitrepo.run(root, "rev-parse", "--verify", "-q", rev)


def pushed_commits(vault: Vault, updates: Sequence[RefUpdate]) -> list[str]:
    """Every commit the ref updates send, oldest first, each once."""
    seen: dict[str, None] = {}
    for u in updates:
        if u.is_deletion:
            continue
        for c in gitrange.commits_to_push(vault.root, u.local_oid, None if u.is_new else u.remote_oid):
            seen.setdefault(c, None)
    return list(seen)


def check_push(vault: Vault, updates: Sequence[RefUpdate], *, deep: bool = False) -> list[Problem]:
    """Problems in the commits a push sends; each names ``<commit>:<path>`` (``git show`` takes it)."""

    detcache.install()  # the detectors' compiled set from the cache (see precommit.check_staged)
    root = vault.root
    commits = pushed_commits(vault, updates)
    changed = gitrange.changed_in_commits(root, commits)
    # One cat-file for everything: the changed blobs, and for each commit the recipients files
    # that could govern them and its policy (names that do not exist simply come back missing).
    names: list[str] = []
    for c, entries in changed.items():
        names.append(f"{c}:{hookcheck.POLICY}")
        for _, oid, path in entries:
            names.append(oid)
            names += [f"{c}:{d}" for d in hookcheck.recipients_candidates(path)]
    objects = gitobjects.read_objects(root, names)
    # Every value is decrypted for the redactor only when a pushed file is one it reads.
    reads = any(hookcheck.reads_values(mode, path) for entries in changed.values() for mode, _, path in entries)
    redactor = values_redactor(vault) if deep and reads else None
    problems: list[Problem] = []
    checked: set[tuple[str, str, bytes | None]] = set()
    for c in commits:
        todo = []
        for mode, oid, path in changed.get(c, []):
            nearest = next((objects[f"{c}:{d}"] for d in hookcheck.recipients_candidates(path)
                            if f"{c}:{d}" in objects), None)
            # The same content under the same recipients was checked in an earlier commit.
            seen = (path, oid, nearest)
            if seen in checked:
                continue
            checked.add(seen)
            todo.append((mode, oid, path))
        if todo:
            problems += [Problem(f"{c[:12]}:{p.path}", p.reason)
                         for p in _check_commit(c, todo, objects, redactor)]
    return problems


def _check_commit(commit: str, entries: list[tuple[str, str, str]], objects: dict[str, bytes],
                  redactor: Any) -> list[Problem]:
    files = [hookcheck.StagedFile(path, mode, objects.get(oid, b"")) for mode, oid, path in entries]
    policy = objects.get(f"{commit}:{hookcheck.POLICY}")
    return hookcheck.check_files(files, recipients_for=hookcheck.governing(lambda rp: objects.get(f"{commit}:{rp}")),
                                 redactor=redactor, script_paths=hookcheck.policy_scripts(policy))
