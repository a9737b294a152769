"""decode.may_hold_candidate: a person's `run` checks its command line without the detector set
(Hyperscan) when no argument could hold a decode candidate. That is only sound if every candidate
and run the set reports holds the hint, and if, without candidates, the set changes no answer of
the check (it then adds only generic credentials, which never decide whether an argument holds a
value). These tests fail if a candidate is added that the hint does not cover."""

from __future__ import annotations

import base64
import bz2
import gzip
import lzma
import random
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from secretctl.core.redact import decode
from secretctl.core.redact.redactor import Redactor
from secretctl.core.redact.shapes import Shapes
from secretctl.core.secret import Secret
from tests.hyp import examples

TEXT = b"the quick brown fox jumps over the lazy dog, twice over"
# One example (or more) of each candidate kind and of a run, each found by the real set.
EXAMPLES = {
    "b64 of gzip": base64.b64encode(gzip.compress(TEXT, mtime=0)),
    "b64 of zlib": base64.b64encode(zlib.compress(TEXT)),
    "b64 of bzip2": base64.b64encode(bz2.compress(TEXT)),
    "b64 of xz": base64.urlsafe_b64encode(lzma.compress(TEXT)),
    "hex of zlib": zlib.compress(TEXT).hex().encode(),
    "hex of gzip": gzip.compress(TEXT, mtime=0).hex().encode(),
    "raw gzip": gzip.compress(TEXT, mtime=0),
    "gzip's magic alone": b"\x1f\x8b\x08",
    "raw bzip2": bz2.compress(TEXT),
    "raw xz": lzma.compress(TEXT),
    "hex list": b"0x74, 0x68, 0x65, 0x20",
    "byte list": b"[116, 104, 101, 32]",
    "od -tu1": b"116 104 101  32",
    "od -b": b"164 150 145 040",
    "xxd": b"00000000: 7468 6520 7175 6963",
    "xxd, letters only": b"abcdefab: abcd efab",
    "hexdump -C": b"00000000  74 68 65 20 71 75 69 63",
    "od -tx1": b"0000000 74 68 65 20 71 75 69 63",
    "od -c": b"0000000   t   h   e    ",
    "b64 of text": base64.b64encode(TEXT),
    "b32 of text": base64.b32encode(TEXT),
    "b32hex of text, lower": base64.b32hexencode(TEXT).lower(),
}


def shapes() -> Shapes:
    return Shapes.get()


def found(data: bytes) -> set[str]:
    """The kinds of the set's hits in ``data`` that are not generic credentials."""
    return {kind for kind, _, _, _ in shapes().scan(data) if kind != "credential"}


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_every_candidate_holds_the_hint(name: str) -> None:
    data = EXAMPLES[name]
    assert found(b"x " + data + b" y"), name  # a real candidate: the test would catch a narrower hint
    assert decode.may_hold_candidate(data)


# Strings without the hint, built to look as much like candidates as they can: hex letters, the
# list and dump punctuation, base64's symbols, in runs of at most 6.
_PIECES = st.text(alphabet="abcdefABCDEFxXoOzZ+/_-", min_size=1, max_size=6).map(str.encode)
_SEPS = st.sampled_from([b" ", b", ", b": ", b";", b"  ", b"\t", b"\n", b"=", b"%", b"\\", b"&#", b"[", b"]", b"."])
NO_HINT = st.lists(st.tuples(_PIECES, _SEPS), max_size=30).map(lambda xs: b"".join(p + s for p, s in xs))


@pytest.mark.long
@settings(max_examples=examples(2000), deadline=None)
@given(NO_HINT)
def test_without_the_hint_the_set_finds_no_candidate(data: bytes) -> None:
    assert not decode.may_hold_candidate(data)
    assert found(data) == set()


def test_random_printable_text_without_the_hint_holds_no_candidate() -> None:
    rng = random.Random(1357)
    alphabet = bytes(range(0x20, 0x7F)).translate(None, b"0123456789")
    seen = 0
    for _ in range(20_000):
        data = bytes(rng.choice(alphabet) for _ in range(rng.randint(1, 60)))
        if not decode.may_hold_candidate(data):
            seen += 1
            assert found(data) == set(), data
    assert seen > 1_000  # the property was exercised


VALUES = {"a/short": Secret(b"a-b-c-d-e"), "a/word": Secret(b"q.z;k!w~v"), "a/digits": Secret(b"tok-9f8e7d6c5b4a"),
          "a/b64": Secret(b"dGhlIHF1aWNrIGJyb3du")}


def _arguments() -> list[bytes]:
    out = [b"true", b"-c", b"--flag=x", b"a-b-c", b"e-d-c-b-a", b"A.B.C.D.E", b"a b c d e", b"q.z;k!w~v", b"Q Z K W V",
           b"v~w!k;z.q", b"x=a-b-c-d-e", b"echo $A_SHORT", b"ghp_abc", b"-----BEGIN"]
    for s in VALUES.values():
        v = s.reveal()
        out += [v, v.upper(), v[::-1], v.hex().encode(), base64.b64encode(v),
                base64.b64encode(gzip.compress(v, mtime=0)), b", ".join(str(b).encode() for b in v), b"x" + v + b"y",
                v[: len(v) // 2]]
    return out


@pytest.mark.parametrize("arg", _arguments())
def test_a_command_line_check_without_the_set_agrees_with_the_full_check(arg: bytes) -> None:
    full = Redactor.build(VALUES, compiled=False)
    light = Redactor.build(VALUES, compiled=False, detect=decode.may_hold_candidate(arg))
    assert bool(light.contains(arg)) == bool(full.contains(arg)), arg
    if arg in (s.reveal() for s in VALUES.values()):
        assert light.contains(arg)  # the values themselves are found either way


@given(st.binary(max_size=40) | NO_HINT)
@settings(max_examples=examples(500), deadline=None)
def test_any_argument_gets_the_same_answer(arg: bytes) -> None:
    full = Redactor.build(VALUES, compiled=False)
    light = Redactor.build(VALUES, compiled=False, detect=decode.may_hold_candidate(arg))
    assert bool(light.contains(arg)) == bool(full.contains(arg))


def test_the_output_redactor_of_a_light_check_is_the_full_one() -> None:
    """personrun compiles the output's redactor from the command line's checker: built without
    the detector set, ``with_detectors`` must give what a full build gives."""
    full = Redactor.build(VALUES)
    made = Redactor.build(VALUES, compiled=False, detect=False).with_detectors().compile()
    samples = [*_arguments(), b"key AKIAIOSFODNN7EXAMPLE here", b"ghp_" + b"a1B2" * 9, b"plain text, no secret",
               base64.b64encode(b"say " + VALUES["a/word"].reveal() + b" twice over and over again")]
    for data in samples:
        assert made.find(data) == full.find(data), data
    assert any(m.label == "credential" for m in made.find(samples[-3]))  # the detectors really are there
    assert full.with_detectors() is full
