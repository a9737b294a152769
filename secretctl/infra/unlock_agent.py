"""The unlock agent: one process that holds an unlocked identity in memory and decrypts for
clients of the same uid, until its timeout, its idle timeout, `secretctl lock` or SIGTERM.

The identity never leaves this process: a client sends ciphertexts, the agent answers with
plaintexts. It is started by ``secretctl unlock`` (``spawn``: a detached process that gets the
passphrase over a pipe, never argv or the environment) or runs in the caller's process
(``serve_foreground``: systemd and launchd units). Forgetting the key is exiting: the process
and its memory are gone, and the socket is removed.

Dangerous code (it holds the key): kept to this module, which serves four requests (status,
decrypt, lock) and nothing else.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from secretctl.core import agentproto
from secretctl.core.secret import Secret
from secretctl.errors import IdentityError, SecretctlError, UsageError, VaultLockedError, WrongPasswordError
from secretctl.infra import agentsock, hardening, store
from secretctl.infra import identity as identity_mod

MAX_TRIES = 3
POLL = 5.0  # the longest the loop sleeps between deadline checks (a suspended laptop wakes late)
CONN_TIMEOUT = 10.0
_REPORTED_TYPES = {"IdentityError", "VaultCorruptError", "UsageError", "VaultLockedError"}
Ask = Callable[[int], "str | None"]  # attempt number (0-based) -> a passphrase, or None to give up


def clock() -> float:
    """Seconds that keep counting while the machine sleeps (a timeout must not stretch over a
    suspend): CLOCK_BOOTTIME on Linux, the monotonic clock elsewhere."""
    boottime = getattr(time, "CLOCK_BOOTTIME", None)
    return time.clock_gettime(boottime) if boottime is not None else time.monotonic()


# ------------------------------------------------------------------ the socket
def acquire(socket_path: Path) -> int:
    """Create and check the private directory, and take the agent's lock (held for its life, so
    a second agent for the same identity refuses to start; a killed agent's lock dies with it)."""
    folder = socket_path.parent
    old = os.umask(0o077)
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise IdentityError(f"cannot create the agent's directory {folder}: {exc.strerror}") from None
    finally:
        os.umask(old)
    agentsock.check_private_dir(folder)
    fd = store.try_lock(Path(str(socket_path) + ".lock"))
    if fd is None:
        raise UsageError("an unlock agent is already running for this identity",
                         hint="see `secretctl status`; `secretctl lock` stops it")
    return fd


