"""A crash leaves the old state or the new, never a third: the intent journal around every
mutation, and the recovery the next command runs first.

A mutation opens an :class:`IntentLog` under the vault lock and names every vault file before it
touches it (``cover``); the journal (``infra/journal.py``) makes each name durable first. When
the commit has landed it ``finish``\\es (the journal goes); when it fails it ``roll_back``\\s.
When it was killed, the next command (holding the vault lock) calls :func:`recover`, which:

1. waits for git processes still working in the vault (a killed secretctl's git children run on
   to their end), then removes git lock files their dead owners left (``infra/gitlocks.py``);
2. makes every file the journal names, in the index and the work tree, what HEAD has:
   HEAD is still the starting commit (the change is rolled back) or it is the mutation's own
   commit (the change is complete, and this is a no-op). Files HEAD lacks are removed;
3. removes the temp files of those files;
4. removes the journal, and says what it did in one line.

Every step is idempotent: a recovery killed half-way is finished by the next one.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable
from pathlib import Path

from secretctl.core import faults, intent
from secretctl.core.frozen import field, frozen, mutable
from secretctl.errors import SecretctlError
from secretctl.infra import gitcommit, gitlocks, gitobjects, gitpack, gitrange, gitrepo, journal, store


@frozen
class Recovered:
    """What recovery did, for the front end's one line."""

    op: str | None  # None: only stale git locks were cleared
    outcome: str  # "rolled back" | "completed" | "reset to HEAD" | "discarded"
    head: str | None
    files: int = 0
    temps: int = 0
    locks: tuple[str, ...] = ()

    def line(self) -> str:
        short = (self.head or "")[:7] or "an empty history"
        locks = f"; removed the stale git lock {', '.join(self.locks)}" if self.locks else ""
        if self.op is None:
            return f"removed the stale git lock {', '.join(self.locks)} (no git process was using it)"
        if self.outcome == "rolled back":
            what = f"rolled back to {short}"
        elif self.outcome == "completed":
            what = f"completed as {short}"
        elif self.outcome == "discarded":
            what = "nothing had been changed yet"
        else:
            what = f"its files reset to HEAD {short}, which moved since it started"
        return f"recovered an interrupted '{self.op}' ({what}){locks}"


@mutable
class IntentLog:
    """The journal of one running mutation. Every vault file the mutation writes or removes is
    ``cover``\\ed first; the journal is created by the first ``cover``, so a mutation that fails
    before touching anything leaves no journal behind."""

    root: Path
    git_dir: Path
    op: str
    head: str | None
    started: str
    covered: set[str] = field(default_factory=set)

    @property
    def path(self) -> Path:
        return journal.journal_path(self.git_dir)

    def cover(self, paths: Iterable[str]) -> None:
        new = [p for p in dict.fromkeys(paths) if p not in self.covered]
        if not new:
            return
        line = intent.paths_line(new)
        if self.covered:
            journal.append(self.path, line)
        else:
            journal.begin(self.path, intent.header_line(self.op, self.head, os.getpid(), self.started) + line)
        self.covered.update(new)
        faults.point("journal.written")

    def finish(self) -> None:
        """The commit landed (or there was nothing to commit): the change is complete."""
        journal.clear(self.path)

    def roll_back(self) -> Recovered | None:
        """Undo what this mutation did, from its journal; on failure the journal stays for the
        next command to finish."""
        if not self.covered:
            return None
        return _settle(self.root, self.git_dir, read_intent(self.path))


def read_intent(path: Path) -> intent.Intent | None:
    return journal.read(path)[1]


def recover(root: Path, git_dir: Path, *, wait: float = 5.0) -> Recovered | None:
    """Finish or undo an interrupted mutation and clear dead git locks. The caller holds the
    vault lock. None when there was nothing to do."""
    path = journal.journal_path(git_dir)
    exists = os.path.lexists(path)
    if exists:
        # A killed secretctl's git children (update-index, index-pack, commit) run on: let them end
        # before deciding whether the commit landed.
        gitlocks.wait_for_git([root, *gitrepo.git_dirs(root)], wait)
    locks = tuple(gitlocks.clear_stale(root, wait=wait if exists else 0.0))
    if not exists:
        return Recovered(None, "locks", gitrepo.head(root), locks=locks) if locks else None
    found, recorded = journal.read(path)
    if recorded is None:
        # Not even the header became durable: nothing was touched.
        journal.clear(path)
        return Recovered("unknown", "discarded", gitrepo.head(root), locks=locks) if found else None
    done = _settle(root, git_dir, recorded)
    return Recovered(done.op, done.outcome, done.head, done.files, done.temps, locks)


