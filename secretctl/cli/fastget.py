"""`secretctl get KEY`, called by cli/main.py before anything heavy is imported:
service/fastget.py decrypts (through the unlock agent, or with an unprotected identity file) and
records; this prints, as cli/reading.py does for the normal path."""

from __future__ import annotations

import os
import sys


def fast_get(vault: str | None, key: str) -> bool:
    """Serve ``secretctl [--vault V] get KEY``; False: not served, nothing printed or recorded."""
    from secretctl.service import settings
    from secretctl.service.fastget import reveal_fast

    env = settings.environ()
    value = reveal_fast(vault, key, env)
    if value is None:
        return False
    out = sys.stdout.buffer
    out.write(value)
    try:
        tty = os.isatty(sys.stdout.fileno())
    except (ValueError, OSError):
        tty = False
    if tty:  # as cli/reading.py: a newline only for a person at a terminal
        out.write(b"\n")
    out.flush()
    return True
