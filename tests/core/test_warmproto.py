"""The warm server's hand-off message (core/warmproto.py): whatever a same-uid peer sends, the
forked child gets a well-formed hand-off or a ProtocolError, never a partial one."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from secretctl.core import warmproto
from tests.hyp import examples

GOOD = warmproto.Handoff(argv=[b"secretctl", b"mcp"], environ=[b"PATH=/usr/bin", b"EMPTY="], umask=0o022,
                         executable=b"/usr/bin/python3", package=b"/opt/secretctl")


def body(h: warmproto.Handoff = GOOD) -> bytes:
    return warmproto.encode(h)[4:]


def test_a_hand_off_round_trips() -> None:
    got = warmproto.decode(body())
    assert (got.argv, got.environ, got.umask, got.executable, got.package) == (
        GOOD.argv, GOOD.environ, GOOD.umask, GOOD.executable, GOOD.package)


def test_a_length_past_the_limit_is_refused_before_anything_is_read() -> None:
    """The child would otherwise wait for (and buffer) up to 4 GiB a peer announced."""
    assert warmproto.body_length(struct.pack(">I", warmproto.MAX_HANDOFF)) == warmproto.MAX_HANDOFF
    with pytest.raises(warmproto.ProtocolError, match="too large"):
        warmproto.body_length(struct.pack(">I", warmproto.MAX_HANDOFF + 1))
    with pytest.raises(warmproto.ProtocolError, match="too large"):
        warmproto.body_length(b"\xff\xff\xff\xff")


@pytest.mark.parametrize(("name", "damaged"), [
    ("truncated", body()[:-1]),
    ("trailing bytes", body() + b"\0"),
    ("umask past 0777", struct.pack(">I", 0o1777) + body()[4:]),
    ("a variable without =", body(warmproto.Handoff(argv=[b"x"], environ=[b"LD_PRELOAD"], umask=0, executable=b"e",
                                                    package=b"p"))),
    ("three places", struct.pack(">I", 0o22) + struct.pack(">I", 3) + b"".join(
        struct.pack(">I", 1) + b"x" for _ in range(3)) + body()[4 + 4 + 4 + len(GOOD.executable) + 4
                                                               + len(GOOD.package):]),
    ("an item longer than the message", struct.pack(">I", 0o22) + struct.pack(">I", 2) + struct.pack(">I", 1 << 30)),
    ("a count of four billion items", struct.pack(">I", 0o22) + struct.pack(">I", 0xFFFFFFFF)),
])
def test_a_malformed_hand_off_is_refused(name: str, damaged: bytes) -> None:
    with pytest.raises(warmproto.ProtocolError):
        warmproto.decode(damaged)


@settings(max_examples=examples(200), deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes_decode_whole_or_raise_protocol_error(data: bytes) -> None:
    try:
        got = warmproto.decode(data)
    except warmproto.ProtocolError:
        return
    assert warmproto.encode(got)[4:] == data  # accepted only when it is exactly a hand-off


@settings(max_examples=examples(100), deadline=None)
@given(st.integers(0, len(body()) - 1), st.integers(0, 255))
def test_a_changed_byte_decodes_whole_or_raises(at: int, byte: int) -> None:
    data = bytearray(body())
    data[at] = byte
    try:
        got = warmproto.decode(bytes(data))
    except warmproto.ProtocolError:
        return
    assert warmproto.encode(got)[4:] == bytes(data)
