"""Files on disk: atomic writes, size-limited reads, the vault's write lock.

Every write goes to a temp file in the same directory, is fsynced, then renamed over
the target, and the directory is fsynced: a crash leaves the old or the new file.
"""

from __future__ import annotations

import contextlib
import errno
import os
import time
from collections.abc import Iterator
from pathlib import Path

from secretctl.errors import ConflictError, NotFoundError, VaultCorruptError


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes, *, mode: int = 0o644, sync: bool = True) -> None:
    """Write ``data`` to ``path`` atomically. ``sync=False`` skips fsync for bulk writes
    that are followed by one :func:`sync_dirs` call (same crash guarantee at the commit)."""
    tmp = path.parent / f".{path.name}.tmp-{os.getpid()}-{time.monotonic_ns()}"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileNotFoundError:
        # Create the folder only when missing: bulk writes would pay a mkdir call per file.
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            if sync:
                os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if sync:
        _fsync_dir(path.parent)


def sync_dirs(paths: set[Path]) -> None:
    """fsync what bulk writes left unsynced: ``os.sync`` is one call for many files."""
    if paths:
        os.sync()


def read_limited(path: Path, limit: int, *, what: str, display: str | None = None) -> bytes:
    shown = display or str(path)
    try:
        with open(path, "rb") as fh:
            data = fh.read(limit + 1)
    except FileNotFoundError:
        raise NotFoundError(f"{what} not found: {shown}") from None
    except IsADirectoryError:
        raise VaultCorruptError(f"{shown}: is a directory, expected a file") from None
    except PermissionError:
        raise VaultCorruptError(f"{shown}: permission denied") from None
    if len(data) > limit:
        raise VaultCorruptError(f"{shown}: larger than {limit} bytes", hint="is this the right file?")
    return data


def remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def prune_empty_dirs(start: Path, stop: Path) -> None:
    """Remove now-empty directories from ``start`` up to (not including) ``stop``."""
    cur = start
    while cur != stop and stop in cur.parents:
        try:
            cur.rmdir()
        except OSError as exc:
            if exc.errno in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOENT):
                return
            raise
        cur = cur.parent


@contextlib.contextmanager
def locked(lock_path: Path, *, timeout: float = 30.0) -> Iterator[None]:
    """An exclusive advisory lock: concurrent writers wait their turn, never interleave."""
    import fcntl

    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise ConflictError("the vault is locked by another secretctl process",
                                        hint=f"wait for it to finish; if none is running, remove {lock_path}") from None
                time.sleep(0.02)
        yield
    finally:
        os.close(fd)
