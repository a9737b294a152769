"""The filtering proxy: a sandboxed command's only way out, to the hosts its rule names.

DANGEROUS CODE, kept apart: it parses bytes a hostile command sends.

Design (the simplest that keeps enforcement outside the sandbox):

1. The sandbox has its own network namespace: only its own loopback, no route out, no DNS.
2. Before the command starts, a tiny bridge (``BRIDGE``, run by the system Python inside the
   sandbox) listens on 127.0.0.1:3128 *in the sandbox's namespace*, hands that listening
   socket to us over an inherited socketpair (SCM_RIGHTS) and execs the command, whose
   HTTP(S)_PROXY/ALL_PROXY point at that port. Nothing of ours keeps running inside.
3. We accept connections on that socket from outside the sandbox and serve HTTP CONNECT,
   plain-HTTP forwarding and SOCKS5 CONNECT, each to an allowed host:port only. Names are
   resolved here, outside; the command never resolves anything.

What it cannot stop: a command allowed to reach a host can send that host anything it can
read (its secrets included). The proxy limits *where*, not *what*.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from collections.abc import Sequence

from secretctl.core.hosts import parse_host

HEAD_LIMIT = 16 * 1024
CONNECT_TIMEOUT = 10.0
FD_TIMEOUT = 10.0

# The bridge's port inside the sandbox: its network namespace is new and empty, so it is free.
PORT = 3128
# Runs inside the sandbox as `python3 -I -S -c BRIDGE FD PROGRAM ARGV0 ARGS...`; the proxy
# variables are already in its environment (proxy_env).
BRIDGE = f"""\
import os, socket, sys
ch = socket.socket(fileno=int(sys.argv[1]))
ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
ls.bind(("127.0.0.1", {PORT}))
ls.listen(128)
socket.send_fds(ch, [b"L"], [ls.fileno()])
ls.close()
ch.close()
os.execv(sys.argv[2], sys.argv[3:])
"""


def proxy_env() -> dict[str, str]:
    """What tells programs inside the sandbox to use the bridge (curl reads the lower-case http_proxy)."""
    http = f"http://127.0.0.1:{PORT}"
    env = {k: http for k in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy")}
    env.update(ALL_PROXY=f"socks5h://127.0.0.1:{PORT}", all_proxy=f"socks5h://127.0.0.1:{PORT}", NO_PROXY="",
               no_proxy="")
    return env


class Proxy:
    """Serves one sandboxed run. Created before the spawn; ``close()`` ends every connection."""

    def __init__(self, hosts: Sequence[str], channel: socket.socket) -> None:
        self.rules = [parse_host(h) for h in hosts]
        self._channel = channel
        self._listener: socket.socket | None = None
        self._socks: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._closed = False
        self.denied: list[str] = []  # "host:port" the command asked for and did not get
        self._thread = threading.Thread(target=self._serve, name="secretctl-proxy", daemon=True)
        self._thread.start()

    def allowed(self, host: str, port: int) -> bool:
        return any(r.allows(host, port) for r in self.rules)

    # ---------------------------------------------------------------- lifecycle
    def _serve(self) -> None:
        try:
            self._channel.settimeout(FD_TIMEOUT)
            _msg, fds, _flags, _addr = socket.recv_fds(self._channel, 16, 1)
        except OSError:
            return
        finally:
            with contextlib.suppress(OSError):
                self._channel.close()
        if not fds:
            return
        listener = socket.socket(fileno=fds[0])
        if listener.type != socket.SOCK_STREAM or listener.family != socket.AF_INET:
            listener.close()
            return
        with self._lock:
            if self._closed:
                listener.close()
                return
            self._listener = listener
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            if not self._track(conn):
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _track(self, s: socket.socket) -> bool:
        with self._lock:
            if self._closed:
                s.close()
                return False
            self._socks.add(s)
            return True

    def close(self) -> None:
        with self._lock:
            self._closed = True
            socks = list(self._socks)
            self._socks.clear()
            listener, self._listener = self._listener, None
        for s in [*socks, *([listener] if listener else []), self._channel]:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                s.close()

    # ---------------------------------------------------------------- protocols
    def _handle(self, conn: socket.socket) -> None:
        try:
            conn.settimeout(CONNECT_TIMEOUT)
            first = conn.recv(1, socket.MSG_PEEK)
            if not first:
                return
            if first == b"\x05":
                self._socks5(conn)
            else:
                self._http(conn)
        except (OSError, ValueError, struct.error):
            pass
        finally:
            with contextlib.suppress(OSError):
                conn.close()

    def _open(self, host: str, port: int) -> socket.socket | None:
        if not self.allowed(host, port):
            self.denied.append(f"{host}:{port}")
            return None
        try:
            up = socket.create_connection((host, port), timeout=CONNECT_TIMEOUT)
        except OSError:
            return None
        if not self._track(up):
            return None
        return up

    def _http(self, conn: socket.socket) -> None:
        head, extra = _read_head(conn)
        line, _, rest = head.partition(b"\r\n")
        parts = line.split(b" ")
        if len(parts) != 3:
            conn.sendall(_reply(400, "bad request"))
            return
        method, target, version = parts
        if method.upper() == b"CONNECT":
            host, port = _split_hostport(target.decode("ascii", "replace"), None)
            up = self._open(host, port)
            if up is None:
                conn.sendall(_reply(403, f"secretctl: {host}:{port} is not an allowed host for this command"))
                return
            conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            if extra:
                up.sendall(extra)
            _splice(conn, up)
            return
        url = target.decode("ascii", "replace")
        if not url.lower().startswith("http://"):
            conn.sendall(_reply(400, "secretctl proxy: only http:// URLs and CONNECT"))
            return
        hostport, slash, path = url[7:].partition("/")
        host, port = _split_hostport(hostport.rpartition("@")[2], 80)
        up = self._open(host, port)
        if up is None:
            conn.sendall(_reply(403, f"secretctl: {host}:{port} is not an allowed host for this command"))
            return
        headers = [h for h in rest.split(b"\r\n") if h and not h.lower().startswith((b"proxy-", b"connection:"))]
        out = b" ".join([method, ("/" + path if slash else "/").encode(), version]) + b"\r\n"
        out += b"\r\n".join([*headers, b"Connection: close"]) + b"\r\n\r\n"
        up.sendall(out + extra)
        _splice(conn, up)

    def _socks5(self, conn: socket.socket) -> None:
        ver, n = _recv_exact(conn, 2)
        methods = _recv_exact(conn, n)
        if ver != 5 or 0 not in methods:
            conn.sendall(b"\x05\xff")
            return
        conn.sendall(b"\x05\x00")
        ver, cmd, _, atyp = _recv_exact(conn, 4)
        if atyp == 1:
            host = socket.inet_ntoa(_recv_exact(conn, 4))
        elif atyp == 3:
            host = _recv_exact(conn, _recv_exact(conn, 1)[0]).decode("ascii", "replace")
        elif atyp == 4:
            host = socket.inet_ntop(socket.AF_INET6, _recv_exact(conn, 16))
        else:
            conn.sendall(b"\x05\x08\x00\x01" + bytes(6))
            return
        port = struct.unpack("!H", _recv_exact(conn, 2))[0]
        if cmd != 1:
            conn.sendall(b"\x05\x07\x00\x01" + bytes(6))
            return
        up = self._open(host, port)
        if up is None:
            conn.sendall(b"\x05\x02\x00\x01" + bytes(6))  # connection not allowed by ruleset
            return
        conn.sendall(b"\x05\x00\x00\x01" + bytes(6))
        _splice(conn, up)


def _read_head(conn: socket.socket) -> tuple[bytes, bytes]:
    """The request head, and whatever the client already sent after it (a body)."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = conn.recv(4096)
        if not chunk:
            raise ValueError("closed")
        buf += chunk
        if len(buf) > HEAD_LIMIT:
            raise ValueError("head too large")
    head, _, extra = buf.partition(b"\r\n\r\n")
    return head, extra


def _recv_exact(conn: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = conn.recv(n - len(buf))
        if not chunk:
            raise ValueError("closed")
        buf += chunk
    return buf


def _split_hostport(text: str, default: int | None) -> tuple[str, int]:
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    else:
        host, port_text = text, ""
    if not port_text:
        if default is None:
            raise ValueError("port required")
        return host, default
    return host, int(port_text)


def _reply(code: int, message: str) -> bytes:
    body = (message + "\n").encode("utf-8", "replace")
    reason = {400: "Bad Request", 403: "Forbidden"}.get(code, "Error")
    return (f"HTTP/1.1 {code} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n").encode() + body


def _splice(a: socket.socket, b: socket.socket) -> None:
    """Copy both ways until either side closes."""
    a.settimeout(None)
    b.settimeout(None)

    def pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_WR)

    t = threading.Thread(target=pump, args=(b, a), daemon=True)
    t.start()
    pump(a, b)
    t.join()
    with contextlib.suppress(OSError):
        b.close()
