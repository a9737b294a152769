"""A CPU-bound step spread over forked children, for work that holds the GIL (pyca's X25519 does
not release it): decrypting 10,000 files for the all-values redactor is most of the MCP server's
first `secret_run`, and the machine has more than one core.

Each child computes its share of the items, writes its results to a pipe and leaves at once
(``os._exit``): no child outlives the call, nothing touches the disk, and a child inherits the
parent's non-dumpable flag (hardening.set_not_dumpable). The parent computes its own share
meanwhile, then reads the pipes and reaps the children. A child that fails, dies or overruns its
deadline is killed, and the parent computes that share itself: the result is the same, only later.

Honest limit: forking a process that has threads copies only the calling thread; a lock another
thread held at that moment (in OpenSSL, say) stays held in the child. The deadline turns such a
hang into the parent doing the work itself.
"""

from __future__ import annotations

import os
import select
import signal
import struct
import time
from collections.abc import Callable, Sequence

TYPE_CHECKING = False
if TYPE_CHECKING:  # importing typing costs every start ~3 ms (identity imports this module): for mypy only
    from typing import TypeVar

    T = TypeVar("T")
_NONE = 0xFFFFFFFF  # the length that stands for a None result
_FRAME = struct.Struct(">I")
MIN_DEADLINE = 10.0  # seconds a child may take beyond ten times the parent's own share


def cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


def map_forked(fn: Callable[[T], bytes | None], items: Sequence[T], *, workers: int) -> list[bytes | None]:
    """``[fn(x) for x in items]``, over ``workers`` processes (this one included)."""
    if workers < 2 or len(items) < 2 * workers or not hasattr(os, "fork"):
        return [fn(x) for x in items]
    size = -(-len(items) // workers)
    shares = [items[i:i + size] for i in range(0, len(items), size)]
    children: list[tuple[int, int]] = []  # (pid, read end), for shares[1:]
    try:
        for share in shares[1:]:
            children.append(_fork(fn, share))
        start = time.monotonic()
        out = [fn(x) for x in shares[0]]
        deadline = time.monotonic() + MIN_DEADLINE + 10 * (time.monotonic() - start)
        for (pid, fd), share in zip(children, shares[1:], strict=True):
            got = _collect(pid, fd, len(share), deadline)
            out += got if got is not None else [fn(x) for x in share]
        return out
    finally:
        for pid, fd in children:
            _end(pid, fd)


def _fork(fn: Callable[[T], bytes | None], share: Sequence[T]) -> tuple[int, int]:
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: compute, write, leave (never returns)
        code = 1
        try:
            os.close(r)
            frames = bytearray()
            for x in share:
                result = fn(x)
                frames += _FRAME.pack(_NONE) if result is None else _FRAME.pack(len(result)) + result
            view = memoryview(frames)
            while view:
                view = view[os.write(w, view):]
            code = 0
        finally:
            os._exit(code)
    os.close(w)
    return pid, r


def _collect(pid: int, fd: int, count: int, deadline: float) -> list[bytes | None] | None:
    """The child's results, or None if it failed, died or ran out of time (then it is killed)."""
    data = bytearray()
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            return None
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            break
        data += chunk
    _, status = os.waitpid(pid, 0)
    try:
        return _unframe(bytes(data), count) if status == 0 else None
    finally:
        data[:] = bytes(len(data))  # plaintext: not left in a freed buffer


def _unframe(data: bytes, count: int) -> list[bytes | None] | None:
    out: list[bytes | None] = []
    pos = 0
    while pos < len(data):
        (n,) = _FRAME.unpack_from(data, pos)
        pos += _FRAME.size
        if n == _NONE:
            out.append(None)
            continue
        out.append(data[pos:pos + n])
        pos += n
    return out if len(out) == count and pos == len(data) else None


def _end(pid: int, fd: int) -> None:
    """Kill (if still running) and reap a child; close its pipe."""
    os.close(fd)
    try:
        if os.waitpid(pid, os.WNOHANG) == (0, 0):
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
    except ChildProcessError:
        pass  # reaped already (by _collect)