def bind(socket_path: Path) -> socket.socket:
    """Listen at ``socket_path`` (mode 0600 from its creation). Called with the lock held, so a
    file already there is a dead agent's socket."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(socket_path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)
    try:
        sock.bind(str(socket_path))
    except OSError as exc:
        sock.close()
        raise IdentityError(f"cannot listen at {socket_path}: {exc.strerror}",
                            hint="paths over about 100 characters do not fit a unix socket; "
                                 "set SECRETCTL_RUNTIME_DIR to a shorter folder") from None
    finally:
        os.umask(old)
    os.chmod(socket_path, 0o600)
    sock.listen(16)
    return sock


# ------------------------------------------------------------------- the agent
class Agent:
    def __init__(self, identity: identity_mod.Identity, *, timeout: float | None, idle: float | None,
                 memory_locked: bool = False) -> None:
        self._identity: identity_mod.Identity | None = identity
        self.recipient = identity.recipient
        self.timeout, self.idle = timeout, idle
        self.started = self.last_use = clock()
        self.memory_locked = memory_locked
        self.refused_peers = 0
        self.stopping = False
        self._wake_r, self._wake_w = os.pipe()

    def remaining(self) -> float | None:
        """Seconds until the key must be forgotten (None: never by time)."""
        now = clock()
        limits = []
        if self.timeout is not None:
            limits.append(self.started + self.timeout - now)
        if self.idle is not None:
            limits.append(self.last_use + self.idle - now)
        return min(limits) if limits else None

    def stop(self) -> None:
        """Forget the key and wake the loop (from a request, a timer or a signal handler)."""
        self.stopping = True
        self._identity = None
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"x")

    def serve(self, listener: socket.socket) -> None:
        while not self.stopping:
            left = self.remaining()
            if left is not None and left <= 0:
                break
            wait = POLL if left is None else min(left, POLL)
            try:
                ready, _, _ = select.select([listener.fileno(), self._wake_r], [], [], wait)
            except InterruptedError:  # pragma: no cover - PEP 475 retries; kept for clarity
                continue
            if listener.fileno() in ready and not self.stopping:
                try:
                    conn, _ = listener.accept()
                except OSError:
                    continue
                threading.Thread(target=self._connection, args=(conn,), daemon=True).start()
        self.stop()

    def _connection(self, conn: socket.socket) -> None:
        with conn:
            try:
                if agentsock.peer_uid(conn) != os.getuid():
                    self.refused_peers += 1  # closed before reading a byte
                    return
            except (OSError, SecretctlError):
                return
            conn.settimeout(CONN_TIMEOUT)
            try:
                while not self.stopping:
                    prefix = conn.recv(4, socket.MSG_WAITALL)
                    if len(prefix) < 4:
                        return
                    n = agentproto.body_length(prefix)
                    body = agentsock.recv_exact(conn, n)
                    header, blobs = agentproto.decode(body)
                    reply, out = self.respond(header, blobs)
                    conn.sendall(agentproto.encode(reply, out))
                    if header.get("op") == "lock":
                        self.stop()
                        return
            except (OSError, EOFError, agentproto.ProtocolError):
                return  # a malformed or vanished client gets nothing more

    def respond(self, header: dict[str, Any], blobs: list[bytes]) -> tuple[dict[str, Any], list[bytes]]:
        if header.get("v") != agentproto.VERSION:
            return _error(UsageError("this unlock agent speaks another protocol version",
                                     hint="run `secretctl lock`, then `secretctl unlock`")), []
        op = header.get("op")
        if op == "status":
            left = self.remaining()
            return {"recipient": self.recipient, "pid": os.getpid(),
                    "expires_in": None if self.timeout is None else self.started + self.timeout - clock(),
                    "idle_in": None if self.idle is None else self.last_use + self.idle - clock(),
                    "left": left, "memory_locked": self.memory_locked, "refused_peers": self.refused_peers}, []
        if op == "lock":
            return {"locked": True}, []
        if op == "decrypt":
            return self._decrypt(header, blobs)
        return _error(UsageError("unknown request to the unlock agent")), []

    def _decrypt(self, header: dict[str, Any], blobs: list[bytes]) -> tuple[dict[str, Any], list[bytes]]:
        from secretctl.infra import crypto

        ident = self._identity
        left = self.remaining()
        if ident is None or self.stopping or (left is not None and left <= 0):
            self.stop()
            return _error(VaultLockedError(agentsock.LOCKED_MESSAGE, hint=agentsock.LOCKED_HINT)), []
        expected = header.get("recipient")
        if expected and expected != self.recipient:
            return _error(IdentityError("the unlock agent holds another identity than yours",
                                        hint="run `secretctl lock`, then `secretctl unlock`")), []
        sources = header.get("sources")
        if not isinstance(sources, list) or len(sources) != len(blobs):
            return _error(UsageError("malformed decrypt request")), []
        self.last_use = clock()
        results: list[dict[str, Any]] = []
        out: list[bytes] = []
        bulk = _decrypt_bulk_of(ident, sources, blobs)  # decrypt_many picks pyrage or the bulk decryptor
        if bulk is not None:
            return {"results": [_error(r) if isinstance(r, SecretctlError) else {} for r in bulk]}, \
                [b"" if isinstance(r, SecretctlError) else r.reveal() for r in bulk]
        for source, data in zip(sources, blobs, strict=True):
            try:
                out.append(crypto.decrypt(data, ident.keys, source=str(source)[:300]).reveal())
                results.append({})
            except SecretctlError as exc:
                results.append(_error(exc))
                out.append(b"")
            except Exception as exc:
                results.append(_error(IdentityError(f"{str(source)[:300]}: the agent could not decrypt it "
                                                    f"({type(exc).__name__})")))
                out.append(b"")
        return {"results": results}, out


def _decrypt_bulk_of(ident: identity_mod.Identity, sources: list[Any], blobs: list[bytes]
                    ) -> list[Secret | SecretctlError] | None:
    """The files through Identity.decrypt_many, as a local identity reads them (from BULK_MIN
    files on, agerekey's bulk decryptor: about half pyrage's cost per file, which a
    10,000-secret MCP build pays here); None if anything unexpected happens, and the caller
    decrypts file by file, reporting each file's error."""
    try:
        return ident.decrypt_many([(str(s)[:300], d) for s, d in zip(sources, blobs, strict=True)])
    except Exception:  # any surprise: the per-file loop reports each file's error
        return None


