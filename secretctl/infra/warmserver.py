"""The warm MCP server's socket and fork mechanics: a secret-free process that has imported the
MCP SDK and secretctl once (about 0.8 s of CPU, most of an MCP server's start) and forks one
server per `secretctl mcp` launcher, which hands it its stdio, working folder, argv and
environment (core/warmproto.py; infra/warmclient.py is the launcher's side).

What keeps it secret-free: the parent only accepts, checks the peer's uid (the unlock agent's
check, agentsock.peer_uid), reads one byte and forks. It never reads a hand-off: the child does,
after the fork, so even a client's environment never enters the long-lived process. It opens no
vault and reads no setting; it is single-threaded when it forks (checked). It is not dumpable, so
no same-uid process can read or patch it, and its children inherit that.

It stops when the unlock agent it was started with exits (`lock`, timeout, idle expiry, a kill),
on a stop request (`lock`) and on SIGTERM: it removes its socket at once, then waits for the
servers it forked, so each launcher still learns how its server ended.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import socket
import sys
import threading
import time
from pathlib import Path

from secretctl.core import warmproto
from secretctl.errors import SecretctlError
from secretctl.infra import agentsock, store, unlock_agent
from secretctl.infra.warmchild import Accepts, Child, adopt_and_run, package_dir

Handoff = warmproto.Handoff  # what a forked child adopts (cli/warm.py types its check with it)
POLL = 5.0  # the longest the loop sleeps between checks that its agent still runs
OP_TIMEOUT = 2.0  # a connected peer must say what it wants this fast (the loop waits for it)


def fingerprint() -> dict[str, tuple[int, int, int]]:
    """Every imported file's (inode, size, mtime): when one changes (an upgrade, an edit), a
    fork would run other code than a fresh `secretctl mcp`, so the server calls itself stale."""
    out: dict[str, tuple[int, int, int]] = {}
    for mod in list(sys.modules.values()):
        path = getattr(mod, "__file__", None)
        if isinstance(path, str) and path not in out:
            try:
                st = os.stat(path)
            except OSError:
                continue
            out[path] = (st.st_ino, st.st_size, st.st_mtime_ns)
    return out


def is_stale(seen: dict[str, tuple[int, int, int]]) -> bool:
    for path, mark in seen.items():
        try:
            st = os.stat(path)
        except OSError:
            return True
        if (st.st_ino, st.st_size, st.st_mtime_ns) != mark:
            return True
    return False


def listen(socket_path: Path) -> tuple[socket.socket, int] | None:
    """``(listener, lock fd)``, or None when another warm server holds the lock. The folder is
    the agent's private one (made by the agent, checked here); a socket file left there by a
    killed warm server is replaced (the lock says nobody serves it)."""
    agentsock.check_private_dir(socket_path.parent)
    fd = store.try_lock(Path(str(socket_path) + ".lock"))
    if fd is None:
        return None
    try:
        return unlock_agent.bind(socket_path), fd
    except BaseException:
        os.close(fd)
        raise


class _Watch:
    """The agent's life: a pidfd where Linux has one (readable when it exits), else a poll."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.fd: int | None = None
        with contextlib.suppress(AttributeError, OSError):
            self.fd = os.pidfd_open(pid)

    def gone(self) -> bool:
        if self.fd is not None:
            return bool(select.select([self.fd], [], [], 0)[0])
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False


