"""What the global options set for the command that runs (``--vault``). Its own module, with no
imports: the start-up fast paths in cli/main.py set it without importing cli/common.py (json,
pathlib, typing: ~20 ms)."""

from __future__ import annotations


class State:
    vault_dir: str | None = None


STATE = State()
