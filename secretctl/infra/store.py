"""Files on disk: atomic writes, size-limited reads, the vault's write lock.

Every write goes to a temp file in the same directory, is fsynced, then renamed over
the target, and the directory is fsynced: a crash leaves the old or the new file.
"""

from __future__ import annotations

import errno
import os
import time

from secretctl.core import faults
from secretctl.errors import ConflictError, NotFoundError, ReadOnlyError, SecretctlError, VaultCorruptError

TYPE_CHECKING = False
if TYPE_CHECKING:
    # For mypy only: `get` through the unlock agent appends its access record here, and typing,
    # pathlib, contextlib and re would cost that fast path about 25 ms of imports.
    from collections.abc import Callable, Iterable, Iterator, Sequence
    from pathlib import Path
    from types import TracebackType
    from typing import TypeVar

    _T = TypeVar("_T")


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _temp_name(path: str, seq: int = 0) -> str:
    # Strings, not Paths: a bulk write names thousands. seq keeps the names of one batch apart
    # even if the clock has not moved between them. temp_target() reads this naming back.
    folder, name = os.path.split(path)
    return os.path.join(folder, f".{name}.tmp-{os.getpid()}-{time.monotonic_ns()}-{seq}")


_TEMP_NAME = r"\.(.+)\.tmp-[0-9]+-[0-9]+-[0-9]+"


def temp_target(name: str) -> str | None:
    """The name of the file a temp file called ``name`` was written for; None if it is not one
    of ours (crash recovery and `check` find what a killed write left)."""
    import re  # here: the fast path of `get` imports this module and never needs it

    m = re.fullmatch(_TEMP_NAME, name)
    return m.group(1) if m else None


def _create(tmp: str | Path, mode: int) -> int:
    try:
        return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileNotFoundError:
        # Create the folder only when missing: bulk writes would pay a mkdir call per file.
        os.makedirs(os.path.dirname(tmp), exist_ok=True)
        return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)


def write_all(fd: int, data: bytes | bytearray) -> None:
    """All of ``data`` to ``fd`` (os.write may write less than it is given)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


_READ_ONLY = (errno.EROFS, errno.EACCES, errno.EPERM)


def _read_only(what: str | Path, exc: OSError) -> ReadOnlyError:
    why = exc.strerror or type(exc).__name__
    if exc.errno != errno.EROFS:
        why += ", read-only for this user"
    return ReadOnlyError(f"{what} is read-only ({why}); nothing was changed",
                         hint="this needs write access to it (and, for a vault, to its .git); use a writable clone, "
                              "or ask its owner")


def _write_failed(path: str | Path, exc: OSError) -> SecretctlError:
    if exc.errno in _READ_ONLY:
        return _read_only(f"cannot write {path}: the folder", exc)
    return SecretctlError(f"cannot write {path}: {exc.strerror or type(exc).__name__}",
                          hint="check that the folder is writable, is not a file, and the disk has space")


def atomic_write(path: Path, data: bytes, *, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` atomically: temp file, fsync, rename, fsync the folder."""
    try:
        _atomic_write(path, data, mode)
    except OSError as exc:
        raise _write_failed(path, exc) from None


def _atomic_write(path: Path, data: bytes, mode: int) -> None:
    tmp = _temp_name(os.fspath(path))
    fd = _create(tmp, mode)
    try:
        try:
            write_all(fd, data)
            os.fchmod(fd, mode)  # the umask must not loosen or tighten what we asked for
            os.fsync(fd)
        finally:
            os.close(fd)
        faults.point("store.temp-written")
        os.replace(tmp, path)
    except BaseException:
        import contextlib  # here, not at the top: see the imports

        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)
    faults.point("store.file-written")


# Creating a file is kernel work that can dominate a bulk write, 2,000 files per 1,000 secrets
# (ext4 on this project's VMs: 15-30 us per file at rest, 0.3-0.75 ms for a minute or more after
# many files were deleted nearby); os.open, os.write and os.replace release the GIL, so a few
# threads spread it over the cores, while the caller's thread goes on producing files.
_WORKERS = min(4, os.cpu_count() or 1)
_REMOVERS = 8  # unlink waits on I/O, not on a core: more threads than cores still help
_CHUNK = 32  # files per task: a task per file costs more than the write (4,000 futures: 50 ms)


