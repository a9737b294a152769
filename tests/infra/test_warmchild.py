"""The warm server's forked child meets a hostile same-uid launcher (infra/warmchild.py): wrong
descriptors, a malformed or endless hand-off. It adopts nothing, keeps no descriptor it was
sent, never says ADOPTED, and never touches its own stdio."""

from __future__ import annotations

import os
import socket
import struct
import sys
import time
from collections.abc import Callable, Iterator

import pytest

from secretctl.core import warmproto
from secretctl.infra import warmchild

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/fd")


def _handoff(**kw: object) -> bytes:
    fields: dict[str, object] = dict(argv=[b"secretctl", b"mcp"], environ=[b"PATH=/usr/bin"], umask=0o022,
                                     executable=os.fsencode(sys.executable),
                                     package=os.fsencode(warmchild.package_dir()))
    fields.update(kw)
    return warmproto.encode(warmproto.Handoff(**fields))  # type: ignore[arg-type]


def _open_fds() -> set[int]:
    return {int(fd) for fd in os.listdir("/proc/self/fd")}


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    a.settimeout(10)
    b.settimeout(10)
    yield a, b
    a.close()
    b.close()


def _send(sock: socket.socket, payload: bytes, fds: list[int]) -> None:
    rights = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack(f"{len(fds)}i", *fds))] if fds else []
    sock.sendmsg([payload[:4]], rights)
    sock.sendall(payload[4:])


@pytest.mark.parametrize("count", [0, 3, 6], ids=["none", "three", "six"])
def test_a_hand_off_with_other_than_four_descriptors_keeps_none(pair: tuple[socket.socket, socket.socket],
                                                                 count: int) -> None:
    launcher, child = pair
    sent = [os.open(os.devnull, os.O_RDONLY) for _ in range(count)]
    before = _open_fds()
    try:
        _send(launcher, _handoff(), sent)
        if count == 6:  # the kernel installs only what the child's buffer holds (four)
            _handoff_got, fds = warmchild._receive(child)
            assert len(fds) == 4
            for fd in fds:
                os.close(fd)
        else:
            with pytest.raises(warmproto.ProtocolError, match="expected stdin"):
                warmchild._receive(child)
        assert _open_fds() == before  # nothing it was sent stays open in the child
    finally:
        for fd in sent:
            os.close(fd)


@pytest.mark.parametrize("damage", ["malformed", "too large"])
def test_a_bad_message_closes_the_descriptors_that_came_with_it(pair: tuple[socket.socket, socket.socket],
                                                                damage: str) -> None:
    launcher, child = pair
    sent = [os.open(os.devnull, os.O_RDONLY) for _ in range(4)]
    before = _open_fds()
    try:
        if damage == "malformed":
            payload = _handoff(environ=[b"NO_EQUALS_SIGN"])
        else:  # announced past the limit: refused at once, not waited for
            payload = struct.pack(">I", warmproto.MAX_HANDOFF + 1)
        _send(launcher, payload, sent)
        started = time.monotonic()
        with pytest.raises(warmproto.ProtocolError):
            warmchild._receive(child)
        assert time.monotonic() - started < 5
        assert _open_fds() == before
    finally:
        for fd in sent:
            os.close(fd)


def _adopt_in_fork(talk: Callable[[socket.socket], bytes]) -> tuple[bytes, str]:
    """adopt_and_run in a forked child (it would take over stdio) against ``talk``, the
    launcher's side; returns what the launcher read and the child's report: its exit code,
    whether the server ran, and whether its stdout is still what it was."""
    launcher, conn = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            launcher.close()
            stdout = os.fstat(1)
            ran: list[bool] = []
            code = warmchild.adopt_and_run(conn, lambda _h: ran.append(True) or 0)
            now = os.fstat(1)
            same = (now.st_dev, now.st_ino) == (stdout.st_dev, stdout.st_ino)
            os.write(write, f"{code} ran={bool(ran)} stdout-kept={same}".encode())
        finally:
            os._exit(0)
    conn.close()
    os.close(write)
    launcher.settimeout(40)
    try:
        heard = talk(launcher)
    finally:
        launcher.close()
    os.waitpid(pid, 0)
    with os.fdopen(read, "rb") as fh:
        return heard, fh.read().decode()


