"""The base32 candidate: every base32 of printable text is a candidate, and long single-case
runs that are not (hex digests, runs of one letter, zero padding) are not, one report per
position (the old ``[A-Z2-7]{32}`` made these run at under 1 MB/s)."""

from __future__ import annotations

import base64
import os
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from secretctl.core.redact import decode
from secretctl.core.redact.redactor import Redactor
from secretctl.core.secret import Secret
from tests.hyp import examples

B32 = re.compile(dict((k, e) for k, e, _ in decode.CANDIDATES)["b32"])
PRINTABLE = st.binary(min_size=20, max_size=80).map(lambda b: bytes(0x20 + x % 95 for x in b))


@settings(max_examples=examples(300), deadline=None)
@given(PRINTABLE, st.sampled_from([base64.b32encode, base64.b32hexencode]), st.booleans(),
       st.binary(max_size=12).map(lambda b: bytes(0x20 + x % 95 for x in b)))
def test_base32_of_printable_text_is_always_a_candidate(text: bytes, encode: object, lower: bool,
                                                        before: bytes) -> None:
    encoded = encode(text)  # type: ignore[operator]
    run = encoded.lower() if lower else encoded
    assert B32.search(before + b" " + run + b"\n")


def test_runs_that_are_not_base32_of_text_are_not_candidates() -> None:
    for data in [b"x" * 5000, b"A" * 5000, b"a" * 5000, os.urandom(3000).hex().encode(),
                 os.urandom(3000).hex().upper().encode(), base64.b32encode(os.urandom(3000)),
                 base64.b32encode(b"\0" * 3000)]:
        assert len(B32.findall(data)) <= 1, data[:40]


def test_a_secret_in_base32_is_still_redacted_in_a_long_run_of_noise() -> None:
    value = b"bench-Secret-Value-123456"
    r = Redactor.build({"app/key": Secret(value)})
    for encoded in (base64.b32encode(value), base64.b32hexencode(value).lower()):
        out = r.redact(b"x" * 4000 + b"\n" + encoded + b"\n" + b"0123456789abcdef" * 200 + b"\n")
        assert encoded not in out
        assert b"[REDACTED" in out
