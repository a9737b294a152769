"""Typer option objects shared by the command groups (kept out of ``common`` so that the
start-up fast path in ``cli/main.py`` can use ``common`` without importing Typer)."""

from __future__ import annotations

import typer

JsonOpt = typer.Option("--json", help="Machine-readable output.")
