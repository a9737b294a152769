"""Ranges of history: the commits a push sends and what each changes, and the next commit on a
first-parent line (recovery). Git runs through :func:`gitrepo.git` only."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from secretctl.infra.gitrepo import git


def commits_to_push(root: Path, local_oid: str, remote_oid: str | None) -> list[str]:
    """The commits a push of ``local_oid`` sends, oldest first: those not reachable from
    ``remote_oid`` (what the remote has), or, for a new ref or a remote state we never fetched,
    those not on any remote-tracking ref."""
    if remote_oid is not None and git(root, "cat-file", "-e", f"{remote_oid}^{{commit}}", check=False).returncode == 0:
        spec = [local_oid, "--not", remote_oid]
    else:
        spec = [local_oid, "--not", "--remotes"]
    out = git(root, "rev-list", "--topo-order", "--reverse", *spec).stdout.decode()
    return out.split()


def changed_in_commits(root: Path, commits: Sequence[str]) -> dict[str, list[tuple[str, str, str]]]:
    """Per commit, the entries it adds or changes against its first parent (everything, for a
    root commit): (mode, object id, path). Deletions are left out: they send no content."""
    out: dict[str, list[tuple[str, str, str]]] = {c: [] for c in commits}
    if not commits:
        return out
    raw = git(root, "diff-tree", "--stdin", "-r", "-z", "--root", "--no-renames", "--diff-merges=first-parent",
              input=("\n".join(commits) + "\n").encode()).stdout
    current: list[tuple[str, str, str]] | None = None
    fields = raw.split(b"\0")
    i = 0
    while i < len(fields):
        tok = fields[i].decode(errors="surrogateescape")
        if tok.startswith(":"):
            # ":old_mode new_mode old_oid new_oid status" then the path
            _, new_mode, _, new_oid, status = tok[1:].split(" ")
            path = fields[i + 1].decode(errors="surrogateescape")
            if current is not None and status != "D":
                current.append((new_mode, new_oid, path))
            i += 2
            continue
        if tok.strip():
            current = out.setdefault(tok.strip(), [])
        i += 1
    return out


def next_on_first_parent_line(root: Path, base: str, tip: str) -> tuple[str, str, str] | None:
    """The commit right after ``base`` on ``tip``'s first-parent line: (id, first parent, message);
    None if ``base`` is not on that line."""
    proc = git(root, "log", "--first-parent", "--reverse", "--format=%H%x00%P%x00%B%x1e", f"{base}..{tip}",
               check=False)
    if proc.returncode != 0:
        return None
    first = proc.stdout.decode(errors="replace").split("\x1e", 1)[0].strip("\n")
    parts = first.split("\0", 2)
    if len(parts) != 3:
        return None
    commit, parents, message = parts
    parent = parents.split()[0] if parents.split() else ""
    return (commit, parent, message) if parent == base else None