def write_many(files: Iterable[tuple[str | os.PathLike[str], bytes]], *, mode: int = 0o644,
               in_place: bool = False, sync_later: bool = False) -> Syncing | None:
    """Write many files with the crash guarantee of :func:`atomic_write`, at bulk speed.

    Every temp file is written first, one ``sync`` makes all of them durable, then each is
    renamed into place: a crash leaves every file old or new, never torn. A per-file fsync
    would cost one disk flush each (1,000 secrets: seconds instead of one flush).

    With ``in_place`` (only for a caller whose intent journal restores every one of these files
    from git after a crash or a failure: service/recovery.py), an existing regular file of ours
    is rewritten in its own inode and a missing one is created under its own name: no temp
    file, no rename, and no inode allocated or freed (ext4 charges each allocation for the
    inodes freed nearby in the last minute: 2,000 files rewritten in place took 55-75 ms here
    against 0.47-1.05 s replaced). A crash can then leave a torn file until the next command's
    recovery; a reader racing the rewrite of that very file may read a torn one, which fails
    its MAC or its parse (never other plaintext). Anything else (a link, a hard-linked or
    foreign file, not a regular file) is replaced atomically as before. Still one ``sync``.

    ``files`` may be a generator: writer threads take the first files while it produces the
    rest, so its work (encryption, which holds the GIL) overlaps the writes' system calls.

    With ``sync_later`` (with ``in_place`` only) and every file written in place, the ``sync``
    runs on a thread and the returned :class:`Syncing` is what the caller waits for before it
    relies on the files being on disk (a mutation: before its intent journal goes). Its git
    commit runs meanwhile: the sync of 2,000 rewritten files was most of a `member add`'s
    waiting once the files were written. A file that had to be replaced still syncs here,
    before its rename (atomicity needs the temp file durable first).
    """
    import itertools  # here, not at the top: see the imports

    # (temp file, target) pairs for the renames, each recorded before its file exists: a clean-up
    # sees every temp file.
    placing: list[tuple[str, str]] = []
    seq = itertools.count()  # next() is atomic under the GIL: the writer threads share it

    def named() -> Iterator[tuple[str, bytes]]:
        seen: set[str] = set()
        for path, data in files:
            target = os.fspath(path)
            if target in seen:
                # Renames run on several threads: which of two writes to one path won would be chance.
                raise ValueError("write_many: a path appears twice in one batch")
            seen.add(target)
            yield target, data

    def make(chunk: list[tuple[str, bytes]]) -> None:
        for target, data in chunk:
            try:
                if in_place and _write_in_place(target, data, mode):
                    continue  # no temp file: its name is not even made (2,000 names: ~10 ms)
                tmp = _temp_name(target, next(seq))
                placing.append((tmp, target))
                fd = _create(tmp, mode)
                try:
                    write_all(fd, data)
                    os.fchmod(fd, mode)
                finally:
                    os.close(fd)
            except OSError as exc:
                raise _write_failed(target, exc) from None
        faults.point("store.batch-writing")

    def place(chunk: list[tuple[str, str]]) -> None:
        for tmp, target in chunk:
            try:
                os.replace(tmp, target)
            except OSError as exc:
                raise _write_failed(target, exc) from None
        faults.point("store.batch-placing")

    try:
        _in_chunks(named(), make)
        faults.point("store.batch-temps-written")
        if sync_later and in_place and not placing:
            return Syncing()
        os.sync()
        _in_chunks(placing, place)
    except BaseException:
        import contextlib  # here, not at the top: see the imports

        for tmp, _ in placing:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        raise
    return None


class Syncing:
    """An ``os.sync()`` running on a thread (the system call releases the GIL); :meth:`wait`
    returns once it has returned. Where threads are refused, the sync runs at once."""

    def __init__(self) -> None:
        import threading

        self._thread: threading.Thread | None = threading.Thread(target=os.sync, name="secretctl-sync", daemon=True)
        try:
            self._thread.start()
        except RuntimeError:
            self._thread = None
            os.sync()

    def wait(self) -> None:
        if self._thread is not None:
            self._thread.join()
            self._thread = None


_IN_PLACE_FLAGS = os.O_WRONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC


