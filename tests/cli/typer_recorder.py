"""The real Typer app run on an argv with command bodies replaced by recorders: what Typer would
call, for the tests that hold a Typer-free fast path (cli/main.py, cli/bulk.py) to the app."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any


@functools.cache
def group() -> Any:
    import typer.main

    from secretctl.cli import app as appmod

    return typer.main.get_command(appmod.app)


def run_recorded(argv: Sequence[str], recorders: Sequence[tuple[object, str, Callable[..., Any]]]) -> bool:
    """Run the app on ``argv`` with each ``(module, name)`` replaced by its recorder, put back after;
    False when Typer refused it or printed help (click's usage errors and help exits alike)."""
    saved = [(module, name, getattr(module, name)) for module, name, _ in recorders]
    for module, name, recorder in recorders:
        setattr(module, name, recorder)
    try:
        group().main(args=list(argv), prog_name="secretctl", standalone_mode=False)
    except (Exception, SystemExit):
        return False
    finally:
        for module, name, original in saved:
            setattr(module, name, original)
    return True
