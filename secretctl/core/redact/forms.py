"""The literal forms of one value: few per value, because the views do the rest.

A value's forms go into two literal sets. Views (views.py) and decoded runs (decode.py) turn
output back into these forms, so one literal stands for many spellings:

- **skeleton forms** (matched on the skeleton views, so any case, any separators, compatibility
  characters, escapes, reversed): the value's skeleton, its hex, and the part of its base64 that
  does not depend on what surrounds it, at each of the 3 byte alignments (any alphabet: ``+/`` and
  ``-_`` are separators to the skeleton). Only when the skeleton is long enough not to occur by
  chance (``SKEL_MIN`` letters and digits; a base64 core ``B64_SKEL_MIN``).
- **raw forms** (matched on the bytes as they are, and on decoded runs): the value itself;
  fragments; and, for a value whose skeleton is too short, its common spellings written out
  (case, reversed, separated, hex, base64, base32).

Fragments: for a value of ``fragment_value_min``+ bytes, any stretch of ``fragment_min`` bytes
with ``5`` distinct characters and ``2`` that are not lower-case letters or URL punctuation, and
any stretch of ``FRAGMENT_LONG`` bytes whatever it holds (a self-similar value gets longer
fragments, not none). They are found from anchors: windows of ``anchor_width`` bytes every
``ANCHOR_STRIDE`` bytes, so that any ``fragment_min`` bytes of the value hold one; a hit is
grown against the value and checked (fragments.py). The value's skeleton has anchors too, matched
in the skeleton views (a fragment in another case or spacing), checked by ``skeleton_fragment_ok``;
a value of ASCII letters and digits only has those alone (``skel_only``). Computed once per value
(callers cache).
"""

from __future__ import annotations

import base64

from secretctl.core.frozen import frozen
from secretctl.core.lazyre import lazy as _lazy
from secretctl.core.redact.views import skeleton_text

MIN_REDACTABLE = 4
SKEL_MIN = 8
B64_SKEL_MIN = 9
SHORT_VALUE = 20  # below this, encodings are also written out whole (base32 runs are decoded from 32)
FRAGMENT_LONG = 16
# A skeleton fragment made only of lower-case letters and the capitals starting words (a stretch of
# ``Production-Release`` of a value, or of a self-similar one) needs this many characters: two
# ordinary words in a row are often 16 letters.
SKEL_WORDS_LONG = 24
ANCHOR_STRIDE = 3
_SEPARATORS = (" ", "-", ".", ",", ":", "_", "|", "\t", "/")
_URL_PUNCT = set(":/.-_@?=&%+#~")

Form = tuple[bytes, str]


@frozen
class ValueForms:
    raw: tuple[Form, ...]
    skel: tuple[Form, ...]
    anchors: tuple[tuple[bytes, int], ...] = ()  # (window of the value, its offset): fragment anchors
    windows: tuple[bytes, ...] = ()  # every fragment window: what a stream must hold back
    skeleton: bytes = b""  # the value's skeleton, when it has skeleton fragments
    skel_anchors: tuple[tuple[bytes, int], ...] = ()  # windows of the skeleton: fragments in the skeleton views
    skel_windows: tuple[bytes, ...] = ()  # every skeleton fragment window: what a stream must hold back


def anchor_width(fragment_min: int) -> int:
    """Anchors every ``ANCHOR_STRIDE`` bytes, this wide: any ``fragment_min`` bytes of the value
    contain one whole (width + stride - 1 <= fragment_min)."""
    return max(MIN_REDACTABLE, fragment_min - ANCHOR_STRIDE + 1)


