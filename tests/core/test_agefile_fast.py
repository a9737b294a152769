"""The age header's two parsers agree: the whole-line one (``_parse_well_formed``, what re-keying
1,000 files runs) accepts only what the line-by-line strict one accepts, with the same result,
and leaves every refusal (and its message) to the strict one."""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from secretctl.core import agefile
from secretctl.errors import VaultCorruptError
from tests.core.test_testvectors import FILES, load
from tests.hyp import examples

SETTINGS = settings(max_examples=examples(600), deadline=None)


def strict(data: bytes) -> agefile.AgeHeader | str:
    try:
        return agefile._parse_strict(data, "f")
    except VaultCorruptError as exc:
        return exc.message


def fast(data: bytes) -> agefile.AgeHeader | str | None:
    try:
        return agefile._parse_well_formed(data, "f")
    except VaultCorruptError as exc:  # only the stanza rules raise here, as the strict parser does
        return exc.message


def agree(data: bytes) -> bool:
    """Whether the fast parser took ``data`` itself (False: it left it to the strict one)."""
    got = fast(data)
    if got is None:
        return False
    assert got == strict(data)
    if not isinstance(got, str):
        assert agefile.parse_header(data, source="f") == got
    return True


def _stanza(kind: str, args: list[bytes], body: bytes) -> bytes:
    from secretctl.infra.agerekey import stanza_text

    return stanza_text([kind.encode(), *args], body)


def _b64(raw: bytes) -> bytes:
    import base64

    return base64.b64encode(raw).rstrip(b"=")


def header(bodies: list[int]) -> bytes:
    """A well-formed file: an X25519 stanza, then a grease stanza per body size (bodies of 0, 48,
    96... bytes end in an empty line), the MAC and a payload."""
    out = b"age-encryption.org/v1\n" + _stanza("X25519", [_b64(os.urandom(32))], os.urandom(32))
    for n in bodies:
        out += _stanza("x-grease", [b"a", b"b!"], os.urandom(n))
    return out + b"--- " + _b64(os.urandom(32)) + b"\n" + os.urandom(40)


def test_the_fast_parser_takes_well_formed_headers_and_matches() -> None:
    for bodies in ([], [0], [47, 48, 49], [96, 1, 200]):
        assert agree(header(bodies))


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_the_parsers_agree_on_the_c2sp_vectors(path: object) -> None:
    _, body = load(path)  # type: ignore[arg-type]  # a Path from FILES
    agree(body)


@SETTINGS
@given(st.lists(st.integers(0, 130), max_size=4), st.data())
def test_the_parsers_agree_on_mutated_headers(bodies: list[int], data: st.DataObject) -> None:
    raw = bytearray(header(bodies))
    end = raw.index(b"\n--- ") + 48
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, min(end, len(raw) - 1)))
        kind = data.draw(st.sampled_from(["flip", "insert", "delete"]))
        byte = data.draw(st.sampled_from([*b" \n-=>aA/+0~\x00\x7f\r\xc3"]))
        if kind == "flip":
            raw[at] = byte
        elif kind == "insert":
            raw.insert(at, byte)
        else:
            del raw[at]
    agree(bytes(raw))


def test_a_header_near_the_size_limit_is_left_to_the_strict_parser() -> None:
    grease = _stanza("x-grease", [b"a"], os.urandom(48 * 400))
    big = (b"age-encryption.org/v1\n" + _stanza("X25519", [_b64(os.urandom(32))], os.urandom(32))
           + grease * (agefile.MAX_HEADER // len(grease) + 1) + b"--- " + _b64(os.urandom(32)) + b"\n" + bytes(16))
    assert fast(big) is None
    assert "larger than" in str(strict(big)) or "too long" in str(strict(big))