def _settle(root: Path, git_dir: Path, recorded: intent.Intent | None) -> Recovered:
    """Make the named files what HEAD has, tidy up, and remove the journal (the last step)."""
    path = journal.journal_path(git_dir)
    if recorded is None:
        journal.clear(path)
        return Recovered("unknown", "discarded", gitrepo.head(root))
    head = gitrepo.head(root)
    # A git that failed on a full disk leaves its half-written object: the undo needs the room.
    gitlocks.clear_git_temps(root)
    gone = _restore(root, list(recorded.paths))
    faults.point("recovery.restored")
    for folder in sorted({rel.rpartition("/")[0] for rel in gone}, key=len, reverse=True):
        # Folders the mutation created and left empty go; a file in a folder's place stays.
        if folder and os.path.isdir(root / folder) and not os.path.islink(root / folder):
            with contextlib.suppress(OSError):
                store.prune_empty_dirs(root / folder, root)
    temps = _remove_temps(root, recorded.paths)
    # Written (atomically) inside a mutation too, and not named by the journal: the access-log
    # marker and the members' access logs (a kill between a log's temp file and its rename left
    # the temp file, which `check` then reported).
    temps += _remove_temps(git_dir, ["secretctl/audit-sealed"])
    temps += _remove_temps_in(root / intent.AUDIT_DIR, lambda name: name.endswith(".jsonl"))
    landed = _landed(root, recorded, head)
    if head == recorded.head:
        outcome = "rolled back"
    elif landed is not None:
        outcome, head = "completed", landed
    else:
        outcome = "reset to HEAD"
    journal.clear(path)
    return Recovered(recorded.op, outcome, head, len(recorded.paths), temps)


def _landed(root: Path, recorded: intent.Intent, head: str | None) -> str | None:
    """The interrupted mutation's own commit, if it landed before the crash: the commit right
    after the starting one on HEAD's first-parent line, carrying the operation's trailer (a
    `git pull` run by hand before the next secretctl command brings other commits)."""
    from secretctl.core import audit

    if head is None or recorded.head is None or head == recorded.head:
        return None
    found = gitrange.next_on_first_parent_line(root, recorded.head, head)
    if found is None:
        return None
    trailers = audit.parse_trailers(found[2])
    return found[0] if trailers is not None and trailers.action == recorded.op else None


_BATCH_BYTES = 64 * 1024 * 1024  # HEAD's files are read from git this much at a time: bounded memory


def _restore(root: Path, paths: list[str]) -> list[str]:
    """Make ``paths`` in git's index and in the work tree what HEAD has; returns those HEAD lacks
    (their files removed). The files HEAD lacks go first, before git writes its index: an import
    that failed on a full disk gives back the room they took, which the index and the rewrite
    need. A regular file is rewritten only if its bytes differ from HEAD's, in bulk through
    store.write_many (each file old or new, never missing or torn)."""
    entries = gitcommit.head_entries(root, paths)
    gone = [p for p in paths if p not in entries]
    store.remove_many(_removable(root, gone))  # before git writes its index: that needs room too
    gitcommit.reset_index(root, paths, entries)
    differ: list[tuple[str, str, str]] = []
    special: list[str] = []
    for rel, (mode, oid) in entries.items():
        if mode not in ("100644", "100755"):
            special.append(rel)
            continue
        try:
            with open(os.path.join(root, rel), "rb") as fh:
                same = len(oid) == 40 and gitpack.blob_id(fh.read()) == oid
        except OSError:
            same = False
        if not same:
            differ.append((rel, mode, oid))
    sizes = gitobjects.object_sizes(root, [oid for _, _, oid in differ])
    chunk: list[tuple[str, str, str]] = []
    held = 0
    for i, item in enumerate(differ):
        chunk.append(item)
        held += sizes.get(item[2], 0)
        if held >= _BATCH_BYTES or i == len(differ) - 1:
            blobs = gitobjects.read_objects(root, [oid for _, _, oid in chunk])
            for mode in ("100644", "100755"):
                files = [(os.path.join(root, rel), blobs[oid]) for rel, m, oid in chunk if m == mode]
                if files:
                    store.write_many(files, mode=0o755 if mode == "100755" else 0o644)
            chunk, held = [], 0
    gitcommit.checkout_paths(root, special)
    return gone


def _removable(root: Path, paths: Iterable[str]) -> list[str]:
    """The files among ``paths`` that may be removed: never a folder, and never through a folder
    swapped for a link to somewhere else (each folder is checked once)."""
    real_root = os.path.realpath(root)
    folder_ok: dict[str, bool] = {}
    out = []
    for rel in paths:
        folder = rel.rpartition("/")[0]
        if folder not in folder_ok:
            expected = os.path.join(real_root, *folder.split("/")) if folder else real_root
            folder_ok[folder] = os.path.realpath(os.path.join(root, folder)) == expected
        target = os.path.join(root, rel)
        if folder_ok[folder] and (os.path.islink(target) or os.path.isfile(target)):
            out.append(target)
    return out


def _remove_temps(base: Path, paths: Iterable[str]) -> int:
    """Remove the temp files (store's naming) of ``paths`` under ``base``: each folder is listed once."""
    by_folder: dict[str, set[str]] = {}
    for rel in paths:
        folder, _, name = rel.rpartition("/")
        by_folder.setdefault(folder, set()).add(name)
    return sum(_remove_temps_in(base / folder if folder else base, names.__contains__)
               for folder, names in by_folder.items())


def _remove_temps_in(folder: Path, wanted: Callable[[str], bool]) -> int:
    """Remove the temp files (store's naming) in ``folder`` written for a name ``wanted`` accepts."""
    try:
        listing = os.listdir(folder)
    except OSError:
        return 0
    removed = 0
    for entry in listing:
        target = store.temp_target(entry)
        if target is not None and wanted(target):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(folder / entry)
                removed += 1
    return removed


def describe_failure(exc: SecretctlError) -> str:
    return f"an interrupted command could not be recovered yet: {exc.message}"
