"""Properties of the streamed sanitizer, for random secrets and random chunk boundaries.

1. No injected value, nor its base64, hex or reversed form, survives in the streamed output,
   whatever text surrounds it and wherever the stream is split.
2. Text that contains no secret (drawn from an alphabet disjoint from the secrets' characters,
   generic credential rules off) passes through byte for byte.
"""

from __future__ import annotations

import base64
import itertools
import re
import string
from collections.abc import Set

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from secretctl.core.redact import Redactor, check_redactable, forms_of
from secretctl.core.redact.views import skeleton
from secretctl.core.secret import Secret
from secretctl.errors import UsageError
from tests.hyp import examples

MARKER = re.compile(rb"\[REDACTED:[^\]]*\]")

SETTINGS = settings(max_examples=examples(200), deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow])

# Printable characters: what a password generator or an API would put in a value.
printable_char = st.characters(codec="utf-8", categories=["L", "M", "N", "P", "S", "Zs"])
secret_values = st.text(printable_char, min_size=4, max_size=48)
# Surrounding output: anything a program prints, control characters and all, with the bytes the
# sanitizer strips from its view (line breaks, backspaces, zero-width characters, whole ANSI escapes)
# thrown in. A lone ESC is left out: see test_value_right_after_a_lone_escape_byte.
_SPECIAL = ["\r\n", "\n", "\x08", "\u200b", "\u00ad", "\ufeff", "\x1b[0m", "\x1b[1;31m", "\x1b]0;title\x07", "\t"]
any_text = st.lists(
    st.one_of(
        st.text(st.characters(codec="utf-8", exclude_categories=["Cs"], exclude_characters="\x1b"), max_size=20),
        st.sampled_from(_SPECIAL),
    ),
    max_size=6,
).map(lambda parts: "".join(parts).encode())

FORMS = {
    "exact": lambda v: v,
    "base64": base64.b64encode,
    "base64url-unpadded": lambda v: base64.urlsafe_b64encode(v).rstrip(b"="),
    "hex": lambda v: v.hex().encode(),
    "HEX": lambda v: v.hex().upper().encode(),
    "reversed": lambda v: v.decode()[::-1].encode(),  # the characters in reverse order
}


def split_at(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    bounds = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


def stream(r: Redactor, chunks: list[bytes], idle_after: Set[int] = frozenset()) -> bytes:
    s = r.stream()
    out = []
    for i, c in enumerate(chunks):
        out.append(s.feed(c))
        if i in idle_after:
            out.append(s.flush_idle())
    out.append(s.close())
    return b"".join(out)


def unredacted_pieces(out: bytes) -> list[bytes]:
    """The output between markers: where a value must not appear."""
    return MARKER.split(out)


@SETTINGS
@given(
    values=st.lists(secret_values, min_size=1, max_size=3, unique=True),
    pieces=st.lists(st.tuples(any_text, st.integers(0, 2), st.sampled_from(sorted(FORMS))), min_size=1, max_size=4),
    tail=any_text,
    cuts=st.lists(st.integers(0, 10_000), max_size=12),
    idle=st.sets(st.integers(0, 12), max_size=3),
)
def test_no_injected_value_survives(
    values: list[str], pieces: list[tuple[bytes, int, str]], tail: bytes, cuts: list[int], idle: set[int]
) -> None:
    raw = [v.encode() for v in values]
    r = Redactor.build({f"s{i}": Secret(v) for i, v in enumerate(raw)})
    injected: list[bytes] = []
    data = b""
    for text, which, form in pieces:
        value = raw[which % len(raw)]
        encoded = FORMS[form](value)
        injected.append(encoded)
        data += text + encoded
    data += tail
    out = stream(r, split_at(data, cuts), idle)
    left = unredacted_pieces(out)
    for piece in left:
        for encoded in injected:
            assert encoded not in piece, f"{encoded!r} survived in {out!r}"
        for v in raw:
            assert v not in piece, f"value {v!r} survived in {out!r}"


# Secrets from one alphabet, ordinary text from a disjoint one: lower-case prose and punctuation
# that no form of an upper-case/digit/symbol value can be spelled with.
SECRET_ALPHABET = string.ascii_uppercase + string.digits + "!#$*+-=?@^_~"
TEXT_ALPHABET = string.ascii_lowercase + " \t\n.,;:'\"()[]{}<>/|`" + "\u00e9\u00fc\u4e2d"
assert not set(SECRET_ALPHABET) & set(TEXT_ALPHABET)


@SETTINGS
@given(
    values=st.lists(st.text(st.sampled_from(SECRET_ALPHABET), min_size=4, max_size=48), min_size=1, max_size=5),
    text=st.text(st.sampled_from(TEXT_ALPHABET), max_size=400).map(str.encode),
    cuts=st.lists(st.integers(0, 10_000), max_size=20),
    idle=st.sets(st.integers(0, 20), max_size=4),
)
def test_text_without_secrets_passes_byte_for_byte(
    values: list[str], text: bytes, cuts: list[int], idle: set[int]
) -> None:
    secrets = {f"s{i}": Secret(v.encode()) for i, v in enumerate(values)}
    # Guard against the (astronomically unlikely) case where a lower-case base32 form is spelled out.
    skel = skeleton(text).data
    for v in values:
        forms = forms_of(v.encode())
        assume(not any(p in text for p, _ in forms.raw))
        assume(not any(p in skel or p[::-1] in skel for p, _ in forms.skel))
    r = Redactor.build(secrets, credentials=False)
    out = stream(r, split_at(text, cuts), idle)
    assert out == text


# ---------------------------------------------------------- counterexamples to the first property


def _stream_all_splits(r: Redactor, data: bytes) -> list[bytes]:
    return [stream(r, [data])] + [stream(r, [data[:i], data[i:]]) for i in range(1, len(data))]


@pytest.mark.parametrize("value", ["dev\U0001f469\u200d\U0001f4bbpass", "pass\u00adword9", "key\ufeff2024x"])
def test_value_containing_a_zero_width_character(value: str) -> None:
    raw = value.encode()
    r = Redactor.build({"v": Secret(raw)})
    for out in _stream_all_splits(r, b"v=" + raw + b" ok\n"):
        assert out == b"v=[REDACTED:v] ok\n"


def test_value_right_after_a_lone_escape_byte() -> None:
    r = Redactor.build({"v": Secret(b"ABCDEFGH")})
    for out in _stream_all_splits(r, b"x\x1bABCDEFGH y\n"):
        assert b"ABCDEFGH" not in out


def test_value_with_a_trailing_newline_is_refused_or_redacted() -> None:
    value = Secret(b"pw1\n")
    try:
        check_redactable("PIN", value)
    except UsageError:
        return  # refused: fine
    r = Redactor.build({"PIN": value})
    out = stream(r, [b"pin is pw1\n ok\n"])
    assert b"pw1" not in out
