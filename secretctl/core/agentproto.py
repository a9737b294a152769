"""The unlock agent's wire protocol (pure: bytes in, bytes out).

One message is::

    u32 length of the rest | u32 length of the header | header (JSON object) | blob*
    blob = u32 length | bytes

all lengths big-endian. The header names the operation and its parameters; blobs carry what
must not be JSON-escaped or base64-inflated: ciphertexts in a request, plaintexts in a reply.
Nothing here knows about sockets, so the client and the agent frame messages identically and a
test can feed the decoder any bytes it likes.
"""

from __future__ import annotations

import struct

from secretctl.core import jsonfast  # not json: `get` through the agent cannot afford its import of re

TYPE_CHECKING = False
if TYPE_CHECKING:  # importing typing costs the fast path about 10 ms: for mypy only
    from typing import Any

VERSION = 1
MAX_MESSAGE = 80 * 1024 * 1024  # one 64 MiB secret and its framing; batches are split below this
MAX_HEADER = 1024 * 1024
_U32 = struct.Struct(">I")


class ProtocolError(Exception):
    """A malformed message: the connection is dropped, nothing is answered."""


def encode(header: dict[str, Any], blobs: list[bytes] | tuple[bytes, ...] = ()) -> bytes:
    head = jsonfast.dumps(header).encode()
    parts = [_U32.pack(len(head)), head]
    for blob in blobs:
        parts += [_U32.pack(len(blob)), blob]
    body = b"".join(parts)
    if len(body) > MAX_MESSAGE:
        raise ProtocolError("message too large")
    return _U32.pack(len(body)) + body


def body_length(prefix: bytes) -> int:
    """The length announced by a message's first four bytes (checked against the limit)."""
    n: int = _U32.unpack(prefix)[0]
    if n > MAX_MESSAGE or n < 4:
        raise ProtocolError("bad message length")
    return n


def decode(body: bytes) -> tuple[dict[str, Any], list[bytes]]:
    """A message without its length prefix -> (header, blobs)."""
    if len(body) < 4:
        raise ProtocolError("truncated message")
    (hlen,) = _U32.unpack_from(body, 0)
    if hlen > MAX_HEADER or 4 + hlen > len(body):
        raise ProtocolError("bad header length")
    try:
        header = jsonfast.loads(body[4 : 4 + hlen])
    except ValueError:
        raise ProtocolError("header is not JSON") from None
    if not isinstance(header, dict):
        raise ProtocolError("header is not an object")
    blobs: list[bytes] = []
    off = 4 + hlen
    while off < len(body):
        if off + 4 > len(body):
            raise ProtocolError("truncated blob length")
        (n,) = _U32.unpack_from(body, off)
        off += 4
        if off + n > len(body):
            raise ProtocolError("truncated blob")
        blobs.append(body[off : off + n])
        off += n
    return header, blobs
