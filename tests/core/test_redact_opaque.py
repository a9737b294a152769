"""Base64 runs that decode to nothing worth searching (random base64: image layers, `kubectl get
secret -o yaml` of binary data). A stream holds such a run back only as far as a nested form of
a value could reach, not from its start (which rescanned up to 64 KiB with every read); a run
that starts a compressed stream is still held whole. And a nested form glued to the end of such
a run (wrapped the same way) is decoded from its own start."""

from __future__ import annotations

import base64
import gzip
import random

import pytest

from secretctl.core.redact import Redactor
from secretctl.core.secret import Secret

VALUE = b"Zq7mK9pWx3RtY8vN2sLh-value"
RND = random.Random(5)


def _noise(n: int) -> bytes:
    return base64.encodebytes(RND.randbytes(n))


def _nested() -> dict[str, bytes]:
    config = b"config:\n  password: " + VALUE + b"\n" + RND.randbytes(40).hex().encode() * 20
    return {"base64-of-base64": base64.b64encode(base64.b64encode(VALUE)) + b"\n",
            "base64-of-gzip": base64.encodebytes(gzip.compress(config, mtime=0))}


def _stream(r: Redactor, data: bytes, cuts: list[int]) -> bytes:
    s = r.stream()
    out = []
    last = 0
    for c in sorted(cuts):
        out.append(s.feed(data[last:c]))
        last = c
    out.append(s.feed(data[last:]))
    out.append(s.close())
    return b"".join(out)


@pytest.mark.parametrize("name", ["base64-of-base64", "base64-of-gzip"])
@pytest.mark.parametrize("before", ["nothing", "a line", "random base64, wrapped", "random base64, same line"])
def test_a_nested_form_after_random_base64_is_redacted(name: str, before: str) -> None:
    # Glued to random base64 wrapped the same way, the run's start is not the encoding's: it
    # leaked before (the whole run decoded to nothing). Whole and streamed at random cuts.
    r = Redactor.build({"app/key": Secret(VALUE)})
    nested = _nested()[name]
    pre = {"nothing": b"", "a line": b"data:\n", "random base64, wrapped": _noise(3000),
           "random base64, same line": _noise(3001).replace(b"\n", b"")}[before]
    data = pre + nested + b"done\n"
    assert b"[REDACTED:app/key]" in r.redact(data)
    for _ in range(20):
        cuts = [RND.randrange(len(data)) for _ in range(RND.randint(1, 6))]
        assert b"[REDACTED:app/key]" in _stream(r, data, cuts), cuts


def test_random_base64_is_not_held_from_its_start() -> None:
    r = Redactor.build({f"k{i}": Secret(RND.randbytes(18).hex().encode()) for i in range(50)})
    s = r.stream()
    data = _noise(3 * 1024 * 1024)
    held = []
    for i in range(0, len(data), 65536):
        s.feed(data[i : i + 65536])
        held.append(len(s._buf))  # what the stream keeps is the point of this test
    assert max(held) <= 4 * r.maxlen + 2048, max(held)  # the window, the last word, a line


def test_a_compressed_stream_arriving_in_many_reads_is_still_held_whole() -> None:
    r = Redactor.build({"app/key": Secret(VALUE)})
    text = b"".join(b"line %d of the config\n" % i for i in range(3000)) + b"password: " + VALUE + b"\n"
    gz = base64.encodebytes(gzip.compress(text + RND.randbytes(2000).hex().encode(), mtime=0))
    for pre in (b"", _noise(5000)):
        data = pre + gz + b"done\n"
        out = _stream(r, data, list(range(1000, len(data), 4096)))
        assert b"[REDACTED:app/key]" in out
