"""core/digest: CPython's own SHA modules give hashlib's digests (fingerprints, access-log chain
hashes and git object ids must not change with the module that computes them)."""

from __future__ import annotations

import hashlib

from hypothesis import given
from hypothesis import strategies as st

from secretctl.core import digest


@given(st.binary(max_size=4096))
def test_the_same_digests_as_hashlib(data: bytes) -> None:
    assert digest.sha256(data).hexdigest() == hashlib.sha256(data).hexdigest()
    assert digest.sha1(data).hexdigest() == hashlib.sha1(data).hexdigest()  # noqa: S324 - git's object ids are SHA-1


def test_the_known_values() -> None:
    assert digest.sha256(b"abc").hexdigest() == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert digest.sha1(b"blob 0\0").hexdigest() == "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"  # git's empty blob
