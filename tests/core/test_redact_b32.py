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


def test_base32_is_found_after_many_one_case_runs_and_in_random_base64() -> None:
    # Base32 is looked for only inside runs of one case (upper or lower); past 16 of those in a
    # read (hex digests, one per line) the whole read is scanned. Either way a secret's base32
    # is redacted, in each alphabet and case, also when random base64 surrounds it.
    value = b"bench-Secret-Value-123456-more"
    r = Redactor.build({"app/key": Secret(value)})
    digests = b"".join(os.urandom(32).hex().encode() + b"  ./artifact.tar\n" for _ in range(40))
    noise = base64.encodebytes(os.urandom(3000))
    for encode in (base64.b32encode, base64.b32hexencode):
        for encoded in (encode(value), encode(value).lower(), encode(b"text: " + value + b"\n")):
            for before in (digests, noise, b"id: ", digests * 10, base64.encodebytes(os.urandom(30000))):
                out = r.redact(before + encoded + b"\n" + digests[:200])
                assert encoded not in out, (before[:20], encoded)
                assert b"[REDACTED" in out


def test_base32_glued_to_the_end_of_other_letters_and_digits_is_redacted() -> None:
    # The run starts before the encoding does (``printf 'deadbeef%s' "$(base32 ...)"``): the
    # decoder also tries from where the candidate starts. This leaked before (found this session).
    value = b"bench-Secret-Value-123456-more"
    r = Redactor.build({"app/key": Secret(value)})
    for encode in (base64.b32encode, base64.b32hexencode):
        for encoded in (encode(value), encode(value).lower()):
            for prefix in (os.urandom(10).hex().encode(), b"deadbeef0123456789", b"x" * 40, b"Z" * 9):
                out = r.redact(b"sum: " + prefix + encoded + b"\n")
                assert encoded[8:] not in out, (prefix, encoded)
