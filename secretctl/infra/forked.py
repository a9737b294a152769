"""Spreading a bulk command's per-file cryptography over a second core: one forked worker.

Re-keying an age header (member add) costs three X25519 multiplications a file and encrypting a
new file (import) two, in libraries that hold the GIL: threads do not help, a second process
does. The parent keeps the first part of a batch and computes it itself while a forked child
computes the rest and sends back, over a pipe, only the bytes each item produced: a re-keyed
or new age file, never plaintext (the child already holds what it needs: fork copied it). The
parent alone writes files, the journal and git.

What keeps it safe:
- The fork happens only while the parent runs a single thread (a lock another thread held
  would stay held in the child), and the child closes every other descriptor (the vault lock's
  among them: closing the child's copy leaves the parent's lock in place), points stdin, stdout
  and stderr at /dev/null (the MCP server's stdout is its JSON-RPC stream), disables the
  garbage collector (it would copy every page it walks) and never returns to the caller's
  code: it ends with ``os._exit``, so no ``atexit``, buffer flush or ``finally`` of the parent runs.
- The child never outlives the call. The parent reaps it on success and kills it (SIGKILL) on
  any failure or interruption; if the parent itself dies, the child's next write to the pipe
  fails (EPIPE) and it exits: it writes every few items, so within milliseconds.
- An item the child cannot compute (any exception) comes back as "do it yourself" and the
  parent computes it in-process, so its error is exactly the serial path's. A child that dies
  or sends a short answer fails the whole command (:class:`WorkerFailed`) before anything is
  written.

Small batches stay in-process: the fork and the reaping cost 2-4 ms in a 30 MB process here.

``Stream`` is the other shape: a child that produces pieces on its own (the MCP server's first
all-values build: reading and decrypting every file while the parent imports the MCP SDK and
answers the handshake). Its pieces are plaintext, so besides the rules above: the child runs
at most ``STREAM_LIFETIME`` seconds (SIGALRM, whose default action ends it, set back to that
action and unblocked whatever the process inherited), and the caller
reads or closes the stream (a child that finished blocks writing to a full pipe until then).
"""

from __future__ import annotations

import contextlib
import os
import threading
from typing import Generic, TypeVar  # imported by bulk commands and the MCP server only, which import typing anyway

from secretctl.core import faults
from secretctl.errors import SecretctlError
from secretctl.infra import preload, store

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence
    from types import TracebackType

_T = TypeVar("_T")

MIN_ITEMS = 128  # below this, one core does the batch faster than a fork and a pipe (measured)
NEVER = 1 << 62  # a min_items no batch reaches
_NONE = 0xFFFFFFFF  # a frame length: "compute this item yourself"
_END = 0xFFFFFFFE  # the last frame: the child sent every item
_FLUSH = 16 * 1024  # bytes the child buffers between writes (and parent-death checks)...
_FLUSH_ITEMS = 16  # ...or items, whichever comes first
STREAM_NICE = 10  # how much lower a Stream's child runs than its parent
STREAM_LIFETIME = 60  # seconds a Stream's child may live, whatever happens (its pieces are plaintext)


class WorkerFailed(SecretctlError):
    """The worker process died or sent a truncated answer: nothing was written."""


def _usable() -> bool:
    return (os.cpu_count() or 1) > 1 and threading.active_count() == 1


