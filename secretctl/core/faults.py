"""Named crash points, so the kill tests can stop a mutation exactly between two of its steps.

DANGEROUS ONLY IN TESTS, INERT OTHERWISE. ``point(name)`` does nothing: no environment variable,
file or argument can turn it on. A test turns it on by starting the CLI with
``tests/e2e/faultinject`` on PYTHONPATH, whose ``sitecustomize`` sets ``_hook`` before secretctl
runs (tests/e2e/test_crash.py proves that an installed secretctl ignores the test's variable).
Anyone who could set ``_hook`` already runs code inside the process.

Points are named ``<area>.<moment>``; docs/architecture.md lists them.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # collections.abc costs `get`'s fast path ~2 ms: for mypy only
    from collections.abc import Callable

_hook: Callable[[str], None] | None = None


def point(name: str) -> None:
    """A moment a crash may hit: the kill tests stop the process here."""
    if _hook is not None:
        _hook(name)
