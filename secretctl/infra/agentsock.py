"""The unlock agent's client: find its socket, check who answers, send one request.

Imported on the start-up fast path of `get`, so it imports nothing heavy: no pyrage, no yaml,
no platformdirs (``settings.agent_socket_path`` computes the path without them).

Trust runs both ways. The agent refuses a peer of another uid; this client refuses a socket in a
directory someone else owns or can write to, and an agent that is not running as us: either
could hand us a fake value or collect what we ask for.
"""

from __future__ import annotations

import _socket  # the C module: socket.py would import enum and selectors (the fast path's budget)
import _thread  # the C module: threading.py is not needed for one lock
import os
import stat
import struct
import sys
import time  # a built-in module: nothing more for the fast path to load

from secretctl.core import agentproto
from secretctl.core.secret import Secret
from secretctl.errors import IdentityError, SecretctlError, UsageError, VaultCorruptError, VaultLockedError

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing and pathlib cost the fast path about 20 ms of imports: for mypy only
    from collections.abc import Callable, Mapping, Sequence
    from pathlib import Path
    from typing import Any, TypeVar

    _T = TypeVar("_T")

LOCKED_MESSAGE = "vault locked: run `secretctl unlock`"
TIMEOUT = 30.0  # a decryption batch takes milliseconds; a hung agent must not hang every command
BATCH_BYTES = 32 * 1024 * 1024  # split big batches well under the protocol's message limit
_ERRORS: dict[str, type[SecretctlError]] = {
    "IdentityError": IdentityError, "VaultCorruptError": VaultCorruptError, "UsageError": UsageError,
    "VaultLockedError": VaultLockedError,
}
LOCKED_HINT = "the unlock agent has forgotten the key (timeout, `secretctl lock`) or is not running"


class AgentUnavailable(Exception):
    """No agent answers at the socket (none started, or it exited, was locked or killed)."""


class AgentStatus:
    """What `status` reports. A plain class: NamedTuple (typing) or dataclasses cost the fast
    path 5-10 ms of imports."""

    __slots__ = ("expires_in", "idle_in", "memory_locked", "pid", "recipient", "refused_peers")

    def __init__(self, *, recipient: str, pid: int, expires_in: float | None, idle_in: float | None,
                 memory_locked: bool, refused_peers: int) -> None:
        self.recipient, self.pid, self.expires_in, self.idle_in = recipient, pid, expires_in, idle_in
        self.memory_locked, self.refused_peers = memory_locked, refused_peers


def check_private_dir(path: str | Path) -> None:
    """Refuse a runtime directory that is a symlink, someone else's, or open to others."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        raise AgentUnavailable(str(path)) from None
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o077:
        raise IdentityError(f"the agent's directory {path} is not private (owner {st.st_uid}, "
                            f"mode {stat.S_IMODE(st.st_mode):o})",
                            hint="it must be a directory of yours with mode 0700; remove it and run `secretctl unlock`")


def _peercred(sock: _socket.socket) -> tuple[int, int, int]:
    """Linux's SO_PEERCRED: (pid, uid, gid) of the other end, as of its connect."""
    creds = sock.getsockopt(_socket.SOL_SOCKET, _socket.SO_PEERCRED, struct.calcsize("3i"))
    pid, uid, gid = struct.unpack("3i", creds)
    return int(pid), int(uid), int(gid)


def peer_pid(sock: _socket.socket) -> int:
    """Linux only: the pid of the other end, as this process's pid namespace numbers it (0 when
    it is outside that namespace's view)."""
    return _peercred(sock)[0]


SO_PEERPIDFD = 77  # Linux 6.5+; not in python's socket module before 3.14


def peer_pidfd(sock: _socket.socket) -> int | None:
    """Linux 6.5+: a pidfd of the process that connected (the caller closes it), which tells
    whether that very process still runs, as its pid cannot (a pid is reused once reaped). None
    where the kernel has no such option; OSError when it has one and the process is gone."""
    try:
        return int(sock.getsockopt(_socket.SOL_SOCKET, SO_PEERPIDFD))
    except OSError as exc:
        if exc.errno in (92, 95):  # ENOPROTOOPT, EOPNOTSUPP: a kernel before 6.5
            return None
        raise


