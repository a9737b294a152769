"""What steers encryption is taken from HEAD (service layer).

A same-user process can write a ``.age-recipients`` file into the work tree (one extra key,
or a new file in a folder, or delete one so the folder falls back to its parent's set).
Encrypting to the work tree's file would hand every later value in that folder to the
attacker. So the recipients a secret is encrypted to are HEAD's, and the work tree must
agree with HEAD along the whole way up from the secret's folder; otherwise the command
stops and says what differs. ``member add``/``remove`` (or the person's own commit) is how
recipients change: they mark what they wrote in this mutation as theirs (``written``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from secretctl.core.recipients import RECIPIENTS_FILE, Recipient, RecipientsFile, parse_recipients_file
from secretctl.errors import SecretctlError, TamperedError, VaultCorruptError

MAX_RECIPIENTS_BYTES = 256 * 1024


def _chain(folder: str) -> list[str]:
    """``a/b`` -> ``["a/b", "a", ""]``: the folders whose file could govern a key in ``folder``."""
    parts = folder.split("/") if folder else []
    return ["/".join(parts[:i]) for i in range(len(parts), -1, -1)]


def _file(folder: str) -> str:
    return f"{folder}/{RECIPIENTS_FILE}" if folder else RECIPIENTS_FILE


class CommittedRecipients:
    """The recipients that govern each folder, read from HEAD (one ``git cat-file`` call per
    batch of folders) and checked against the work tree."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.written: dict[str, RecipientsFile] = {}  # folder -> what this mutation wrote there
        self._head: dict[str, bytes | None] = {}
        self._answers: dict[str, tuple[str, RecipientsFile]] = {}

    def wrote(self, folder: str, rfile: RecipientsFile) -> None:
        """``member add``/``remove`` changed this folder's file (from a committed base)."""
        self.written[folder] = rfile
        self._answers.clear()

    def prefetch(self, keys: Iterable[str]) -> None:
        """Read HEAD's files for every folder of ``keys`` at once (bulk commands)."""
        folders = {k.rpartition("/")[0] for k in keys}
        self._fetch([_file(d) for f in folders if f not in self._answers for d in _chain(f)])

    def _fetch(self, paths: list[str]) -> None:
        from secretctl.infra import gitobjects

        missing = [p for p in dict.fromkeys(paths) if p not in self._head]
        if missing:
            self._head.update(gitobjects.committed_many(self.root, missing))

    def governing(self, key: str) -> tuple[str, RecipientsFile]:
        """(folder of the governing file, HEAD's parsed file) for ``key``; TamperedError if the
        work tree differs from HEAD on the way up."""
        folder = key.rpartition("/")[0]
        found = self._answers.get(folder)
        if found is not None:
            return found
        chain = _chain(folder)
        self._fetch([_file(d) for d in chain if d not in self.written])
        for d in chain:
            if d in self.written:
                found = (d, self.written[d])
                break
            head = self._head[_file(d)]
            disk = self._disk(d)
            if disk != head:
                raise TamperedError(describe(_file(d), head, disk),
                                    hint="if you made this change, commit it or use `secretctl member add/remove`; "
                                         f"if not, restore it: git checkout HEAD -- {_file(d)}"
                                    if head is not None else
                                    "if you made this change, commit it or use `secretctl member add --path`; "
                                    f"if not, delete it: rm {_file(d)}")
            if head is not None:
                found = (d, parse_recipients_file(head, source=f"{_file(d)}@HEAD"))
                break
        if found is None:
            raise VaultCorruptError("the vault has no committed .age-recipients file at its root",
                                    hint="add one: secretctl member add NAME RECIPIENT")
        self._answers[folder] = found
        return found

    def _disk(self, folder: str) -> bytes | None:
        path = os.path.join(self.root, folder, RECIPIENTS_FILE)
        try:
            with open(path, "rb") as fh:
                return fh.read(MAX_RECIPIENTS_BYTES + 1)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            raise VaultCorruptError(f"{_file(folder)}: cannot read it ({exc.strerror})") from None


def _short(text: str) -> str:
    return text if len(text) <= 24 else f"{text[:12]}...{text[-6:]}"


def describe(rel: str, head: bytes | None, disk: bytes | None) -> str:
    """One line saying how the work tree's recipients file differs from HEAD's, naming the
    extra and missing recipients (name and a shortened recipient)."""
    if head is None:
        return f"{rel} is not committed: secretctl encrypts only to committed recipients"
    if disk is None:
        return f"{rel} was deleted but is committed: secretctl encrypts only to committed recipients"
    try:
        mine = {r.text: r for r in parse_recipients_file(disk, source=rel).recipients}
        theirs = {r.text: r for r in parse_recipients_file(head, source=f"{rel}@HEAD").recipients}
    except SecretctlError as exc:
        return f"{rel} differs from its committed version and does not parse: {exc.message}"
    extra = [mine[t] for t in mine if t not in theirs]
    gone = [theirs[t] for t in theirs if t not in mine]

    def names(rs: list[Recipient]) -> str:
        shown = ", ".join(f"{r.name or '?'} {_short(r.text)}" for r in rs[:3])
        return shown + (" ..." if len(rs) > 3 else "")

    parts = ([f"+{len(extra)} ({names(extra)})"] if extra else []) + ([f"-{len(gone)} ({names(gone)})"] if gone else [])
    what = "; ".join(parts) if parts else "same recipients, other bytes"
    return f"{rel} differs from its committed version: {what}"