def _b64_cores(value: bytes) -> list[bytes]:
    """The part of base64(prefix + value + suffix) that depends only on ``value``, per offset."""
    n = len(value)
    out = []
    for k in range(3):
        blob = base64.b64encode(b"\0" * k + value + b"\0\0")
        start = -(-8 * k // 6)
        end = (8 * (k + n)) // 6
        out.append(blob[start:end])
    return out


def _uninformative(window: str) -> bool:
    if len(set(window)) < 5:
        return True
    return sum(1 for c in window if not (c.islower() and c.isascii()) and c not in _URL_PUNCT) < 2


def fragment_ok(stretch: bytes, fragment_min: int) -> bool:
    """Whether a stretch of a value seen in output counts as a fragment of it: ``fragment_min``
    bytes that are informative, or ``FRAGMENT_LONG`` bytes whatever they are (a self-similar
    value still has fragments: longer ones)."""
    if len(stretch) >= max(FRAGMENT_LONG, fragment_min):
        return True
    return len(stretch) >= fragment_min and not _uninformative(stretch.decode("utf-8", errors="replace"))


_WORD_RUN = _lazy(rb"(?<![A-Za-z0-9])[A-Za-z]{3,}(?![A-Za-z0-9])")
_WORDLIKE = _lazy(rb"(?:[A-Z]?[a-z]{2,})+|[A-Z]+")


def marks(value: bytes) -> bytes:
    """For each byte of ``value``, 1 where a character tells more than an ordinary word would:
    a digit, a capital, a non-ASCII character (its first byte). Not marked: lower-case letters,
    punctuation, and the capitals of a word, a run of 3+ letters between non-alphanumerics that
    reads as lower, Title, camel or all-caps case (``Welcome-Back``, ``SuperSecret``,
    ``API_TOKEN``; not ``Zq8v``, whose letters touch a digit, nor ``NKcbAdf``). Digits stay
    marked even as a number of their own (a port, a year): ``-55`` is what makes
    ``canary-value-55`` more than words, and a passphrase's ``-42`` more than its words."""
    out = bytearray(len(value))
    for i, c in enumerate(value):
        if 0x30 <= c <= 0x39 or 0x41 <= c <= 0x5A or c >= 0xC0:
            out[i] = 1
    for m in _WORD_RUN().finditer(value):
        if _WORDLIKE().fullmatch(m.group()):
            out[m.start() : m.end()] = bytes(m.end() - m.start())
    return bytes(out)


def skeleton_fragment_ok(skel: bytes, marked: int, fragment_min: int) -> bool:
    """Whether ``skel`` (a stretch of the value's skeleton, found in a skeleton view: case and
    separators unknown) counts as a fragment; ``marked``: how many characters of the value it
    stands for are marked (``marks``).

    ``fragment_min`` characters with 5 distinct and 2 marked; or ``FRAGMENT_LONG`` with one marked
    (self-similar values: longer fragments, not none); or ``SKEL_WORDS_LONG`` whatever they are
    (two ordinary words of a value, ``production release``, are often 16 letters). Characters,
    not bytes: a UTF-8 character counts once."""
    chars = sum(1 for b in skel if not 0x80 <= b < 0xC0)
    if chars < fragment_min:
        return False
    if chars >= max(SKEL_WORDS_LONG, fragment_min):
        return True
    if chars >= max(FRAGMENT_LONG, fragment_min):
        return marked >= 1
    return marked >= 2 and len(set(skel.decode("utf-8", errors="ignore"))) >= 5


def _written_out(value: bytes) -> list[Form]:
    """Spellings of a value too short (or too punctuated) for the skeleton views."""
    out: list[Form] = [(value[::-1], "reversed"), (value.upper(), "case"), (value.lower(), "case"),
                       (value.swapcase(), "case")]
    text = value.decode("utf-8", errors="replace")
    out.append((text[::-1].encode(), "reversed"))
    out += [(sep.join(text).encode(), "separated") for sep in _SEPARATORS]
    hx = value.hex()
    out += [(hx.encode(), "hex"), (hx.upper().encode(), "hex")]
    out += [("".join(f"{sep}{b:02x}" for b in value).encode(), "hex") for sep in ("\\x", "0x", "%")]
    out += [("".join(f"%{b:02X}" for b in value).encode(), "hex")]
    return out


def _encoded_whole(value: bytes) -> list[Form]:
    """The value's own encodings, standing alone (a short value's runs are too short to decode)."""
    out: list[Form] = []
    for enc in (base64.b64encode(value), base64.urlsafe_b64encode(value)):
        out += [(enc, "base64"), (enc.rstrip(b"="), "base64")]
    for enc in (base64.b32encode(value), base64.b32hexencode(value)):
        out += [(enc, "base32"), (enc.rstrip(b"="), "base32"), (enc.lower().rstrip(b"="), "base32")]
    return out


def forms_of(value: bytes, *, fragment_min: int = 8, fragment_value_min: int = 16, lean: bool = False) -> ValueForms:
    """``lean``: without base64 cores and fragment anchors (a lean redactor uses neither: a quarter
    of the forms' cost for a 10,000-secret vault's build)."""
    s = skeleton_text(value)
    # The skeleton views see nearly every raw occurrence too, but not one right after a stray ESC
    # (the skeleton reads ESC + its first character as an escape sequence).
    raw: list[Form] = [(value, "exact")]
    skel: list[Form] = []
    if len(s) >= SKEL_MIN:
        skel.append((s, "exact"))
        skel.append((value.hex().encode(), "hex"))
        rev = value.decode("utf-8", errors="surrogateescape")[::-1].encode("utf-8", errors="surrogateescape")
        if skeleton_text(rev) != s[::-1]:
            # A character whose skeleton is several (a Hangul syllable, a ligature) reads backwards
            # differently from the reversed skeleton: the reversed value is written out.
            raw.append((rev, "reversed"))
        for core in () if lean else _b64_cores(value):
            sc = skeleton_text(core)
            if len(sc) >= B64_SKEL_MIN:
                skel.append((sc, "base64"))
    else:
        raw += _written_out(value)
    if len(value) < SHORT_VALUE:
        raw += _encoded_whole(value)
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if lean or len(text if text is not None else value) < fragment_value_min:
        return ValueForms(_dedup(raw), _dedup(skel))
    # Fragments are found from anchors (a few literals per value instead of one per window) and
    # checked against the value around the anchor (fragments.py): compiling one literal per
    # window cost Hyperscan 5 s for 1,000 values. The same for the value's skeleton, matched in
    # the skeleton views: a fragment in another case, spaced out, reversed, full-width...
    anchors, windows = _anchors(value, fragment_min)
    if len(s) < fragment_min:
        return ValueForms(_dedup(raw), _dedup(skel), anchors, windows)
    # A value of letters and digits only: its skeleton anchors are its raw ones, case folded, and
    # a hit in the skeleton is also grown on the raw bytes (fragments.py); raw anchors as well cost
    # a second set of short literals. Its raw windows stay: they are no literals, only what a
    # stream holds back, and after a pause the skeleton windows hold 4+ characters only
    # (IDLE_SKEL_WINDOW), so `x 9hI`, a pause, then `j2kLm` passed without them.
    return ValueForms(_dedup(raw), _dedup(skel), () if skel_only(value) else anchors, windows, s,
                      *_anchors(s, fragment_min))


def skel_only(value: bytes) -> bool:
    """A value of ASCII letters and digits only: each byte is one character of its skeleton, at the
    same offset, so its fragments are found from skeleton anchors alone."""
    return value.isascii() and value.isalnum()


def _anchors(value: bytes, fragment_min: int) -> tuple[tuple[tuple[bytes, int], ...], tuple[bytes, ...]]:
    """Windows of ``anchor_width`` bytes every ``ANCHOR_STRIDE`` (the last one flush with the end),
    with their offsets; and every ``fragment_min``-byte window (what a stream holds back)."""
    width = anchor_width(fragment_min)
    starts = list(range(0, len(value) - width + 1, ANCHOR_STRIDE))
    if starts and starts[-1] != len(value) - width:
        starts.append(len(value) - width)
    windows = tuple(value[i : i + fragment_min] for i in range(len(value) - fragment_min + 1))
    return tuple((value[i : i + width], i) for i in starts), windows


def _dedup(forms: list[Form]) -> tuple[Form, ...]:
    seen: set[bytes] = set()
    out = []
    for p, f in forms:
        if len(p) >= MIN_REDACTABLE and p not in seen:
            seen.add(p)
            out.append((p, f))
    return tuple(out)