def peer_uid(sock: _socket.socket) -> int:
    """The uid of the process at the other end of a connected unix socket."""
    if sys.platform.startswith("linux"):
        return _peercred(sock)[1]
    if sys.platform == "darwin" or "bsd" in sys.platform:
        # LOCAL_PEERCRED (SOL_LOCAL=0, option 1) fills a struct xucred: u_int version, uid_t uid, ...
        creds = sock.getsockopt(0, 1, 76)
        _version, uid = struct.unpack_from("2I", creds)
        return int(uid)
    raise IdentityError("this platform cannot tell who is at the other end of a socket",
                        hint="the unlock agent needs Linux or macOS")


def connect(path: str | Path, *, timeout: float = TIMEOUT) -> _socket.socket:
    """A connection to the agent at ``path``, after checking its directory and its uid."""
    check_private_dir(os.path.dirname(os.fspath(path)) or ".")
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(str(path))
    except (FileNotFoundError, ConnectionRefusedError):
        # No socket, or one left by a killed agent: nobody listens, so nobody holds the key.
        sock.close()
        raise AgentUnavailable(str(path)) from None
    except OSError as exc:
        sock.close()
        raise IdentityError(f"cannot reach the unlock agent at {path}: {exc.strerror or type(exc).__name__}",
                            hint="run `secretctl lock` and `secretctl unlock` again") from None
    if peer_uid(sock) != os.getuid():
        sock.close()
        raise IdentityError(f"the socket {path} is served by another user",
                            hint="remove it and run `secretctl unlock`")
    return sock


def recv_exact(sock: _socket.socket, n: int, deadline: float | None = None) -> bytes:
    """Exactly ``n`` bytes from a stream socket; EOFError if the other end closes first (the
    agent's and the warm server's framing alike). With ``deadline`` (time.monotonic()), all of
    them before it, else TimeoutError: a per-read timeout alone would let a peer that sends one
    byte at a time keep the reader waiting for ever."""
    buf = bytearray()
    while len(buf) < n:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("the peer is too slow")
            sock.settimeout(left)
        chunk = sock.recv(min(n - len(buf), 1 << 20))
        if not chunk:
            raise EOFError
        buf += chunk
    return bytes(buf)


def exchange(sock: _socket.socket, header: dict[str, Any], blobs: Sequence[bytes] = ()) -> tuple[dict[str, Any],
                                                                                               list[bytes]]:
    """Send one request and read its reply on an open connection."""
    try:
        sock.sendall(agentproto.encode({"v": agentproto.VERSION, **header}, list(blobs)))
        n = agentproto.body_length(recv_exact(sock, 4))
        reply, out = agentproto.decode(recv_exact(sock, n))
    except (BrokenPipeError, ConnectionResetError, EOFError):
        raise AgentUnavailable("the agent closed the connection") from None
    except TimeoutError:
        raise IdentityError("the unlock agent did not answer in time",
                            hint="run `secretctl lock` and `secretctl unlock` again") from None
    except agentproto.ProtocolError:
        raise IdentityError("the unlock agent sent a malformed reply",
                            hint="run `secretctl lock` and `secretctl unlock` again") from None
    error = reply.get("error")
    if isinstance(error, dict):
        raise error_from(error)
    return reply, out


def error_from(data: Mapping[str, Any]) -> SecretctlError:
    """The error an agent reported, as the class the local decryption would have raised."""
    cls = _ERRORS.get(str(data.get("type")), IdentityError)
    hint = data.get("hint")
    return cls(str(data.get("message", "the unlock agent refused")), hint=str(hint) if hint else None)


