"""The warm MCP server's hand-off: what a `secretctl mcp` launcher sends the forked server, and
the one-byte frames they exchange around it (infra/warmserver.py, infra/warmclient.py).

The conversation on one connection, after the server checked the peer's uid:

    launcher -> server   OP_RUN                   (or OP_STATUS / OP_STOP, answered and closed)
    server   -> launcher READY + pid              a forked child now owns the connection
                         (or STALE: the server imported files that changed since; it stops)
    launcher -> child    the hand-off (below), with stdin, stdout, stderr and the working folder
                         as SCM_RIGHTS descriptors
    child    -> launcher ADOPTED                  (or FAILED: nothing was touched; run cold)
    launcher -> child    GO                       from here on the child owns stdio
    launcher -> child    SIGNAL + signal number   (a signal the launcher received, forwarded)
    child    -> launcher EXIT + status            (from the child, or its parent for a signal death:
                                                  minus the signal)

The launcher's path imports no ``typing``, json or re (about 10 ms each): plain bytes and struct.
"""

from __future__ import annotations

import struct

OP_RUN, OP_STATUS, OP_STOP = b"R", b"S", b"Q"
READY, STALE, ADOPTED, FAILED, GO, SIGNAL, EXIT = b"K", b"X", b"H", b"F", b"G", b"k", b"E"
FDS = 4  # stdin, stdout, stderr, the working folder
MAX_HANDOFF = 4 * 1024 * 1024  # argv and environment: far above ARG_MAX's usual 2 MiB
_U32 = struct.Struct(">I")
_STATUS = struct.Struct(">i")


class ProtocolError(Exception):
    """A malformed hand-off (never from our own launcher)."""


class Handoff:
    """What the child adopts. Plain slots: the launcher's path cannot afford dataclasses."""

    __slots__ = ("argv", "environ", "executable", "package", "umask")

    def __init__(self, *, argv: list[bytes], environ: list[bytes], umask: int, executable: bytes,
                 package: bytes) -> None:
        self.argv, self.environ, self.umask = argv, environ, umask
        self.executable, self.package = executable, package


def _items(items: list[bytes]) -> bytes:
    return _U32.pack(len(items)) + b"".join(_U32.pack(len(i)) + i for i in items)


def encode(h: Handoff) -> bytes:
    """The hand-off as one length-prefixed message."""
    body = _U32.pack(h.umask) + _items([h.executable, h.package]) + _items(h.argv) + _items(h.environ)
    return _U32.pack(len(body)) + body


def body_length(prefix: bytes) -> int:
    n = int(_U32.unpack(prefix)[0])
    if n > MAX_HANDOFF:
        raise ProtocolError("hand-off too large")
    return n


def decode(body: bytes) -> Handoff:
    """The hand-off from its body (the message without its length prefix)."""
    pos = 0

    def take(n: int) -> bytes:
        nonlocal pos
        if pos + n > len(body):
            raise ProtocolError("truncated hand-off")
        out = body[pos:pos + n]
        pos += n
        return out

    def items() -> list[bytes]:
        (count,) = _U32.unpack(take(4))
        return [take(_U32.unpack(take(4))[0]) for _ in range(count)]

    (umask,) = _U32.unpack(take(4))
    where = items()
    argv, environ = items(), items()
    if len(where) != 2 or pos != len(body) or umask > 0o777 or any(b"=" not in e for e in environ):
        raise ProtocolError("malformed hand-off")
    return Handoff(argv=argv, environ=environ, umask=umask, executable=where[0], package=where[1])


def exit_frame(status: int) -> bytes:
    return EXIT + _STATUS.pack(status)


def pid_frame(pid: int) -> bytes:
    return READY + _STATUS.pack(pid)


def number(data: bytes) -> int:
    """The number after a READY or EXIT byte."""
    return int(_STATUS.unpack(data)[0])


def status_of(wait_status: int) -> int:
    """The exit code for a ``waitpid`` status, or minus the signal that killed the process (as
    subprocess reports it): the launcher then dies of the same signal."""
    if wait_status & 0x7F:
        return -(wait_status & 0x7F)
    return (wait_status >> 8) & 0xFF
