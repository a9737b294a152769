"""The `secretctl mcp` launcher's side of the warm MCP server (infra/warmserver.py): hand this
process's stdio, working folder, umask, argv and environment to a freshly forked server, then
wait for it and return its exit status.

It runs on the CLI's fast path, before anything heavy: the C ``_socket`` module, struct and the
agent's client (its uid and folder checks), nothing more. Any failure before the server adopted
the hand-off returns None, and the caller runs the server itself: the warm server may speed a
start up, never stop one.
"""

from __future__ import annotations

import _socket  # the C module: socket.py would import enum and selectors (the fast path's budget)
import os
import struct
import sys

from secretctl.core import warmproto
from secretctl.errors import SecretctlError
from secretctl.infra import agentsock, settings

TYPE_CHECKING = False
if TYPE_CHECKING:  # typeshed has no _signal; signal's functions are the same
    import signal as _signal
else:
    import _signal  # the C module: signal.py imports enum (the fast path's budget)

CONNECT_TIMEOUT = 2.0
FORK_TIMEOUT = 10.0  # accept, one byte, a fork and the child's first frame; generous for a loaded machine
FORWARDED = (_signal.SIGTERM, _signal.SIGINT, _signal.SIGHUP)


def _package_dir() -> str:
    # The same computation as warmchild.package_dir (this file sits beside it in infra/); not
    # imported from there: warmchild brings socket.py and threading to the launcher's fast start.
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _handoff(argv: list[str]) -> bytes:
    old = os.umask(0o077)
    os.umask(old)
    return warmproto.encode(warmproto.Handoff(
        argv=[os.fsencode(a) for a in argv], environ=settings.environ_items(), umask=old,
        executable=os.fsencode(sys.executable), package=os.fsencode(_package_dir())))


def _open_folder() -> int:
    flags = getattr(os, "O_PATH", 0) or os.O_RDONLY  # O_PATH: even a folder we may not list
    return os.open(".", flags | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0))


def hand_off(socket_path: str, argv: list[str]) -> int | None:
    """The forked server's exit status once it ran; None when it never took over (run cold)."""
    try:
        sock = agentsock.connect(socket_path, timeout=CONNECT_TIMEOUT)
    except (agentsock.AgentUnavailable, SecretctlError, OSError):
        return None
    try:
        if not _start(sock, argv):
            sock.close()
            return None
    except (OSError, EOFError, warmproto.ProtocolError):
        sock.close()
        return None
    return exit_like(_wait(sock))


def _start(sock: _socket.socket, argv: list[str]) -> bool:
    """Until the child adopted everything and got the go: True when it owns stdio now."""
    sock.settimeout(FORK_TIMEOUT)
    sock.sendall(warmproto.OP_RUN)
    if agentsock.recv_exact(sock, 1) != warmproto.READY:
        return False  # stale (the server stops), or anything else: cold
    warmproto.number(agentsock.recv_exact(sock, 4))
    payload = _handoff(argv)
    folder = _open_folder()
    try:
        fds = struct.pack(f"{warmproto.FDS}i", 0, 1, 2, folder)
        sent = sock.sendmsg([payload[:4]], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, fds)])
        if sent != 4:
            return False
        sock.sendall(payload[4:])
    finally:
        os.close(folder)
    if agentsock.recv_exact(sock, 1) != warmproto.ADOPTED:
        return False
    sock.sendall(warmproto.GO)
    return True


def exit_like(code: int) -> int:
    """A status to exit with; a signal death (negative) is repeated on this process, so the MCP
    client sees what a server killed by that signal shows (128 + it, if the signal is ignored)."""
    if code >= 0:
        return code
    try:
        _signal.signal(-code, _signal.SIG_DFL)
        os.kill(os.getpid(), -code)
    except (OSError, ValueError):
        pass
    return 128 - code


def _wait(sock: _socket.socket) -> int:
    """The child runs: forward our signals to it, and return its exit status."""
    sock.settimeout(None)

    def forward(signum: int, _frame: object) -> None:
        try:  # noqa: SIM105 - contextlib is one more import on the fast path
            sock.send(warmproto.SIGNAL + bytes([signum]))
        except OSError:
            pass

    for sig in FORWARDED:
        if _signal.getsignal(sig) == _signal.SIG_IGN:
            continue  # ignored where the client started us (nohup): a cold server ignores it too
        try:  # noqa: SIM105 - as above
            _signal.signal(sig, forward)
        except (OSError, ValueError):
            pass
    try:
        while True:
            kind = agentsock.recv_exact(sock, 1)
            if kind == warmproto.EXIT:
                return warmproto.number(agentsock.recv_exact(sock, 4))
    except (OSError, EOFError):
        # Neither the child nor the warm process could tell (both killed): a failure, not silence.
        return 1
    finally:
        sock.close()