class AgentClient:
    """One connection to a running agent, reused for every request of a command."""

    def __init__(self, path: str | Path, *, recipient: str | None = None) -> None:
        self.path = path
        self.recipient = recipient  # the recipient the caller expects (from the .pub file), if known
        self._sock: _socket.socket | None = None
        # One connection, one request at a time: the MCP server asks from several threads (the
        # redactor's build, runs, the lock check), and interleaved frames would mix the replies.
        self._lock = _thread.allocate_lock()

    def _conn(self) -> _socket.socket:
        if self._sock is None:
            self._sock = connect(self.path)
        return self._sock

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def forget(self) -> None:
        """In a forked child: drop the parent's connection without a byte sent or a close (the
        parent goes on talking on it, and the child may already have closed its copy of the
        descriptor, whose number a new one may reuse); the next request connects anew."""
        if self._sock is not None:
            self._sock.detach()
            self._sock = None
        self._lock = _thread.allocate_lock()  # a copy of the parent's, maybe held there

    def _exchange(self, header: dict[str, Any], blobs: Sequence[bytes] = ()) -> tuple[dict[str, Any], list[bytes]]:
        with self._lock:
            return exchange(self._conn(), header, blobs)

    def status(self) -> AgentStatus:
        reply, _ = self._exchange({"op": "status"})
        return AgentStatus(recipient=str(reply["recipient"]), pid=int(reply["pid"]),
                           expires_in=reply.get("expires_in"), idle_in=reply.get("idle_in"),
                           memory_locked=bool(reply.get("memory_locked")),
                           refused_peers=int(reply.get("refused_peers", 0)))

    def lock(self) -> None:
        self._exchange({"op": "lock"})
        self.close()

    def decrypt_many(self, items: Sequence[tuple[str, bytes]]) -> list[bytes | SecretctlError]:
        """Plaintexts (or the error each file gave), for ``(source label, ciphertext)`` pairs, in order."""
        out: list[bytes | SecretctlError] = []
        start = 0
        while start < len(items):
            end, size = start, 0
            while end < len(items) and (end == start or size + len(items[end][1]) < BATCH_BYTES):
                size += len(items[end][1])
                end += 1
            batch = items[start:end]
            header: dict[str, Any] = {"op": "decrypt", "sources": [s for s, _ in batch]}
            if self.recipient:
                header["recipient"] = self.recipient
            reply, blobs = self._exchange(header, [c for _, c in batch])
            results = reply.get("results")
            if not isinstance(results, list) or len(results) != len(batch) or len(blobs) != len(batch):
                raise IdentityError("the unlock agent sent a malformed reply",
                                    hint="run `secretctl lock` and `secretctl unlock` again")
            for res, blob in zip(results, blobs, strict=True):
                out.append(error_from(res["error"]) if isinstance(res, dict) and "error" in res else blob)
            start = end
        return out

    def decrypt(self, ciphertext: bytes, *, source: str) -> bytes:
        (result,) = self.decrypt_many([(source, ciphertext)])
        if isinstance(result, SecretctlError):
            raise result
        return result


class AgentIdentity:
    """The identity as the agent holds it: decrypts through the agent, never sees the key
    (``infra.identity.Unlocked``)."""

    def __init__(self, client: AgentClient, recipient: str, path: Path) -> None:
        self.client, self.recipient, self.path = client, recipient, path

    def __repr__(self) -> str:
        return f"AgentIdentity(recipient={self.recipient!r}, socket={str(self.client.path)!r})"

    @classmethod
    def open(cls, socket_path: Path, identity_path: Path, expected: str | None) -> AgentIdentity:
        """The running agent for ``identity_path``; AgentUnavailable when none answers."""
        client = AgentClient(socket_path, recipient=expected)
        status = client.status()
        if expected and status.recipient != expected:
            client.close()
            raise IdentityError(f"the unlock agent holds another identity than {identity_path}",
                                hint="run `secretctl lock`, then `secretctl unlock`")
        return cls(client, status.recipient, identity_path)

    def _reconnecting(self, call: Callable[[], _T]) -> _T:
        """``call`` on the connection, once more on a new one if it failed. A long-lived caller
        (the MCP server) outlives agents: after a lock and a new unlock, the next request reaches
        the new agent; with none, it is "vault locked", not a crash."""
        try:
            return call()
        except AgentUnavailable:
            self.client.close()
            try:
                return call()
            except AgentUnavailable:
                self.client.close()
                raise VaultLockedError(LOCKED_MESSAGE, hint=LOCKED_HINT) from None

    def after_fork(self) -> None:
        """In a forked child: its own connection to the agent from the next request on."""
        self.client.forget()

    def check_unlocked(self) -> None:
        """Raise VaultLockedError unless an agent for this identity answers (one status round trip)."""
        status = self._reconnecting(self.client.status)
        if status.recipient != self.recipient:
            raise VaultLockedError(LOCKED_MESSAGE, hint=LOCKED_HINT)

    def decrypt(self, ciphertext: bytes, *, source: str) -> Secret:
        (result,) = self.decrypt_many([(source, ciphertext)])
        if isinstance(result, SecretctlError):
            raise result
        return result

    def decrypt_many(self, items: Sequence[tuple[str, bytes]]) -> list[Secret | SecretctlError]:
        results = self._reconnecting(lambda: self.client.decrypt_many(items))
        return [r if isinstance(r, SecretctlError) else Secret(r) for r in results]
