"""Starting, asking and stopping the warm MCP server from `secretctl unlock`, `status` and `lock`
(infra/warmserver.py is the process itself)."""

from __future__ import annotations

import contextlib
import json
import os
import select
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from secretctl.core import warmproto
from secretctl.errors import SecretctlError
from secretctl.infra import agentsock


def ask(socket_path: str | Path, op: bytes, *, timeout: float = 5.0) -> bytes:
    """Send a status or stop request; the reply line (AgentUnavailable when none serves)."""
    sock = agentsock.connect(socket_path, timeout=timeout)
    try:
        sock.sendall(op)
        buf = b""
        while not buf.endswith(b"\n"):
            part = sock.recv(4096)
            if not part:
                break
            buf += part
        return buf
    finally:
        sock.close()


def status(socket_path: str | Path) -> dict[str, object] | None:
    """The warm server's status, or None when none answers."""
    try:
        line = ask(socket_path, warmproto.OP_STATUS)
        data = json.loads(line) if line else None
    except (agentsock.AgentUnavailable, SecretctlError, OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def stop(socket_path: str | Path, *, wait: float = 5.0) -> bool:
    """Ask the warm server to stop and wait until its socket is gone; False when none answered."""
    try:
        ask(socket_path, warmproto.OP_STOP)
    except (agentsock.AgentUnavailable, SecretctlError, OSError):
        return False
    deadline = time.monotonic() + wait
    while os.path.exists(socket_path) and time.monotonic() < deadline:
        time.sleep(0.01)
    return True


_KEPT_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "SYSTEMROOT", "PYTHONPATH")


class Starting:
    """A warm server process importing (started before the agent asks for the passphrase, so the
    two overlap); ``ready`` hands it the agent's pid and waits until it listens."""

    def __init__(self, module: str, socket_path: Path, environ: Mapping[str, str]) -> None:
        import subprocess

        # -P: no working folder on sys.path. The environment is a few neutral variables: every
        # child adopts its launcher's, and none of the warm process's own is read after start.
        env = {k: environ[k] for k in _KEPT_ENV if k in environ}
        self.proc = subprocess.Popen([sys.executable, "-P", "-m", module, "--socket", str(socket_path)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     start_new_session=True, close_fds=True, cwd="/", env=env)

    def ready(self, agent_pid: int, *, timeout: float = 60.0) -> dict[str, object]:
        """The warm server's first report ({"state": "ok", "pid": N}, "running" or "error")."""
        proc = self.proc
        assert proc.stdin is not None  # noqa: S101 - a pipe, requested above
        assert proc.stdout is not None  # noqa: S101 - a pipe, requested above
        try:
            proc.stdin.write(f"{agent_pid}\n".encode())
            proc.stdin.close()
            ready, _, _ = select.select([proc.stdout], [], [], timeout)
            line = proc.stdout.readline() if ready else b""
            data = json.loads(line) if line else {"state": "error", "error": "no answer"}
        except (OSError, ValueError):
            data = {"state": "error", "error": "no answer"}
        finally:
            with contextlib.suppress(OSError):
                proc.stdout.close()
        if data.get("state") != "ok" and proc.poll() is None:
            proc.kill()
        return data if isinstance(data, dict) else {"state": "error"}

    def cancel(self) -> None:
        """`unlock` failed: the warm server reads an empty line and exits."""
        with contextlib.suppress(OSError):
            if self.proc.stdin is not None:
                self.proc.stdin.close()
        with contextlib.suppress(OSError):
            if self.proc.stdout is not None:
                self.proc.stdout.close()
