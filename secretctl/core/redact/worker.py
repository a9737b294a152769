"""A second thread for the scans of one read: the compiled engine scans without the GIL.

python-hyperscan releases the GIL for the whole of ``hs_scan`` (it takes it back only to call a
match handler), so a scan on this thread runs on the second core while the reading thread builds
and scans the skeleton views. What runs here must be safe to run beside them: the detector and
candidate scans (``shapes.Shapes.scan``) hold their own locks and return plain lists.

One daemon thread per process, started at the first large read. A forked child (which has no
copy of it: ``is_alive`` is false there) starts its own. It holds no state between jobs: a job's
data and results live in the job, which the caller waits for before returning, so nothing it
handled outlives the call that handed it over.
"""

from __future__ import annotations

import threading
from _queue import SimpleQueue  # the C queue itself: `queue` would import heapq and more for nothing here
from collections.abc import Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class Job(Generic[T]):
    """One call handed to the worker; ``result`` waits for it (and raises what it raised). Whoever
    claims it first runs it: ``result`` runs it itself if the thread has not started it, so a
    thread the scheduler is slow to wake (a busy machine) costs no wait, only the hand-over."""

    __slots__ = ("_arg", "_call", "_claim", "_done", "_error", "_value")

    def __init__(self, call: Callable[[bytes], T], arg: bytes) -> None:
        self._call, self._arg = call, arg
        self._claim = threading.Lock()  # taken by whoever runs the call
        self._done = threading.Lock()
        self._done.acquire()  # released when the call has returned or raised
        self._value: T | None = None
        self._error: BaseException | None = None

    def run(self) -> None:
        """Run the call unless the other side has claimed it."""
        if not self._claim.acquire(blocking=False):
            return
        try:
            self._value = self._call(self._arg)
        except BaseException as exc:
            self._error = exc
        finally:
            self._arg = b""  # the data is the caller's: not kept once scanned
            self._done.release()

    def result(self) -> T:
        self.run()
        with self._done:
            pass
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]  # set by run() before _done was released


class _Worker:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._jobs: SimpleQueue[Job[Any]] = SimpleQueue()

    def submit(self, call: Callable[[bytes], T], arg: bytes) -> Job[T]:
        job = Job(call, arg)
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                # First use, or a forked child (its copy of the thread does not run).
                self._jobs = SimpleQueue()
                self._thread = threading.Thread(target=_loop, args=(self._jobs,), name="secretctl-scan", daemon=True)
                self._thread.start()
            self._jobs.put(job)
        return job


def _loop(jobs: SimpleQueue[Job[Any]]) -> None:
    while True:
        jobs.get().run()


_WORKER = _Worker()


def submit(call: Callable[[bytes], T], arg: bytes) -> Job[T]:
    """Run ``call(arg)`` on the scan thread; the caller must call ``result()`` on what it gets."""
    return _WORKER.submit(call, arg)