class Spread(Generic[_T]):
    """``fn`` over ``items[split:]`` in a forked child, while the caller computes ``items[:split]``.

    Use as a context manager: leaving it (normally or by an exception) reaps or kills the child.
    ``share`` is the part of the items the child takes. With too few items, a single core or a
    second thread running, there is no child and ``split`` is ``len(items)``.
    """

    def __init__(self, fn: Callable[[_T], bytes], items: Sequence[_T], *, share: float = 0.5,
                 min_items: int = MIN_ITEMS) -> None:
        self.split = len(items)
        self.forked = False  # whether a worker took part of the items
        self._pid = 0
        self._read_fd = -1
        self._answer = bytearray()
        self._reader: threading.Thread | None = None
        self._taken: list[bytes | None] | None = None  # results(), once take() asked past the split
        preload.join()  # a thread importing while we fork would leave an import lock held in the child
        if len(items) < min_items or not _usable():
            return
        split = len(items) - round(len(items) * share)
        part = items[split:]
        started = _fork(lambda write_fd, parent: _child(fn, part, write_fd, parent))
        if started is None:
            return  # out of descriptors, processes or memory: one core does it all
        pid, read_fd = started
        self.split, self._pid, self._read_fd, self._count, self.forked = split, pid, read_fd, len(part), True
        # A thread drains the pipe while the caller computes its part: the child never waits
        # on a full pipe. os.read releases the GIL.
        reader = threading.Thread(target=self._drain, name="secretctl-worker-pipe", daemon=True)
        try:
            reader.start()
        except RuntimeError:  # no thread to be had: the worker goes, one core does it all
            self.close()
            self.split, self.forked = len(items), False
            return
        self._reader = reader
        faults.point("forked.started")

    def _drain(self) -> None:
        try:
            while chunk := os.read(self._read_fd, 1 << 16):
                self._answer += chunk
        except OSError:
            pass  # the parent closed it while killing the child: the answer is then not read

    def results(self) -> list[bytes | None]:
        """The child's answers, in order (None: compute that item yourself); waits for the child.
        Raises WorkerFailed if it died or its answer is short or malformed."""
        if not self._pid or self._reader is None:
            return []
        self._reader.join()
        _, status = os.waitpid(self._pid, 0)
        self._pid = 0
        os.close(self._read_fd)
        self._read_fd = -1
        answer, self._answer = self._answer, bytearray()
        if status != 0:
            raise WorkerFailed(f"a re-encryption worker process ended abnormally (status {status}); "
                               "nothing was written", hint="run the command again")
        return _parse(answer, self._count)

    def take(self, i: int) -> bytes | None:
        """The child's answer for item ``i`` (None: compute it yourself: the caller's part, or one
        the child could not do). The first ``i`` past the split waits for the child (results())."""
        if i < self.split:
            return None
        if self._taken is None:
            self._taken = self.results()
        return self._taken[i - self.split] if self._taken else None

    def close(self) -> None:
        """Kill and reap the child if it still runs (on an error or an interruption)."""
        if self._pid:
            _kill_reap(self._pid)
            self._pid = 0
        if self._reader is not None:
            self._reader.join()  # the child is gone: its end of the pipe is closed, the read ends
            self._reader = None
        if self._read_fd >= 0:
            os.close(self._read_fd)
            self._read_fd = -1

    def __enter__(self) -> Spread[_T]:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def pack_pair(first: bytes, second: bytes) -> bytes:
    """Two byte strings as one worker answer (an age file and its sidecar): :func:`unpack_pair`."""
    return len(first).to_bytes(4, "little") + first + second


def unpack_pair(answer: bytes) -> tuple[bytes, bytes]:
    size = int.from_bytes(answer[:4], "little")
    return answer[4 : 4 + size], answer[4 + size :]


def _parse(answer: bytearray, count: int) -> list[bytes | None]:
    out: list[bytes | None] = []
    view = memoryview(answer)
    pos = 0
    while len(out) < count:
        if pos + 4 > len(view):
            raise WorkerFailed("a re-encryption worker's answer was cut short; nothing was written",
                               hint="run the command again")
        size = int.from_bytes(view[pos:pos + 4], "little")
        pos += 4
        if size == _NONE:
            out.append(None)
            continue
        if size >= _END or pos + size > len(view):
            raise WorkerFailed("a re-encryption worker's answer was malformed; nothing was written",
                               hint="run the command again")
        out.append(bytes(view[pos:pos + size]))
        pos += size
    if view[pos:] != _END.to_bytes(4, "little"):
        raise WorkerFailed("a re-encryption worker's answer was malformed; nothing was written",
                           hint="run the command again")
    return out


def _child(fn: Callable[[_T], bytes], part: Sequence[_T], write_fd: int, parent: int) -> int:
    """The forked worker: compute, write the frames, return an exit status (0 on success)."""
    if not _enter_child(write_fd, parent):
        return 1
    buf = bytearray()
    try:
        for n, item in enumerate(part, 1):
            try:
                out: bytes | None = fn(item)
            except Exception:  # the parent computes it again and raises its error
                out = None
            if out is None:
                buf += _NONE.to_bytes(4, "little")
            else:
                buf += len(out).to_bytes(4, "little")
                buf += out
            if len(buf) >= _FLUSH or not n % _FLUSH_ITEMS:
                if os.getppid() != parent:
                    return 1  # the parent is gone: nobody will read this
                store.write_all(write_fd, buf)
                buf.clear()
                faults.point("forked.worker-wrote")
        buf += _END.to_bytes(4, "little")
        store.write_all(write_fd, buf)
    except BaseException:  # a broken pipe, an interruption: end quietly, the parent decides
        return 1
    return 0


def _fork(child: Callable[[int, int], int]) -> tuple[int, int] | None:
    """Fork ``child(write_fd, parent pid)`` (its exit status) with a pipe back: (pid, read_fd),
    or None when no pipe or process is to be had. The child never returns to the caller."""
    parent = os.getpid()
    try:
        read_fd, write_fd = os.pipe()
    except OSError:
        return None
    try:
        pid = os.fork()
    except OSError:  # out of processes (RLIMIT_NPROC) or memory
        os.close(read_fd)
        os.close(write_fd)
        return None
    if pid == 0:
        code = 1
        try:
            code = child(write_fd, parent)
        finally:
            os._exit(code)
    os.close(write_fd)
    return pid, read_fd


