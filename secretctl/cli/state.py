"""What the global options set for the command that runs (``--vault``), and whether the shell is
asking for completions. Its own module, with no imports: the start-up fast paths in cli/main.py
use it without importing cli/common.py (json, pathlib, typing: ~20 ms)."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # for mypy only: this module imports nothing at run time
    from collections.abc import Iterable


class State:
    vault_dir: str | None = None


STATE = State()


def completing(environ: Iterable[str]) -> bool:
    """Whether the shell asked for completions (Typer's ``_SECRETCTL_COMPLETE``): only Typer answers."""
    return any(k.startswith("_SECRETCTL_COMPLETE") for k in environ)
