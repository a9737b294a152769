"""`check`: everything that can be wrong with a vault, as a list of problems."""

from __future__ import annotations

import os
from pathlib import Path

from secretctl.core import agefile
from secretctl.core import fields as fields_mod
from secretctl.core import keys as keys_mod
from secretctl.core.recipients import (
    RECIPIENTS_FILE,
)
from secretctl.errors import (
    IdentityError,
    SecretctlError,
)
from secretctl.infra import store
from secretctl.service.base import _SKIP_DIRS, CONFIG_DIR, POLICY_PATHSPEC, RECIPIENTS_PATHSPEC, SIDECAR_PATHSPEC
from secretctl.service.members import Members
from secretctl.service.results import CheckProblem

TYPE_CHECKING = False  # typing costs every start ~3 ms to import: for mypy only

if TYPE_CHECKING:
    pass

class Health(Members):
    def uncommitted_trust_files(self) -> list[tuple[str, str]]:
        """(path, what) for each recipients file, sidecar or policy whose work-tree version
        differs from HEAD: secretctl ignores such changes (it uses HEAD's) or refuses them."""
        from secretctl.infra import gitrepo

        out = []
        for status, rel in gitrepo.uncommitted(self.root, [RECIPIENTS_PATHSPEC, SIDECAR_PATHSPEC, POLICY_PATHSPEC]):
            what = {"??": "not committed", "!!": "not committed (and ignored by .gitignore)"}.get(
                status, "deleted" if "D" in status else "changed")
            out.append((rel, what))
        return out

    def check(self, *, decrypt: bool = True) -> list[CheckProblem]:
        """Every problem in the vault: unreadable files, bad sidecars, stale recipients, expiry."""

        self.require()
        problems: list[CheckProblem] = []
        for d in self.recipients_files():
            try:
                self.recipients_file(d)
            except SecretctlError as exc:
                problems.append(CheckProblem(f"{d}/{RECIPIENTS_FILE}".lstrip("/"), exc.message))
        now = self.clock()
        unlocked = None
        if decrypt:
            try:
                unlocked = self.unlock()
            except SecretctlError as exc:
                problems.append(CheckProblem(str(self.identity_path), f"{exc.message} (checked headers only)",
                                             "warning"))
        for k in self.key_names():
            rel = keys_mod.secret_path(k)
            data = (self.root / rel).read_bytes()
            try:
                if unlocked is None:
                    agefile.parse_header(data, source=rel)
                else:
                    unlocked.decrypt(data, source=rel)  # checks the header strictly first
            except IdentityError as exc:
                problems.append(CheckProblem(rel, exc.message, "warning"))
            except SecretctlError as exc:
                problems.append(CheckProblem(rel, exc.message))
            try:
                m = self.meta(k)
                _, rfile = self.governing(k)
            except SecretctlError as exc:
                problems.append(CheckProblem(keys_mod.meta_path(k), exc.message))
                continue
            if m is None:
                continue
            legacy = fields_mod.legacy_problem(m)
            if legacy is not None:
                problems.append(CheckProblem(keys_mod.meta_path(k), legacy))
            if m.recipients_fingerprint and m.recipients_fingerprint != rfile.fingerprint():
                problems.append(CheckProblem(rel, "encrypted to an old recipient set; run `secretctl reencrypt`"))
            if m.expired(now):
                problems.append(CheckProblem(rel, "expired; rotate it", "expired"))
        for rel, what in self.uncommitted_trust_files():
            problems.append(CheckProblem(rel, f"uncommitted change ({what}): secretctl uses the committed version "
                                              "for encryption and agent runs; commit it, or restore it with "
                                              f"git checkout HEAD -- {rel}"))
        # Sidecars without a secret are left over from a hand-made delete.
        for dirpath, dirnames, filenames in os.walk(self.root):
            dirnames[:] = [d for d in dirnames if d not in _SKIP_DIRS]
            for f in filenames:
                if f.endswith(keys_mod.META_SUFFIX):
                    relm = (Path(dirpath) / f).relative_to(self.root).as_posix()
                    if not (self.root / (relm[: -len(keys_mod.META_SUFFIX)] + ".age")).exists():
                        problems.append(CheckProblem(relm, "sidecar without a secret; delete it"))
        reported = {p.path for p in problems}  # uncommitted trust files are reported above
        return problems + [p for p in self.worktree_problems() if p.path not in reported]

    def worktree_problems(self) -> list[CheckProblem]:
        """Every difference between the work tree (and index) and HEAD for vault files, temp files
        a killed write left, and an interrupted command's journal that is still pending.
        secretctl leaves none of these behind: each one is a crash not yet recovered, or a change
        by hand that no commit records."""
        from secretctl.core import intent
        from secretctl.infra import gitrepo, journal

        if not (self.root / ".git").exists():
            return []
        problems: list[CheckProblem] = []
        jpath = journal.journal_path(self.git_dir)
        if os.path.lexists(jpath):
            problems.append(CheckProblem(str(jpath), "an interrupted command's journal is still pending: run any "
                                         "secretctl command to recover it (see docs/cli.md if it cannot)"))
        sealed = set(self.sealed_logs())  # access records sealed for the next commit: expected
        for code, path in gitrepo.status(self.root):
            if path in sealed:
                continue
            if store.temp_target(path.rsplit("/", 1)[-1]) is not None:
                problems.append(CheckProblem(path, "temp file left by an interrupted write; delete it"))
                continue
            if not (intent.path_ok(path) or path.startswith(f"{CONFIG_DIR}/") or path == ".gitattributes"):
                continue
            problems.append(CheckProblem(path, _describe_status(code)))
        return problems


_STAGED = {"M": "a modification", "A": "a new file", "D": "a deletion", "T": "a type change"}
_CHANGED = {"M": "modified", "D": "deleted", "T": "type changed"}


def _describe_status(code: str) -> str:
    """A ``git status`` two-letter code, for a person."""
    if code == "??":
        return "untracked: not in HEAD (remove it, or store it with secretctl)"
    states = []
    if code[0] in _STAGED:
        states.append(f"{_STAGED[code[0]]} staged")
    if code[1] in _CHANGED:
        states.append(_CHANGED[code[1]])
    what = " and ".join(states) or f"git status {code.strip()}"
    return f"differs from HEAD ({what}), not committed: `git status` shows it; `git restore -SW FILE` undoes it"
