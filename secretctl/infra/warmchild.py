"""The warm MCP server's forked child (infra/warmserver.py forks it): receive the launcher's
hand-off (stdin, stdout, stderr and working folder as SCM_RIGHTS descriptors; argv, umask and
environment in core/warmproto's message), take it over, and run the server. Nothing of stdio is
touched before the launcher's go, so a launcher that gave up can still run the server itself.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable, Sequence

from secretctl.core import warmproto
from secretctl.infra import agentsock, confinement, settings

GO_TIMEOUT = 30.0  # the whole hand-off, then the launcher's go; without the go, the child leaves stdio alone
Child = Callable[[warmproto.Handoff], int]  # runs the server in the child; returns its exit status
Accepts = Callable[[warmproto.Handoff], bool]  # whether the hand-off names what this server runs


def package_dir() -> str:
    """The secretctl installation this process runs (a launcher of another one is not served)."""
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))



# What decides where python finds modules besides the interpreter and secretctl's folder: the
# warm process imported the MCP SDK, pydantic, yaml... from the places these named when it started.
IMPORT_PATH = ("PYTHONPATH", "PYTHONHOME", "PYTHONUSERBASE", "PYTHONNOUSERSITE", "PYTHONSAFEPATH",
               "PYTHONPLATLIBDIR")


def same_import_path(environ: Sequence[bytes]) -> bool:
    """Whether a launcher with ``environ`` finds its modules where this process found its own: one
    with another PYTHONPATH (a virtualenv's packages on it, a patched library) runs cold, as it
    would have, instead of getting the modules the warm process imported."""
    wanted = {os.fsencode(name) for name in IMPORT_PATH}
    theirs: dict[bytes, bytes] = {}
    for item in environ:
        name, _, value = item.partition(b"=")
        if name in wanted and value:  # empty is unset, for python as for settings.get
            theirs[name] = value
    ours = {os.fsencode(name): os.fsencode(mine) for name in IMPORT_PATH if (mine := settings.get(name))}
    return theirs == ours


def _receive(conn: socket.socket, deadline: float | None = None) -> tuple[warmproto.Handoff, list[int]]:
    """The hand-off and its descriptors, whole before ``deadline`` (default: GO_TIMEOUT from
    now), closing any descriptor a malformed or late message brought."""
    deadline = time.monotonic() + GO_TIMEOUT if deadline is None else deadline
    space = socket.CMSG_SPACE(warmproto.FDS * 4)
    conn.settimeout(max(deadline - time.monotonic(), 0.001))
    data, ancillary, _flags, _addr = conn.recvmsg(4, space)
    fds: list[int] = []
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            usable = len(payload) - len(payload) % 4
            fds.extend(struct.unpack(f"{usable // 4}i", payload[:usable]))
    try:
        if len(data) < 4:
            data += agentsock.recv_exact(conn, 4 - len(data), deadline)
        body = agentsock.recv_exact(conn, warmproto.body_length(data), deadline)
        handoff = warmproto.decode(body)
        if len(fds) != warmproto.FDS:
            raise warmproto.ProtocolError("expected stdin, stdout, stderr and a folder")
    except BaseException:
        for fd in fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        raise
    return handoff, fds


def adopt_and_run(conn: socket.socket, child: Child, accepts: Accepts | None = None) -> int:
    """In the forked child: take the launcher's stdio, folder, umask, argv and environment, then
    run the server. Before the launcher's go nothing of stdio is touched (FAILED: it runs cold)."""
    deadline = time.monotonic() + GO_TIMEOUT  # for the whole hand-off (the launcher sends it at once)
    conn.settimeout(GO_TIMEOUT)
    try:
        conn.sendall(warmproto.pid_frame(os.getpid()))
        handoff, fds = _receive(conn, deadline)
    except (OSError, EOFError, warmproto.ProtocolError):
        return 0
    conn.settimeout(GO_TIMEOUT)
    # Another command than the server (never run from here), another installation's launcher, or
    # one confined otherwise than we are (serve_here last: it moves this process into the
    # launcher's cgroup and limits): FAILED, and the launcher runs its own.
    if ((accepts is not None and not accepts(handoff))
            or handoff.executable != os.fsencode(sys.executable) or handoff.package != os.fsencode(package_dir())
            or not same_import_path(handoff.environ) or not confinement.serve_here(conn)):
        with contextlib.suppress(OSError):
            conn.sendall(warmproto.FAILED)
        return 0
    stdio, folder = fds[:3], fds[3]
    try:
        conn.sendall(warmproto.ADOPTED)
        if agentsock.recv_exact(conn, 1) != warmproto.GO:
            return 0
    except (OSError, EOFError):
        return 0  # the launcher gave up and runs the server itself: leave its stdio alone
    for stream in (sys.stdout, sys.stderr):  # anything of the warm process's goes to its /dev/null
        with contextlib.suppress(Exception):
            stream.flush()
    for target, fd in enumerate(stdio):
        os.dup2(fd, target)
        os.close(fd)
    _fresh_stdio()
    os.fchdir(folder)
    os.close(folder)
    os.umask(handoff.umask)
    settings.adopt_environ(handoff.environ)
    _forget_process_caches()
    sys.argv = [os.fsdecode(a) for a in handoff.argv]
    conn.settimeout(None)
    threading.Thread(target=_watch_launcher, args=(conn,), daemon=True, name="warm-launcher").start()
    code = 1
    try:
        code = child(handoff)
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        with contextlib.suppress(OSError):
            conn.sendall(warmproto.exit_frame(code))
    return code


_OLD_STDIO: list[object] = []  # the warm process's own stream objects: never collected (that would close 0-2)


def _fresh_stdio() -> None:
    """sys.stdin/stdout/stderr as an interpreter starting on these descriptors makes them: line
    buffered on a terminal (stderr always), in the encoding and error handler of the old ones."""
    import io

    for fd, name in ((0, "stdin"), (1, "stdout"), (2, "stderr")):
        old = getattr(sys, name)
        _OLD_STDIO.append(old)
        raw = io.FileIO(fd, "r" if fd == 0 else "w", closefd=False)
        buffered = io.BufferedReader(raw) if fd == 0 else io.BufferedWriter(raw)
        stream = io.TextIOWrapper(buffered, encoding=old.encoding, errors=old.errors,
                                  line_buffering=fd == 2 or os.isatty(fd))
        setattr(sys, name, stream)
        setattr(sys, f"__{name}__", stream)


def _forget_process_caches() -> None:
    """What the standard library kept from the warm process's own environment."""
    tempfile = sys.modules.get("tempfile")
    if tempfile is not None:
        tempfile.tempdir = None  # type: ignore[attr-defined]  # recomputed from the new TMPDIR


def _watch_launcher(conn: socket.socket) -> None:
    """The launcher forwards its signals; when it dies, this server must not outlive it."""
    forwarded = {int(signal.SIGTERM), int(signal.SIGINT), int(signal.SIGHUP)}
    while True:
        try:
            frame = agentsock.recv_exact(conn, 1)
            if frame == warmproto.SIGNAL:
                signum = agentsock.recv_exact(conn, 1)[0]
                if signum in forwarded:
                    os.kill(os.getpid(), signum)
        except (OSError, EOFError):
            break
    os.kill(os.getpid(), signal.SIGTERM)  # as a cold server whose client went away by a kill
    time.sleep(3)
    os._exit(128 + signal.SIGTERM)  # a handler kept it alive: the client is gone all the same