def _write_in_place(target: str, data: bytes, mode: int) -> bool:
    """Write ``data`` into ``target`` itself; False where it must be replaced instead.

    Only a regular file with one link, owned by us, is rewritten: O_NOFOLLOW refuses a symbolic
    link (a committed one could point out of the vault), a second hard link would see the write,
    and O_NONBLOCK keeps a FIFO from blocking the open. A missing file is created under its own
    name (O_EXCL: never through a link). Errors of the write itself raise."""
    import stat

    try:
        fd = os.open(target, _IN_PLACE_FLAGS)
    except FileNotFoundError:
        try:
            fd = _create(target, mode)
        except FileExistsError:
            return False  # a dangling link, or a file that appeared meanwhile: replaced atomically
        try:
            write_all(fd, data)
            os.fchmod(fd, mode)
        finally:
            os.close(fd)
        return True
    except OSError:
        return False  # a link (ELOOP), a FIFO with no reader (ENXIO), no access...: the atomic path decides
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1 or st.st_uid != os.geteuid():
            return False
        view = memoryview(data)
        offset = 0
        while offset < len(view):
            offset += os.pwrite(fd, view[offset:], offset)
        if st.st_size > len(data):
            os.ftruncate(fd, len(data))
        if st.st_mode & 0o7777 != mode:
            os.fchmod(fd, mode)
    finally:
        os.close(fd)
    return True


def _in_chunks(items: Iterable[_T], work: Callable[[list[_T]], None], *, workers: int = _WORKERS) -> None:
    """``work`` on chunks of ``items``: each full chunk goes to a writer thread as soon as it is
    taken, the last one runs here. Returns once every chunk is done (so a clean-up sees every
    file touched) and raises the first error (in the chunks' order).

    Plain threads and a queue, not concurrent.futures: its import brings logging (and traceback,
    string, weakref...), ~12 ms of a bulk command's imports on a loaded machine for a pool of two."""
    import threading
    from queue import SimpleQueue

    tasks: SimpleQueue[tuple[int, list[_T]] | None] = SimpleQueue()
    errors: dict[int, BaseException] = {}
    threads: list[threading.Thread] = []

    def serve() -> None:
        while (task := tasks.get()) is not None:
            try:
                work(task[1])
            except BaseException as exc:  # raised by the caller's thread once every chunk is done
                errors[task[0]] = exc

    chunk: list[_T] = []
    taken = 0
    try:
        for item in items:
            chunk.append(item)
            if len(chunk) == _CHUNK:
                if workers > 1 and len(threads) < workers:
                    thread = threading.Thread(target=serve, name="secretctl-writer", daemon=True)
                    try:
                        thread.start()
                        threads.append(thread)
                    except RuntimeError:
                        workers = len(threads)  # no more threads to be had: those running (or this one) do the rest
                if threads:
                    tasks.put((taken, chunk))
                else:
                    work(chunk)
                taken += 1
                chunk = []
        work(chunk)
    finally:
        for _ in threads:
            tasks.put(None)
        for thread in threads:
            thread.join()  # nothing may still be touching a file during clean-up
    if errors:
        raise errors[min(errors)]


def read_limited(path: str | Path, limit: int, *, what: str, display: str | None = None,
                 follow: bool = True) -> bytes:
    """At most ``limit`` bytes of a file (VaultCorruptError past it). ``follow=False`` refuses a
    symbolic link as the last component (re-encryption: a committed link could make it re-encrypt
    a file from outside the vault for this vault's members)."""
    shown = display or str(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | (0 if follow else os.O_NOFOLLOW))
        try:
            data = _read_upto(fd, limit + 1)
        finally:
            os.close(fd)
    except FileNotFoundError:
        raise NotFoundError(f"{what} not found: {shown}") from None
    except IsADirectoryError:
        raise VaultCorruptError(f"{shown}: is a directory, expected a file") from None
    except PermissionError:
        raise VaultCorruptError(f"{shown}: permission denied") from None
    except OSError as exc:
        if exc.errno != errno.ELOOP:
            raise
        raise VaultCorruptError(f"{shown}: is a symbolic link, expected a file",
                                hint=f"a secret's file must be a regular file in the vault: git rm {shown}, "
                                     "or put the file itself there") from None
    if len(data) > limit:
        raise VaultCorruptError(f"{shown}: larger than {limit} bytes", hint="is this the right file?")
    return data