def _read_all(sock: socket.socket) -> bytes:
    out = b""
    while part := sock.recv(4096):
        out += part
    return out


def test_a_malformed_hand_off_is_not_adopted() -> None:
    def talk(sock: socket.socket) -> bytes:
        fds = [os.open(os.devnull, os.O_RDWR) for _ in range(4)]
        try:
            _send(sock, _handoff(umask=0o7777), fds)
        finally:
            for fd in fds:
                os.close(fd)
        return _read_all(sock)

    heard, report = _adopt_in_fork(talk)
    assert heard[:1] == warmproto.READY and warmproto.ADOPTED not in heard[5:]
    assert report == "0 ran=False stdout-kept=True"


def test_a_launcher_that_never_says_go_keeps_its_stdio(monkeypatch: pytest.MonkeyPatch) -> None:
    """The child was handed stdio and said ADOPTED; without the go (the launcher gave up and runs
    the server itself), it must not touch those descriptors: two servers would share stdin."""
    monkeypatch.setattr(warmchild, "GO_TIMEOUT", 1.0)

    def talk(sock: socket.socket) -> bytes:
        fds = [os.open(os.devnull, os.O_RDWR) for _ in range(3)] + [os.open("/", os.O_RDONLY)]
        try:
            _send(sock, _handoff(), fds)
        finally:
            for fd in fds:
                os.close(fd)
        return _read_all(sock)  # silence: no go

    heard, report = _adopt_in_fork(talk)
    assert heard[5:6] in (warmproto.ADOPTED, warmproto.FAILED)  # FAILED: confined otherwise (a CI box)
    assert report == "0 ran=False stdout-kept=True"


def test_a_hand_off_drip_fed_past_the_deadline_is_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    """One byte just inside each read's timeout would keep a fork waiting for ever (and, on a
    kernel without SO_PEERPIDFD, widen the window in which the launcher's pid can be reused
    before the confinement check reads it): the whole hand-off has one deadline."""
    monkeypatch.setattr(warmchild, "GO_TIMEOUT", 1.0)

    def talk(sock: socket.socket) -> bytes:
        payload = _handoff()
        fds = [os.open(os.devnull, os.O_RDWR) for _ in range(4)]
        try:
            assert sock.recv(5)[:1] == warmproto.READY
            sock.sendmsg([payload[:1]], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack("4i", *fds))])
            for byte in payload[1:12]:  # 11 bytes, 0.4 s apart: 4.4 s in all, each read within 1 s
                time.sleep(0.4)
                try:
                    sock.sendall(bytes([byte]))
                except OSError:
                    break
        finally:
            for fd in fds:
                os.close(fd)
        return _read_all(sock)

    started = time.monotonic()
    heard, report = _adopt_in_fork(talk)
    assert report == "0 ran=False stdout-kept=True"
    assert heard == b"" or warmproto.ADOPTED not in heard
    assert time.monotonic() - started < 4.0  # dropped at the deadline, not when the launcher stopped


@pytest.mark.parametrize(("ours", "theirs", "same"), [
    ({}, [b"PATH=/usr/bin"], True),
    ({}, [b"PYTHONPATH="], True),  # empty is unset
    ({}, [b"PYTHONPATH=/elsewhere"], False),
    ({"PYTHONPATH": "/a"}, [b"PYTHONPATH=/a", b"HOME=/h"], True),
    ({"PYTHONPATH": "/a"}, [], False),
    ({"PYTHONPATH": "/a"}, [b"PYTHONPATH=/b"], False),
    ({}, [b"PYTHONHOME=/opt/py"], False),
    ({}, [b"PYTHONUSERBASE=/u"], False),
    ({"PYTHONNOUSERSITE": "1"}, [b"PYTHONNOUSERSITE=1"], True),
])
def test_only_a_launcher_that_imports_from_the_same_places_is_served(
        monkeypatch: pytest.MonkeyPatch, ours: dict[str, str], theirs: list[bytes], same: bool) -> None:
    for name in warmchild.IMPORT_PATH:
        monkeypatch.delenv(name, raising=False)
    for name, value in ours.items():
        monkeypatch.setenv(name, value)
    assert warmchild.same_import_path(theirs) is same
