"""The filtering proxy (infra/netproxy.py) over real sockets: the listening socket arrives as the
bridge sends it (SCM_RIGHTS), then HTTP CONNECT, plain HTTP and SOCKS5 to allowed and other hosts."""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator

import pytest

from secretctl.infra.netproxy import Proxy


def _echo_server() -> tuple[socket.socket, list[bytes]]:
    srv = socket.create_server(("127.0.0.1", 0))
    got: list[bytes] = []

    def serve() -> None:
        while True:
            try:
                c, _ = srv.accept()
            except OSError:
                return
            data = c.recv(65536)
            got.append(data)
            reply = b"HTTP/1.0 200 OK\r\nContent-Length: 4\r\n\r\necho" if data.startswith(b"GET") else b"pong:" + data
            c.sendall(reply)
            c.close()

    threading.Thread(target=serve, daemon=True).start()
    return srv, got


@pytest.fixture
def proxied() -> Iterator[tuple[int, int, list[bytes], list[bytes]]]:
    allowed, got_allowed = _echo_server()
    other, got_other = _echo_server()
    ours, theirs = socket.socketpair()
    proxy = Proxy([f"127.0.0.1:{allowed.getsockname()[1]}"], ours)
    listener = socket.create_server(("127.0.0.1", 0))
    socket.send_fds(theirs, [b"L"], [listener.fileno()])  # what the bridge does inside the sandbox
    port = listener.getsockname()[1]
    listener.close()
    theirs.close()
    yield port, allowed.getsockname()[1], got_allowed, got_other
    proxy.close()
    allowed.close()
    other.close()
    del other


def _ask(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
        c.sendall(data)
        out = b""
        while True:
            chunk = c.recv(65536)
            if not chunk:
                return out
            out += chunk
            if data.startswith(b"CONNECT") and out.endswith(b"\r\n\r\n"):
                c.sendall(b"ping")
                c.shutdown(socket.SHUT_WR)


def test_connect_to_the_allowed_host_only(proxied: tuple[int, int, list[bytes], list[bytes]]) -> None:
    port, allowed, _, _ = proxied
    ok = _ask(port, f"CONNECT 127.0.0.1:{allowed} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert ok.startswith(b"HTTP/1.1 200") and ok.endswith(b"pong:ping")
    denied = _ask(port, f"CONNECT 127.0.0.1:{allowed + 1} HTTP/1.1\r\n\r\n".encode())
    assert denied.startswith(b"HTTP/1.1 403")
    name = _ask(port, f"CONNECT localhost:{allowed} HTTP/1.1\r\n\r\n".encode())
    assert name.startswith(b"HTTP/1.1 403")  # names are compared as written: localhost is not 127.0.0.1


def test_plain_http_is_forwarded_in_origin_form(proxied: tuple[int, int, list[bytes], list[bytes]]) -> None:
    port, allowed, got_allowed, _ = proxied
    out = _ask(port, f"GET http://127.0.0.1:{allowed}/a?b=1 HTTP/1.1\r\nHost: h\r\nProxy-Authorization: x\r\n\r\n"
               .encode())
    assert out.endswith(b"echo")
    assert got_allowed[-1].startswith(b"GET /a?b=1 HTTP/1.1\r\n")
    assert b"Proxy-Authorization" not in got_allowed[-1]
    assert _ask(port, b"GET ftp://127.0.0.1/ HTTP/1.1\r\n\r\n").startswith(b"HTTP/1.1 400")


def test_socks5(proxied: tuple[int, int, list[bytes], list[bytes]]) -> None:
    port, allowed, _, _ = proxied
    for target, reply in ((allowed, 0), (allowed + 1, 2)):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
            c.sendall(b"\x05\x01\x00")
            assert c.recv(2) == b"\x05\x00"
            c.sendall(b"\x05\x01\x00\x01" + socket.inet_aton("127.0.0.1") + struct.pack("!H", target))
            assert c.recv(10)[1] == reply


def test_garbage_is_dropped(proxied: tuple[int, int, list[bytes], list[bytes]]) -> None:
    port, *_ = proxied
    assert _ask(port, b"\x00" * 20000) == b""
    assert _ask(port, b"NONSENSE\r\n\r\n").startswith(b"HTTP/1.1 400")