def _read_upto(fd: int, most: int) -> bytes:
    """At most ``most`` bytes of ``fd``, to its end. The first read asks for the file's size (plus
    one, to see it end): asking for ``most`` (a 64 MiB secret limit) allocated that much each
    time (a third of reading 1,000 small files)."""
    st = os.fstat(fd)
    ask = min(st.st_size + 1, most)
    data = os.read(fd, ask)
    if len(data) == most or (len(data) < ask and st.st_mode & 0o170000 == 0o100000):
        return data  # the limit reached, or a regular file's short read: its end
    parts = [data]
    total = len(data)
    while total < most:  # the file grew, or its size was not known (a FIFO, /proc)
        chunk = os.read(fd, min(most - total, 1 << 20))
        if not chunk:
            break
        parts.append(chunk)
        total += len(chunk)
    return b"".join(parts)


def remove(path: Path) -> None:
    path.unlink(missing_ok=True)


def remove_many(paths: Iterable[str]) -> None:
    """Remove many files (missing ones are fine) on several threads: each unlink mostly waits on
    the file system's journal, not a core, and threads overlap those waits (2,000 freshly written
    files on this project's 2-core VMs under load: 4.5-5.1 s one by one, 0.36-0.42 s on 4 threads)."""

    def unlink(chunk: list[str]) -> None:
        import contextlib  # here, not at the top: see the imports

        for path in chunk:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)

    _in_chunks(paths, unlink, workers=_REMOVERS)


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


def locked(lock_path: Path, *, timeout: float = 30.0, what: str | None = None) -> _Locked:
    """An exclusive advisory lock: concurrent writers wait their turn, never interleave. Taking it
    is the first write of every mutation: a folder that cannot be written is reported here, as
    ``what`` (e.g. "the vault at DIR") being read-only, before anything changed."""
    return _Locked(lock_path, timeout, what)


class _Locked:
    """``with store.locked(path):`` (a class, not contextlib's decorator: see the imports)."""

    def __init__(self, lock_path: Path, timeout: float, what: str | None) -> None:
        self.lock_path, self.timeout, self.what = lock_path, timeout, what
        self.fd = -1

    def __enter__(self) -> None:
        import fcntl

        lock_path = self.lock_path
        try:
            lock_path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            if exc.errno in _READ_ONLY:
                raise _read_only(self.what or lock_path.parent, exc) from None
            raise _write_failed(lock_path, exc) from None
        try:
            deadline = time.monotonic() + self.timeout
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise ConflictError("the vault is locked by another secretctl process",
                                            hint=f"wait for it to finish; if none is running, remove {lock_path}"
                                            ) from None
                    time.sleep(0.02)
        except BaseException:
            os.close(fd)
            raise
        self.fd = fd

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        fd, self.fd = self.fd, -1
        os.close(fd)


def try_lock(lock_path: Path) -> int | None:
    """An exclusive advisory lock held until the returned descriptor is closed (or the process
    dies, however it dies), or None at once when another process holds it. The unlock agent holds
    one for its whole life: a second agent refuses to start, a killed one frees it."""
    import fcntl

    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def append_locked(path: str | Path, data: bytes) -> None:
    """Append under an exclusive lock on the file itself, so an append is never interleaved with
    ``drain_locked`` reading it (the pending access log: many readers append, one commit drains)."""
    import fcntl

    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)  # os.path, not Path: the fast path passes a str
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            write_all(fd, data)
        finally:
            os.close(fd)
    except OSError as exc:
        raise _write_failed(path, exc) from None  # a refused write is a ReadOnlyError


def drain_locked(path: Path, consume: Callable[[bytes], _T]) -> _T | None:
    """Hand the file's bytes to ``consume`` and empty the file, holding its lock throughout: an
    append made meanwhile waits, and lands after the truncation. None when there is nothing."""
    import fcntl

    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        raw = path.read_bytes()
        if not raw.strip():
            return None
        out = consume(raw)
        os.ftruncate(fd, 0)
        return out
    finally:
        os.close(fd)


def drain_all_locked(paths: Sequence[Path], consume: Callable[[list[bytes]], _T]) -> _T | None:
    """:func:`drain_locked` over several files at once: every existing file is locked, their
    contents handed to ``consume`` together (one bytes per file), and all emptied once it
    returns. None when there is nothing."""
    import fcntl

    fds: list[int] = []
    try:
        contents = []
        for path in paths:
            try:
                fd = os.open(path, os.O_RDWR)
            except FileNotFoundError:
                continue
            fds.append(fd)
            fcntl.flock(fd, fcntl.LOCK_EX)
            contents.append(path.read_bytes())
        if not any(c.strip() for c in contents):
            return None
        out = consume(contents)
        for fd in fds:
            os.ftruncate(fd, 0)
        return out
    finally:
        for fd in fds:
            os.close(fd)