def _kill_reap(pid: int) -> None:
    import signal

    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)


def _enter_child(write_fd: int, parent: int) -> bool:
    """What every forked child does first; False if the parent is gone already.

    First the descriptors (the vault lock, the journal, the reader's end: not ours to hold), so a
    parent killed a moment later leaves no lock held by its child; stdin, stdout and stderr go to
    /dev/null (the MCP server's stdout is its JSON-RPC stream: a stray warning in the child must
    not reach the client). Then no garbage collection (a collection walks every object, copying
    the pages the parent shares), and death with the parent."""
    import gc

    os.closerange(3, write_fd)
    os.closerange(write_fd + 1, os.sysconf("SC_OPEN_MAX"))
    null = os.open(os.devnull, os.O_RDWR)
    for std in (0, 1, 2):
        os.dup2(null, std)
    if null > 2:
        os.close(null)
    gc.disable()
    return _die_with(parent)


def _die_with(parent: int) -> bool:
    """Ask Linux to kill this worker when the parent dies (PR_SET_PDEATHSIG): a parent killed by
    SIGKILL gets no chance to kill it. Then whether the parent is still there (it may have died
    before the request). Elsewhere, or if the request fails, the broken pipe ends the worker."""
    import signal

    try:
        import ctypes  # ~2 ms, in the worker only: the stdlib has no prctl

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)  # 1: PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    return os.getppid() == parent



class Stream:
    """``produce()`` in a forked child, its pieces read back in order with ``next()``.

    The fork happens at construction, only in a single-threaded process of a machine with two
    cores (else ``forked`` is False and ``next()`` returns None at once: the caller computes
    everything itself). ``next()`` returns None once the child has ended, after its last piece
    or because it failed: pieces are only ever a head start, and the caller computes what it did
    not get. ``close()`` kills the child if it still runs and reaps it. Call ``next`` and ``close`` from one thread.
    """

    def __init__(self, produce: Callable[[], Iterable[bytes]]) -> None:
        self.forked = False
        self._pid = 0
        self._fd = -1
        preload.join()  # as Spread: a thread importing while we fork would leave an import lock held
        started = _fork(lambda write_fd, parent: _stream_child(produce, write_fd, parent)) if _usable() else None
        if started is None:
            return
        self._pid, self._fd = started
        self.forked = True

    @property
    def pid(self) -> int:
        """The child's pid while it is not reaped (0: none)."""
        return self._pid

    def _read(self, n: int) -> bytes | None:
        buf = bytearray()
        while len(buf) < n:
            try:
                chunk = os.read(self._fd, n - len(buf))  # releases the GIL while it waits
            except OSError:
                return None
            if not chunk:
                return None
            buf += chunk
        return bytes(buf)

    def next(self) -> bytes | None:
        """The child's next piece (waits for it); None once it has ended, normally or not."""
        if self._fd < 0:
            return None
        head = self._read(4)
        size = int.from_bytes(head, "little") if head is not None else _END
        piece = self._read(size) if size < _END else None
        if piece is None:
            self.close()
        return piece

    def close(self) -> None:
        """Kill and reap the child if it still runs; close the pipe."""
        if self._pid:
            _kill_reap(self._pid)
            self._pid = 0
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def _stream_child(produce: Callable[[], Iterable[bytes]], write_fd: int, parent: int) -> int:
    """A Stream's child: each piece as a frame, then the end frame; an exit status."""
    import signal

    # The lifetime bound holds whatever the server inherited: an ignored SIGALRM stays ignored
    # across exec (a launcher's `trap '' ALRM`), and a blocked one stays blocked.
    signal.signal(signal.SIGALRM, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGALRM})
    signal.alarm(STREAM_LIFETIME)  # no handler: SIGALRM's default action ends the process
    if not _enter_child(write_fd, parent):
        return 1
    # A head start yields to its parent: on a busy machine (or in one session's CPU share) the
    # parent's own work, such as the MCP server's first answer, must not wait for it. On an idle
    # machine each has a core and this changes nothing.
    with contextlib.suppress(OSError):
        os.nice(STREAM_NICE)
    try:
        for piece in produce():
            if len(piece) >= _END:
                return 1
            if os.getppid() != parent:
                return 1
            store.write_all(write_fd, len(piece).to_bytes(4, "little") + piece)
        store.write_all(write_fd, _END.to_bytes(4, "little"))
    except BaseException:  # a broken pipe, an error in produce: the parent computes what is missing
        return 1
    return 0
