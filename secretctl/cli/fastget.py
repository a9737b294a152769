"""`secretctl get KEY` through the unlock agent, called by cli/main.py before anything heavy is
imported: service/fastget.py decrypts (through the agent) and records; this prints, as
cli/reading.py does for the normal path."""

from __future__ import annotations

import os
import sys


def fast_get_via_agent(vault: str | None, key: str) -> bool:
    """Serve ``secretctl [--vault V] get KEY``; False: not served, nothing printed or recorded."""
    from secretctl.service import settings

    env = settings.environ()
    # No socket, no agent: back to the normal path before importing or reading anything more
    # (without this check a plain `get` with no agent paid ~10 ms for the attempt).
    if not os.path.exists(settings.agent_socket_file(env)):
        return False
    from secretctl.service.fastget import reveal_via_agent

    value = reveal_via_agent(vault, key, env)
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
