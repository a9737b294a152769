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
import struct
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from secretctl.core import warmproto
from secretctl.errors import SecretctlError
from secretctl.infra import agentsock, settings, store, unlock_agent

POLL = 5.0  # the longest the loop sleeps between checks that its agent still runs
OP_TIMEOUT = 2.0  # a connected peer must say what it wants this fast (the loop waits for it)
GO_TIMEOUT = 30.0  # the launcher's go after the hand-off; without it, the child leaves stdio alone
Child = Callable[[warmproto.Handoff], int]  # runs the server in the child; returns its exit status


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


def package_dir() -> str:
    """The secretctl installation this process runs (a launcher of another one is not served)."""
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


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
                 lock_fd: int | None = None) -> None:
        self.listener, self.socket_path, self.child = listener, socket_path, child
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
        return adopt_and_run(conn, self.child)


def _recv_exact(conn: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        part = conn.recv(n - len(buf))
        if not part:
            raise EOFError
        buf += part
    return buf


def _receive(conn: socket.socket) -> tuple[warmproto.Handoff, list[int]]:
    """The hand-off and its descriptors (closing any descriptor a malformed message brought)."""
    space = socket.CMSG_SPACE(warmproto.FDS * 4)
    data, ancillary, _flags, _addr = conn.recvmsg(4, space)
    fds: list[int] = []
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            usable = len(payload) - len(payload) % 4
            fds.extend(struct.unpack(f"{usable // 4}i", payload[:usable]))
    try:
        if len(data) < 4:
            data += _recv_exact(conn, 4 - len(data))
        body = _recv_exact(conn, warmproto.body_length(data))
        handoff = warmproto.decode(body)
        if len(fds) != warmproto.FDS:
            raise warmproto.ProtocolError("expected stdin, stdout, stderr and a folder")
    except BaseException:
        for fd in fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        raise
    return handoff, fds


def adopt_and_run(conn: socket.socket, child: Child) -> int:
    """In the forked child: take the launcher's stdio, folder, umask, argv and environment, then
    run the server. Before the launcher's go nothing of stdio is touched (FAILED: it runs cold)."""
    conn.settimeout(GO_TIMEOUT)
    try:
        conn.sendall(warmproto.pid_frame(os.getpid()))
        handoff, fds = _receive(conn)
    except (OSError, EOFError, warmproto.ProtocolError):
        return 0
    if handoff.executable != os.fsencode(sys.executable) or handoff.package != os.fsencode(package_dir()):
        with contextlib.suppress(OSError):
            conn.sendall(warmproto.FAILED)  # another installation's launcher: it runs its own
        return 0
    stdio, folder = fds[:3], fds[3]
    try:
        conn.sendall(warmproto.ADOPTED)
        if _recv_exact(conn, 1) != warmproto.GO:
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
            frame = _recv_exact(conn, 1)
            if frame == warmproto.SIGNAL:
                signum = _recv_exact(conn, 1)[0]
                if signum in forwarded:
                    os.kill(os.getpid(), signum)
        except (OSError, EOFError):
            break
    os.kill(os.getpid(), signal.SIGTERM)  # as a cold server whose client went away by a kill
    time.sleep(3)
    os._exit(128 + signal.SIGTERM)  # a handler kept it alive: the client is gone all the same


def report_ready(line: dict[str, object]) -> None:
    os.write(1, json.dumps(line).encode() + b"\n")


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


def detach() -> None:
    """Close the pipes to `secretctl unlock`: the warm server talks to nobody but its socket."""
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)


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
