"""TEST ONLY: lets tests/e2e/test_crash.py kill secretctl at a named crash point.

Python imports ``sitecustomize`` at start-up from sys.path; the crash tests put this folder on
PYTHONPATH of the secretctl they start, with ``SECRETCTL_TEST_KILL_AT=<point>[@N]``: the process
SIGKILLs itself the Nth time (default: the first) it reaches ``faults.point(<point>)``. Nothing
in the secretctl package reads that variable: without this folder on the path it is inert
(test_crash.py proves it).
"""

from __future__ import annotations

import os

_AT = os.environ.get("SECRETCTL_TEST_KILL_AT")

if _AT:
    import signal
    import threading

    from secretctl.core import faults

    _name, _, _nth = _AT.partition("@")
    _count = int(_nth or 1)
    _seen = [0]  # how often the point was reached (points may run on writer threads)
    _lock = threading.Lock()

    def _hook(point: str) -> None:
        if point != _name:
            return
        with _lock:
            _seen[0] += 1
            hit = _seen[0] == _count
        if hit:
            os.kill(os.getpid(), signal.SIGKILL)

    faults._hook = _hook