class Server:
    def __init__(self, listener: socket.socket, socket_path: Path, *, agent_pid: int, child: Child,
                 lock_fd: int | None = None, accepts: Accepts | None = None) -> None:
        self.listener, self.socket_path, self.child, self.accepts = listener, socket_path, child, accepts
        self.lock_fd = lock_fd  # held for the warm server's life; a fork must not keep it held
        self.watch = _Watch(agent_pid)
        self.seen = fingerprint()
        self.started = time.time()
        self.children: dict[int, socket.socket] = {}
        self.refused_peers = 0
        self.stopping = False
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)
        self._socket_id = os.stat(socket_path)

    def stop(self) -> None:
        self.stopping = True
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"x")

    def serve(self) -> None:
        """Accept until stopped; then stop listening and wait for the forked servers."""
        signal.signal(signal.SIGTERM, lambda _s, _f: self.stop())
        signal.signal(signal.SIGCHLD, lambda _s, _f: self._wake())
        try:
            while not self.stopping:
                watched = [self.listener.fileno(), self._wake_r]
                if self.watch.fd is not None:
                    watched.append(self.watch.fd)
                ready, _, _ = select.select(watched, [], [], POLL)
                self._drain_wake()
                self._reap()
                if self.watch.gone():
                    break
                if self.listener.fileno() in ready and not self.stopping:
                    self._accept()
        finally:
            self._close_listener()
        while self.children:
            select.select([self._wake_r], [], [], POLL)
            self._drain_wake()
            self._reap()

    def _wake(self) -> None:
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"c")

    def _drain_wake(self) -> None:
        with contextlib.suppress(BlockingIOError, OSError):
            os.set_blocking(self._wake_r, False)
            while os.read(self._wake_r, 512):
                pass

    def _close_listener(self) -> None:
        self.listener.close()
        with contextlib.suppress(OSError):
            now = os.stat(self.socket_path)
            if (now.st_dev, now.st_ino) == (self._socket_id.st_dev, self._socket_id.st_ino):
                os.unlink(self.socket_path)  # never a successor's socket

    def _reap(self) -> None:
        while self.children:
            try:
                pid, wait_status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                self.children.clear()
                return
            if pid == 0:
                return
            conn = self.children.pop(pid, None)
            if conn is None:
                continue
            with conn, contextlib.suppress(OSError):
                # A child that exited itself has said so already; a signal death is told here.
                conn.sendall(warmproto.exit_frame(warmproto.status_of(wait_status)))

    def _accept(self) -> None:
        try:
            conn, _ = self.listener.accept()
        except OSError:
            return
        try:
            if agentsock.peer_uid(conn) != os.getuid():
                self.refused_peers += 1  # closed before reading a byte
                conn.close()
                return
            conn.settimeout(OP_TIMEOUT)
            op = conn.recv(1)
        except (OSError, SecretctlError):
            conn.close()
            return
        if op == warmproto.OP_RUN:
            self._fork(conn)
            return
        with conn, contextlib.suppress(OSError):
            if op == warmproto.OP_STATUS:
                conn.sendall(json.dumps(self.status()).encode() + b"\n")
            elif op == warmproto.OP_STOP:
                self.stop()
                conn.sendall(b"stopped\n")

    def status(self) -> dict[str, object]:
        return {"pid": os.getpid(), "agent_pid": self.watch.pid, "serving": len(self.children),
                "children": sorted(self.children),
                "uptime": time.time() - self.started, "stale": is_stale(self.seen),
                "refused_peers": self.refused_peers, "package": package_dir()}

    def _fork(self, conn: socket.socket) -> None:
        if is_stale(self.seen):
            with conn, contextlib.suppress(OSError):
                conn.sendall(warmproto.STALE)
            self.stop()
            return
        if threading.active_count() != 1:  # a fork copies one thread: a lock another held stays held
            conn.close()
            self.stop()
            return
        pid = os.fork()
        if pid == 0:
            code = 70
            try:
                code = self._in_child(conn)
            finally:
                os._exit(code)
        self.children[pid] = conn

    def _in_child(self, conn: socket.socket) -> int:
        """The forked child: forget the parent's loop, adopt the hand-off, run the server."""
        self.listener.close()
        for fd in (self._wake_r, self._wake_w, self.watch.fd, self.lock_fd):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        for other in self.children.values():
            other.close()
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        return adopt_and_run(conn, self.child, self.accepts)


def report_ready(line: dict[str, object]) -> None:
    os.write(1, json.dumps(line).encode() + b"\n")


def detach() -> None:
    """Close the pipes to `secretctl unlock`: the warm server talks to nobody but its socket."""
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)
