"""A redactor built on a thread: `run` starts its child meanwhile, the MCP session answers read
tools meanwhile. Its own module (not service/allvalues.py, which imports dataclasses) so `run`'s
start-up fast path (service/personrun.py) loads only this."""

from __future__ import annotations

import threading

from secretctl.core.redact import Layered, Redactor

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Generic, TypeVar

    F = TypeVar("F", Redactor, Redactor | Layered)
else:
    class Generic:
        """typing's Generic for mypy only: a person's `run` whose command line needs no detector
        set loads neither hyperscan nor typing (~3 ms of imports); ``BackgroundBuild[X]`` still
        subscripts at run time."""

        def __class_getitem__(cls, item: object) -> type:
            return cls

    F = None


class BackgroundBuild(Generic[F]):
    """A redactor built on a thread (decrypting and compiling thousands of values takes seconds):
    whoever needs it waits; a failed build's exception is kept for them (nothing is released
    unredacted)."""

    def __init__(self, target: Callable[[], F]) -> None:
        self._done = threading.Event()
        self._result: F | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(target,), name="secretctl-redactor", daemon=True)
        self._thread.start()

    def _run(self, target: Callable[[], F]) -> None:
        try:
            self._result = target()
        except BaseException as exc:
            self._error = exc
        finally:
            self._done.set()

    @property
    def ready(self) -> bool:
        return self._done.is_set()

    @property
    def failed(self) -> bool:
        return self._done.is_set() and self._error is not None

    def wait(self) -> F:
        """The redactor, or the build's exception raised as it was."""
        self._done.wait()
        if self._error is not None:
            raise self._error
        assert self._result is not None  # noqa: S101 - set when no error
        return self._result
