"""Modules a bulk command will need, imported on a thread while its first git processes run.

`member add` spends tens of milliseconds waiting for git (the config listing, `git status` of
the recipients files, the HEAD recipients) and for fsyncs (the intent journal) before its first
use of cryptography, whose import then cost it ~15-30 ms of CPU on the one thread that does
everything. Imported on a second thread meanwhile, that import runs in those waits instead.

:func:`join` must run before a fork (infra/forked calls it): a thread that holds an import lock
while the process forks would leave the lock held in the child. Any import error is swallowed
here: the command's own import, later, raises it where it belongs.
"""

from __future__ import annotations

import threading

_THREADS: list[threading.Thread] = []


def start(*modules: str) -> None:
    """Import ``modules`` (dotted names) on a daemon thread."""

    def load() -> None:
        import contextlib
        import importlib

        for name in modules:
            with contextlib.suppress(BaseException):  # the caller's own import reports it where it belongs
                importlib.import_module(name)

    thread = threading.Thread(target=load, name="secretctl-preload", daemon=True)
    try:
        thread.start()
    except RuntimeError:
        return  # no thread to be had: the imports happen when used
    _THREADS.append(thread)


def join() -> None:
    """Wait for every preload to finish (before a fork, and before the imports are used)."""
    while _THREADS:
        _THREADS.pop().join()