def _error(exc: SecretctlError) -> dict[str, Any]:
    kind = type(exc).__name__
    return {"error": {"type": kind if kind in _REPORTED_TYPES else "IdentityError", "message": exc.message,
                      "hint": exc.hint}}


def unlock_identity(identity_path: Path, ask: Ask, on_wrong: Callable[[int], None] = lambda _n: None
                    ) -> identity_mod.Identity:
    """Load the identity, asking ``ask`` again after a wrong passphrase (at most MAX_TRIES)."""
    try:
        with open(identity_path, "rb") as fh:
            protected = identity_mod.is_protected(fh.read(64))
    except OSError:
        protected = False  # load() names the problem
    if not protected:
        return identity_mod.load(identity_path, lambda: "")
    wrong: WrongPasswordError | None = None
    for attempt in range(MAX_TRIES):
        pw = ask(attempt)
        if pw is None:
            break
        try:
            return identity_mod.load(identity_path, lambda pw=pw: pw)  # type: ignore[misc]
        except WrongPasswordError as exc:
            wrong = exc
            if attempt + 1 < MAX_TRIES:
                on_wrong(attempt + 1)
    raise wrong or IdentityError("no password given", hint="type it on a terminal, or pipe it on stdin")


def run(identity: identity_mod.Identity, socket_path: Path, lock_fd: int, *, timeout: float | None,
        idle: float | None, ready: Callable[[Agent], None] = lambda _a: None) -> None:
    """Serve until the key is forgotten, then remove the socket. Runs in the calling process."""
    listener = bind(socket_path)
    agent = Agent(identity, timeout=timeout, idle=idle, memory_locked=hardening.lock_memory())
    st = os.stat(socket_path)
    previous = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, lambda _s, _f: agent.stop())
    try:
        ready(agent)
        agent.serve(listener)
    finally:
        agent.stop()
        listener.close()
        with contextlib.suppress(OSError):
            now = os.stat(socket_path)
            if (now.st_dev, now.st_ino) == (st.st_dev, st.st_ino):  # never remove a successor's socket
                os.unlink(socket_path)
        os.close(lock_fd)
        signal.signal(signal.SIGTERM, previous)


def serve_foreground(identity_path: Path, socket_path: Path, ask: Ask, *, timeout: float | None,
                     idle: float | None, ready: Callable[[Agent], None] = lambda _a: None,
                     on_wrong: Callable[[int], None] = lambda _n: None) -> None:
    """``secretctl unlock --foreground``: this process is the agent (a systemd or launchd unit)."""
    hardening.set_not_dumpable()
    hardening.collect_promptly()  # started through cli/main.py, which collects less often
    hardening.no_core_dumps()
    lock_fd = acquire(socket_path)
    try:
        ident = unlock_identity(identity_path, ask, on_wrong)
    except BaseException:
        os.close(lock_fd)
        raise
    run(ident, socket_path, lock_fd, timeout=timeout, idle=idle, ready=ready)


# --------------------------------------------------- the detached agent process
_U32 = struct.Struct(">I")


