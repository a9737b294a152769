"""The intent journal on disk: ``<git dir>/secretctl/journal``, one per vault (or git worktree).

Only ever appended to while a mutation runs (under the vault lock), each append fsynced before
the files it names are touched; removed once the mutation has committed or been undone. Its
records are defined and parsed in ``core/intent.py``; recovery (``service/recovery.py``) reads
it. Outside ``.git`` nothing would keep it out of commits, and git never touches this folder.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from secretctl.core import intent
from secretctl.errors import ConflictError, SecretctlError
from secretctl.infra import store

NAME = "journal"


def journal_path(git_dir: Path) -> Path:
    return git_dir / "secretctl" / NAME


def _failed(path: Path, exc: OSError) -> SecretctlError:
    return SecretctlError(f"cannot write the intent journal {path}: {exc.strerror or type(exc).__name__}",
                          hint="check that the vault is writable and the disk has space; nothing was changed")


def begin(path: Path, first: bytes) -> None:
    """Create the journal holding ``first`` (the header and the first paths), durably: the file's
    bytes and its name in the folder are on disk before this returns."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
    except FileExistsError:
        raise ConflictError("an interrupted command's journal is still pending",
                            hint="run the command again: secretctl recovers it first") from None
    except OSError as exc:
        raise _failed(path, exc) from None
    try:
        try:
            store.write_all(fd, first)
            os.fsync(fd)
        finally:
            os.close(fd)
        _fsync_dir(path.parent)
    except OSError as exc:
        # Nothing was touched yet: no journal is the truth.
        with contextlib.suppress(OSError):
            path.unlink()
        raise _failed(path, exc) from None


def append(path: Path, line: bytes) -> None:
    """Add one record, durably, before the files it names are touched."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        try:
            store.write_all(fd, line)
            os.fdatasync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        raise _failed(path, exc) from None


def read(path: Path) -> tuple[bool, intent.Intent | None]:
    """(whether a journal file exists, the intent it records: None when not even its header
    became durable)."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(intent.MAX_JOURNAL_BYTES + 1)
    except FileNotFoundError:
        return False, None
    except OSError as exc:
        raise SecretctlError(f"cannot read the intent journal {path}: {exc.strerror or type(exc).__name__}",
                             hint="check the vault's permissions") from None
    return True, intent.parse(data, source=str(path))


def clear(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()


def pending(git_dir: Path) -> bool:
    """Whether a journal exists: one stat, cheap enough for every command."""
    return os.path.lexists(journal_path(git_dir))


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

