"""A regex compiled at its first use, not at import.

``re.compile`` runs sre's compiler in Python: ~30-350 us a pattern. A silent `run` imports the
redactor's modules to check its command line and never scans output, so the patterns only a scan
uses are compiled when a scan first asks for them (measured: ~1.2 ms of a silent `run`).
"""

from __future__ import annotations

import functools
import re

TYPE_CHECKING = False
if TYPE_CHECKING:  # for mypy only: typing costs a start ~4 ms
    from collections.abc import Callable
    from typing import AnyStr


def lazy(pattern: AnyStr, flags: int = 0) -> Callable[[], re.Pattern[AnyStr]]:
    """``lazy(p)()`` is ``re.compile(p)``, compiled on the first call and kept."""
    return functools.cache(lambda: re.compile(pattern, flags))