def _read_frame(fd: int) -> str | None:
    def exact(n: int) -> bytes | None:
        buf = b""
        while len(buf) < n:
            chunk = os.read(fd, n - len(buf))
            if not chunk:
                return None
            buf += chunk
        return buf

    prefix = exact(4)
    if prefix is None:
        return None
    (n,) = _U32.unpack(prefix)
    if n > 64 * 1024:
        return None
    data = exact(n)
    return None if data is None else data.decode("utf-8", errors="replace")


def _report(state: str, **data: Any) -> None:
    os.write(1, (json.dumps({"state": state, **data}) + "\n").encode())


def _detach() -> None:
    """Close the inherited stdio (the pipes to `secretctl unlock`): the agent talks to nobody
    but its socket from now on, and holds no terminal open."""
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)


def main(argv: list[str] | None = None) -> int:
    """The detached agent (``python -I -m secretctl.infra.unlock_agent``), started by ``spawn``."""
    hardening.set_not_dumpable()  # before the passphrase arrives
    hardening.no_core_dumps()
    args = argv if argv is not None else sys.argv[1:]
    opts = dict(zip(args[::2], args[1::2], strict=False))
    identity_path, socket_path = Path(opts["--identity"]), Path(opts["--socket"])
    timeout = float(opts["--timeout"]) or None
    idle = float(opts["--idle"]) or None
    try:
        lock_fd = acquire(socket_path)
        ident = unlock_identity(identity_path, lambda _n: _read_frame(0),
                                lambda n: _report("wrong", tries_left=MAX_TRIES - n))
    except SecretctlError as exc:
        _report("error", **_error(exc)["error"])
        return 1

    def ready(agent: Agent) -> None:
        _report("ok", recipient=agent.recipient, pid=os.getpid())
        _detach()

    try:
        run(ident, socket_path, lock_fd, timeout=timeout, idle=idle, ready=ready)
    except SecretctlError as exc:
        _report("error", **_error(exc)["error"])
        return 1
    return 0


_KEPT_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "SYSTEMROOT")


def spawn(identity_path: Path, socket_path: Path, ask: Ask, *, protected: bool, timeout: float | None,
          idle: float | None, environ: dict[str, str], on_wrong: Callable[[int], None] = lambda _n: None) -> int:
    """Start the detached agent and hand it the passphrase over a pipe; returns its pid once it
    listens. Its argv holds paths and durations only; its environment a few neutral variables
    (never SECRETCTL_PASSWORD); ``-I`` keeps PYTHON* variables and the working folder out of it."""
    argv = [sys.executable, "-I", "-m", "secretctl.infra.unlock_agent", "--identity", str(identity_path),
            "--socket", str(socket_path), "--timeout", str(timeout or 0), "--idle", str(idle or 0)]
    env = {k: environ[k] for k in _KEPT_ENV if k in environ}
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            start_new_session=True, close_fds=True, cwd="/", env=env)
    assert proc.stdin is not None  # noqa: S101 - a pipe, requested above
    assert proc.stdout is not None  # noqa: S101 - a pipe, requested above
    attempt = 0
    try:
        while True:
            if protected:
                pw = ask(attempt)
                if pw is None:
                    proc.stdin.close()
                else:
                    data = pw.encode()
                    proc.stdin.write(_U32.pack(len(data)) + data)
                    proc.stdin.flush()
            line = proc.stdout.readline()
            if not line:
                proc.wait(5)
                raise IdentityError("the unlock agent exited before it was ready",
                                    hint="run `secretctl unlock --foreground` to see why")
            msg = json.loads(line)
            if msg.get("state") == "ok":
                return int(msg["pid"])
            if msg.get("state") == "wrong":
                attempt += 1
                on_wrong(attempt)
                continue
            proc.wait(5)
            raise agentsock.error_from(msg)
    except BaseException:
        if proc.poll() is None:
            proc.kill()
        raise
    finally:
        for pipe in (proc.stdin, proc.stdout):
            with contextlib.suppress(OSError):
                pipe.close()


if __name__ == "__main__":
    sys.exit(main())
