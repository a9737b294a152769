"""Changing git's index and making commits: exact paths in, one commit out, and the index put
back to HEAD when a mutation is undone. Git runs through :func:`gitrepo.git` only."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from secretctl.core import faults
from secretctl.infra import settings
from secretctl.infra.gitobjects import tree_of
from secretctl.infra.gitpack import BlobStager
from secretctl.infra.gitrepo import common_dir, config_names, config_values, git, git_dir, head, run

_COMMIT_CONFIG = ("user.name", "user.email", "commit.gpgsign", "core.hookspath", "extensions.objectformat", "gc.auto",
                  "gc.autopacklimit", "core.splitindex")


def _commit_config(root: Path) -> dict[str, str]:
    """The settings a commit depends on (names lower-cased), with no git call of their own."""
    return config_values(root, _COMMIT_CONFIG)


def _identity_env(config: dict[str, str], actor: str) -> dict[str, str]:
    """Commit as the configured git user; fall back to the actor so a fresh CI box can commit."""
    env: dict[str, str] = {}
    if not config.get("user.name") and "GIT_AUTHOR_NAME" not in settings.environ():
        env["GIT_AUTHOR_NAME"] = env["GIT_COMMITTER_NAME"] = actor or "secretctl"
    if not config.get("user.email") and "GIT_AUTHOR_EMAIL" not in settings.environ():
        env["GIT_AUTHOR_EMAIL"] = env["GIT_COMMITTER_EMAIL"] = "secretctl@localhost"
    return env


_COMMIT_HOOKS = ("pre-commit", "prepare-commit-msg", "commit-msg", "post-commit")


def _has_commit_hooks(root: Path, config: dict[str, str]) -> bool:
    hooks = Path(config["core.hookspath"]).expanduser() if config.get("core.hookspath") else common_dir(root) / "hooks"
    if not hooks.is_absolute():
        hooks = root / hooks
    return any(os.access(hooks / name, os.X_OK) for name in _COMMIT_HOOKS)


def commit_paths(root: Path, paths: Sequence[str], message: str, *, actor: str,
                 staged: BlobStager | None = None) -> str | None:
    """Stage exactly ``paths`` (added, changed or deleted) and commit them in one commit.

    ``staged`` holds some of those paths, already on their way into the index. Other changes
    in the work tree are left alone; changes staged by hand go into the commit, as with `git
    commit`. Returns the new commit id, or None when nothing changed.
    """
    config = _commit_config(root)
    if staged is not None and staged.wait():
        rest = sorted(set(paths) - staged.blobs.keys())
    else:
        rest = sorted(set(paths) | (staged.blobs.keys() if staged else set()))
    if rest:
        # update-index takes exact paths on stdin (added, changed or gone): unlike `git add` with
        # pathspecs it does not match every index entry against every path.
        git(root, *_split_index_repair(root, config), "update-index", "--add", "--remove", "-z", "--stdin",
            input=b"\0".join(p.encode() for p in rest) + b"\0")
    faults.point("git.staged")
    env = {**settings.environ(), **_identity_env(config, actor)}
    if _has_commit_hooks(root, config) or _is_true(config, "commit.gpgsign"):
        # Hooks or signing: `git commit` does all of it as usual. A bulk commit's trailers can
        # exceed the argv limit: the message goes on stdin (no value in it).
        if not git(root, "diff", "--cached", "--quiet", check=False).returncode:
            return None
        git(root, "commit", "-q", "-F", "-", env=env, input=message.encode(), hooks=True, signing=True)
        return run(root, "rev-parse", "HEAD")
    # Plumbing skips what `git commit` adds here: a refresh that stats every file of the vault
    # and a second index write (100 ms of a 10,000-secret vault's commit). The tree is the whole
    # index, as `git commit` would commit it (changes staged by hand included); it equals the
    # parent's when nothing changed, which spares a `git diff --cached` (each git call that
    # reads the index reads all of it).
    tree = run(root, "write-tree")
    parent = head(root)
    if parent is not None and tree == tree_of(root, parent):
        return None
    commit = git(root, "commit-tree", tree, *(["-p", parent] if parent else []), "-F", "-", env=env,
                 input=message.encode()).stdout.decode().strip()
    subject = message.split("\n", 1)[0]
    faults.point("git.commit-created")
    git(root, "update-ref", "-m", f"commit: {subject}" if parent else f"commit (initial): {subject}",
        "HEAD", commit, parent or "0" * len(commit))
    if _maintenance_due(root, config):
        git(root, "maintenance", "run", "--auto", "--quiet", check=False)  # what `git commit` would start
    return commit


# More entries than this in the split part of a split index: make the next write a new shared index.
SPLIT_PART_LIMIT = 1000


def _split_index_repair(root: Path, config: dict[str, str]) -> tuple[str, ...]:
    """git's ``-c`` options for the next index write: a new shared index when the split part
    has grown past :data:`SPLIT_PART_LIMIT` entries, else none.

    git rewrites the shared part only when more than ``splitIndex.maxPercentChange`` (20%) of
    the entries are new; an entry whose file timestamps were refreshed is kept in the split part
    as a replacement, which that rule does not count. Entries staged without timestamps (a bulk
    import's pack) or racily clean ones are refreshed by the next `git status` or `git commit`,
    and from then on every index read and write carried them all: 20,087 of a 10,000-secret
    vault's 20,000 entries, a 1.29 MB split part read and written twice per `set`
    (update-index and write-tree, 11-12 ms of CPU each, against 5-6 ms once repaired). The
    entry count is the index header's (12 bytes read, no git call)."""
    if not _is_true(config, "core.splitindex"):
        return ()
    try:
        with open(git_dir(root) / "index", "rb") as fh:
            header = fh.read(12)
    except OSError:
        return ()
    if len(header) < 12 or header[:4] != b"DIRC" or int.from_bytes(header[8:12], "big") <= SPLIT_PART_LIMIT:
        return ()
    return ("-c", "splitIndex.maxPercentChange=0")  # 0: "always write a new shared index" (git-config(1))


def _is_true(config: dict[str, str], name: str) -> bool:
    """A boolean key of git's config read as git reads true (unset is false)."""
    return config.get(name, "").lower() in ("true", "yes", "on", "1")


def _maintenance_due(root: Path, config: dict[str, str]) -> bool:
    """Whether `git maintenance run --auto` could do anything, by git's own rule for its default
    task (gc: more than gc.auto/256 loose objects in objects/17, or more than gc.autoPackLimit
    packs), so a commit starts it only then (a git process per commit otherwise). Any
    maintenance.* setting leaves the decision to git."""
    if any(k.startswith("maintenance.") for k in config_names(root)):
        return True
    try:
        auto = int(config.get("gc.auto", "6700"))
        pack_limit = int(config.get("gc.autopacklimit", "50"))
    except ValueError:
        return True  # git parses sizes like 1k: let it decide
    if auto <= 0:
        return False
    objects = common_dir(root) / "objects"
    try:
        loose = sum(1 for n in os.listdir(objects / "17") if len(n) in (38, 62))
    except OSError:
        loose = 0
    if loose > -(-auto // 256):
        return True
    if pack_limit <= 0:
        return False
    try:
        names = set(os.listdir(objects / "pack"))
    except OSError:
        return False
    packs = [n for n in names if n.endswith(".pack") and n[:-5] + ".keep" not in names]
    return len(packs) > pack_limit


def head_entries(root: Path, paths: Sequence[str]) -> dict[str, tuple[str, str]]:
    """HEAD's (mode, object id) of those ``paths`` it has: one ``ls-tree``, which writes nothing
    (a rollback on a full disk reads it before it can write)."""
    found: dict[str, tuple[str, str]] = {}
    if not paths or head(root) is None:
        return found
    listing = git(root, "ls-tree", "-r", "-z", "--full-tree", "HEAD").stdout
    wanted = set(paths)
    for rec in listing.split(b"\0"):
        info, _, name = rec.partition(b"\t")
        path = name.decode(errors="surrogateescape")
        if path in wanted:
            mode, _type, sha = info.split(b" ")
            found[path] = (mode.decode(), sha.decode())
    return found


def reset_index(root: Path, paths: Sequence[str], entries: dict[str, tuple[str, str]]) -> None:
    """Make git's index entries of exactly ``paths`` those of ``entries`` (HEAD's, from
    :func:`head_entries`; a path it lacks is dropped); the work tree is the caller's. One
    ``update-index --index-info`` (mode 0 drops an entry): exact paths on stdin, so undoing an
    import of thousands costs two git calls, not a pathspec match per index entry. The entries
    carry no file timestamps: the next ``git status`` re-reads those files once."""
    if not paths:
        return
    current = head(root)
    null = "0" * len(current or "0" * 40)  # a SHA-256 repository's ids are 64 digits
    info_lines = []
    for p in paths:
        mode, sha = entries.get(p, ("0", null))
        info_lines.append(b"%s %s\t%s\0" % (mode.encode(), sha.encode(), p.encode(errors="surrogateescape")))
    git(root, "update-index", "-z", "--index-info", input=b"".join(info_lines))


def checkout_paths(root: Path, paths: Sequence[str]) -> None:
    """Write the index's version of ``paths`` into the work tree (``checkout-index``). It writes
    one file at a time, unlinking each first (2,000 files: 5-7 s here): for regular files,
    recovery writes HEAD's bytes itself in bulk; this is for the rest (links)."""
    if paths:
        git(root, "checkout-index", "-f", "-u", "-z", "--stdin", input=b"\0".join(p.encode() for p in paths) + b"\0")
