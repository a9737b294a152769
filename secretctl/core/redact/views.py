"""Views of output: the same bytes seen the way a reader would read them, each with a map back.

A match found in a view is redacted in the real output: every view maps a position back to the
span of original bytes it came from (``unit``). The views:

- **skeleton**: what is left to read once presentation is ignored: NFKD compatibility folding
  (full-width and mathematical letters become ASCII, accents come off), case folded, and every
  character that is not a letter or a digit dropped: separators, punctuation, format characters
  (category Cf), control bytes, invalid UTF-8 bytes. ANSI escape sequences go first, whole.
- **rendered**: as a terminal shows it, a backspace erasing the character before it; then skeleton.
- **skeleton with escapes**: when output holds an ESC, the skeleton again without removing escape
  sequences (what they hold is read as text).
- **unescaped**: percent-escapes, numeric HTML entities and backslash escapes (``\\x41``, ``\\u0041``,
  ``\\101``) replaced by what they stand for; then skeleton.

Building a view must cost little: ASCII output without escape sequences (the common case) is one
``bytes.translate``; output with a little Unicode (git log, a check mark in a log) is that for its
ASCII stretches and NFKD for the rest only; the map back is only built when something matched.
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from collections.abc import Callable, Iterable

from secretctl.core.lazyre import lazy as _lazy

_ALNUM = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
_LOWER = bytes(range(256)).lower()
# Deleted from an ASCII skeleton: everything but letters and digits (bytes >= 0x80 never reach
# this path: a chunk with any goes the Unicode way).
NON_ALNUM = bytes(c for c in range(256) if c not in _ALNUM)
# The patterns only a scan uses are compiled at its first use (core/lazyre): a silent `run` never scans.
ANSI = _lazy(rb"\x1b(?:\[[0-9;?]*[ -/]*[@-~]|\][^\x07\x1b]{0,256}(?:\x07|\x1b\\)|[@-Z\\-_])")
_ERASE = _lazy(rb"(?:[\x00-\x07\x09-\x7f]|[\xc0-\xff][\x80-\xbf]{1,3})\x08")
_NOT_ALNUM_TEXT = _lazy(r"[\W_]+")  # Unicode text only
# The same but NUL (it parts stretches: _by_islands) and "_" (removed by str.replace: a class with
# it scanned at two thirds of the speed). This and _ISLAND_REST are compiled at first use (re's
# cache): ASCII output never needs them, and compiling both cost every `run` ~0.2 ms.
_NOT_WORD_BUT_NUL = r"[^\w\x00]+"
_BLOCK = 16384  # 4 KiB blocks cost 0.13 ms/MB more in slicing and calls (256 KiB reads of log text)
_STEPS = (2048, 256, 32)
_HIGH = bytes(0x80 if c >= 0x80 else 0 for c in range(256))  # marks the non-ASCII bytes (_islands)
_ISLAND_REST = rb"[\x80-\xff]*"
# Stretches of non-ASCII bytes closer than this are folded as one (see _islands): one stretch per
# 32 bytes costs about what folding a whole read does.
ISLAND_GAP = 32
_DENSE = 128  # stretches found in a block past which the rest of it is one stretch (see _islands)


class View:
    """Bytes to scan, and for each byte the span of original bytes it stands for."""

    data: bytes

    def unit(self, i: int) -> tuple[int, int]:  # pragma: no cover - every view overrides it
        raise NotImplementedError

    def span(self, start: int, end: int) -> tuple[int, int]:
        """The original span of view bytes [start, end)."""
        return self.unit(start)[0], self.unit(end - 1)[1]


class Identity(View):
    def __init__(self, data: bytes) -> None:
        self.data = data

    def unit(self, i: int) -> tuple[int, int]:
        return i, i + 1


class _Deleted(View):
    """``data`` with some byte values deleted: the k-th kept byte is found by counting kept bytes
    (bytes.translate, in C) per block, then per step within the block, then walking at most one
    step. Block counts are taken only as far as a position asks: a match near the start of a
    1 MiB read does not pay for a pass over all of it."""

    def __init__(self, original: bytes, data: bytes, deleted: bytes, cum: list[int] | None = None) -> None:
        self.original, self.data, self._deleted = original, data, deleted
        self._cum: list[int] = cum or [0]  # kept bytes before each block, as far as counted

    def unit(self, i: int) -> tuple[int, int]:
        cum, orig, dele = self._cum, self.original, self._deleted
        while cum[-1] <= i and (len(cum) - 1) * _BLOCK < len(orig):
            b = (len(cum) - 1) * _BLOCK
            cum.append(cum[-1] + len(orig[b : b + _BLOCK].translate(None, dele)))
        block = bisect.bisect_right(cum, i) - 1
        seen = cum[block]
        pos = block * _BLOCK
        stop = min(pos + _BLOCK, len(orig))
        for step in _STEPS:  # whole steps counted in C; the last one walked in Python
            while pos + step <= stop:
                kept = len(orig[pos : pos + step].translate(None, dele))
                if seen + kept > i:
                    stop = pos + step
                    break
                seen += kept
                pos += step
        while True:
            if orig[pos] not in dele:
                if seen == i:
                    return pos, pos + 1
                seen += 1
            pos += 1

    def span(self, start: int, end: int) -> tuple[int, int]:
        """The end is found from the start (a match is short): a second ``unit`` walked its block
        from the beginning again, ~20 us per match of log text with a value in it."""
        first = self.unit(start)[0]
        return first, self._kept_after(first, end - 1 - start) + 1

    def _kept_after(self, pos: int, k: int) -> int:
        """Where the ``k``-th kept byte after the kept byte at ``pos`` is (``pos`` for 0)."""
        orig, dele = self.original, self._deleted
        seen, cur = 0, pos + 1  # kept bytes in [pos + 1, cur)
        if k == 0:
            return pos
        for step in _STEPS:
            while cur + step <= len(orig):
                kept = len(orig[cur : cur + step].translate(None, dele))
                if seen + kept >= k:
                    break
                seen += kept
                cur += step
        while True:
            if orig[cur] not in dele:
                seen += 1
                if seen == k:
                    return cur
            cur += 1


class _Pieces(View):
    """A view built piece by piece: ``starts[k]``/``ends[k]`` is the original span of view byte k."""

    def __init__(self, data: bytes, starts: list[int], ends: list[int]) -> None:
        self.data, self._starts, self._ends = data, starts, ends

    def unit(self, i: int) -> tuple[int, int]:
        return self._starts[i], self._ends[i]


class Composed(View):
    """``inner`` is a view of ``outer.data``: positions go back through both."""

    def __init__(self, outer: View, inner: View) -> None:
        self.outer, self.inner, self.data = outer, inner, inner.data

    def unit(self, i: int) -> tuple[int, int]:
        s, e = self.inner.unit(i)
        return self.outer.unit(s)[0], self.outer.unit(e - 1)[1]

    def span(self, start: int, end: int) -> tuple[int, int]:
        # The inner view's own span (a fast one where it has it: _Deleted), then the outer map.
        s, e = self.inner.span(start, end)
        return self.outer.unit(s)[0], self.outer.unit(e - 1)[1]


class _Segments(View):
    """The result of cutting or replacing pieces of the original: a list of segments
    (view start, original start, original end, kind) where kind 0 copies byte for byte and kind 1
    stands for the whole original span."""

    def __init__(self, data: bytes, segs: list[tuple[int, int, int, int]]) -> None:
        self.data, self._segs = data, segs
        self._keys = [s[0] for s in segs]

    def unit(self, i: int) -> tuple[int, int]:
        k = bisect.bisect_right(self._keys, i) - 1
        vstart, ostart, oend, kind = self._segs[k]
        if kind == 0:
            p = ostart + (i - vstart)
            return p, p + 1
        return ostart, oend


def _substitute(data: bytes, matches: Iterable[re.Match[bytes]],
                repl: Callable[[re.Match[bytes]], bytes]) -> View | None:
    """``data`` with each of ``matches`` (in order, apart) replaced by ``repl(match)``; None if
    there are none."""
    out: list[bytes] = []
    segs: list[tuple[int, int, int, int]] = []
    last = vpos = 0
    for m in matches:
        s, e = m.span()
        if s > last:
            segs.append((vpos, last, s, 0))
            out.append(data[last:s])
            vpos += s - last
        piece = repl(m)
        if piece:
            segs.append((vpos, s, e, 1))
            out.append(piece)
            vpos += len(piece)
        last = e
    if not segs and last == 0:
        return None
    if last < len(data):
        segs.append((vpos, last, len(data), 0))
        out.append(data[last:])
    return _Segments(b"".join(out), segs)


def _char_skeleton(ch: str) -> str:
    return _NOT_ALNUM_TEXT().sub("", unicodedata.normalize("NFKD", ch).casefold())


def skeleton_reference(data: bytes, *, strip: bool = True) -> View:
    """The skeleton, character by character (the slow reference the fast path must agree with).
    ``strip=False`` for bytes whose escape sequences were removed already: removing them again
    would read a lone ESC left by the first pass as the start of a new one, and drop the
    character after it, which the fast path keeps."""
    stripped = _substitute(data, ANSI().finditer(data), lambda _m: b"") if strip and b"\x1b" in data else None
    base: View = stripped if stripped is not None else Identity(data)
    text = base.data.decode("utf-8", errors="surrogateescape")
    out: list[bytes] = []
    starts: list[int] = []
    ends: list[int] = []
    pos = 0
    for ch in text:
        width = len(ch.encode("utf-8", errors="surrogateescape"))
        keep = not ch.isascii() or ch.isalnum()
        piece = _char_skeleton(ch).encode("utf-8", errors="surrogateescape") if keep else b""
        if piece:
            out.append(piece)
            starts.extend([pos] * len(piece))
            ends.extend([pos + width] * len(piece))
        pos += width
    view = _Pieces(b"".join(out), starts, ends)
    return view if stripped is None else Composed(stripped, view)


def skeleton(data: bytes) -> View:
    """The skeleton view (see the module docstring); fast for ASCII, exact for everything."""
    if b"\x1b" not in data:
        return _plain_skeleton(data)
    plain = ANSI().sub(b"", data)
    inner = _plain_skeleton(plain)
    if len(plain) == len(data):  # a lone ESC, no sequence: the same positions
        return inner
    # The map goes back through the removal of the sequences, found as far as a match asks
    # (_Stripped): the character-by-character reference over the whole read (~250 ms per 256 KiB)
    # made colored log text with a secret in it redact at 1.6 MB/s.
    return Composed(_Stripped(data), inner)


def skeleton_with_escapes(data: bytes) -> View | None:
    """The skeleton of ``data`` with its escape sequences read as text (ESC and ``[`` are dropped
    as any punctuation; parameters, final letters and an OSC's text are kept); None without an
    ESC. A terminal hides what a sequence holds, but an agent reads the bytes: ``ESC ] 0;`` and a
    value in upper case, or ``ESC [`` before every seventh character (each eats the next one)
    left nothing of the value in the skeleton."""
    if b"\x1b" not in data:
        return None
    return _plain_skeleton(data)


class _Stripped(View):
    """The map of ``data`` with its escape sequences removed (each kept byte maps to itself): what
    ``_substitute`` gives, but the sequences are found only as far as a position asks (a match
    near the start of a colored read does not pay for all of them), and kept as a list of cuts,
    not a segment per kept stretch. ``data`` of the view is not kept."""

    def __init__(self, data: bytes) -> None:
        self.data = b""
        self._next = ANSI().finditer(data)
        self._at: list[int] = []  # where each cut is in the view (before the byte there)
        self._removed: list[int] = []  # bytes removed up to and with each cut
        self._done = False

    def unit(self, i: int) -> tuple[int, int]:
        at, removed = self._at, self._removed
        while not self._done and (not at or at[-1] <= i):  # every cut at or before i is known
            m = next(self._next, None)
            if m is None:
                self._done = True
                break
            s, e = m.span()
            total = removed[-1] if removed else 0
            at.append(s - total)
            removed.append(total + e - s)
        k = bisect.bisect_right(at, i)
        p = i + (removed[k - 1] if k else 0)
        return p, p + 1


def _plain_skeleton(plain: bytes) -> View:
    """The skeleton of bytes without escape sequences (a lone ESC is a control byte: dropped)."""
    if plain.isascii():
        if len(plain) <= _BLOCK:
            return _Deleted(plain, plain.translate(_LOWER, NON_ALNUM), NON_ALNUM)
        # Block by block, so the map back has its block counts for free (no second pass).
        parts = [plain[b : b + _BLOCK].translate(_LOWER, NON_ALNUM) for b in range(0, len(plain), _BLOCK)]
        cum = [0]
        for part in parts:
            cum.append(cum[-1] + len(part))
        return _Deleted(plain, b"".join(parts), NON_ALNUM, cum)
    return _by_islands(plain, _islands(plain))


def _folded(text: bytes) -> bytes:
    """The skeleton of bytes without escape sequences, all through NFKD and case folding at once:
    what ``_by_islands`` gives stretch by stretch (tests compare the two)."""
    return _NOT_ALNUM_TEXT().sub("", unicodedata.normalize("NFKD", text.decode("utf-8", errors="ignore")).casefold()
                               ).encode("utf-8")


def _islands(plain: bytes) -> list[tuple[int, int]]:
    """The stretches to fold through NFKD (start, end): each begins and ends with a non-ASCII byte,
    next to an ASCII one or an end. Looked for only in the 16 KiB blocks that hold any such byte
    (``isascii``, in C), by marking them (``bytes.translate``) and finding the marks (a regular
    expression walked the block at ~20 ns a byte). Two closer than ``ISLAND_GAP`` bytes are one
    stretch, unless a NUL is between them (it parts stretches in ``_by_islands``): text mostly not
    ASCII is then a few long stretches, not a call per character (a stretch costs ~1.5 us)."""
    out: list[tuple[int, int]] = []
    pos, n = 0, len(plain)
    while pos < n:
        stop = min(pos + _BLOCK, n)
        if plain[pos:stop].isascii():
            pos = stop
            continue
        marks = plain[pos : stop + _BLOCK].translate(_HIGH)
        at = marks.find(b"\x80")
        found = 0
        while 0 <= at < stop - pos:
            if found == _DENSE:  # mostly not ASCII: the rest of the block is one stretch, without a NUL
                last = _island_end(plain, marks, pos, marks.rfind(b"\x80", 0, stop - pos))
                if b"\x00" not in plain[out[-1][0] : last]:
                    out[-1] = (out[-1][0], last)
                    break
            s, e = pos + at, _island_end(plain, marks, pos, at)
            if out and s - out[-1][1] < ISLAND_GAP and b"\x00" not in plain[out[-1][1] : s]:
                s = out.pop()[0]
            out.append((s, e))
            found += 1
            at = marks.find(b"\x80", e - pos)
        pos = max(stop, out[-1][1])  # the block held a byte >= 0x80, so a stretch was found in it
    return out


def _island_end(plain: bytes, marks: bytes, pos: int, at: int) -> int:
    """Where the stretch of non-ASCII bytes at ``pos + at`` ends (``marks`` marks them from ``pos``)."""
    end = marks.find(b"\x00", at)
    if end < 0:  # it may go on past the marked bytes: a character is never cut
        return re.compile(_ISLAND_REST).match(plain, pos + at).end()  # type: ignore[union-attr]  # `*` always matches
    return pos + end


def _by_islands(plain: bytes, islands: list[tuple[int, int]]) -> View:
    """The skeleton of ``plain`` (no escape sequences) built stretch by stretch: ASCII stretches by
    ``bytes.translate``, only those with non-ASCII bytes (``islands``, which hold no NUL) through
    NFKD and case folding (all of them in one string, a NUL between two). The same bytes as
    folding all of it (``_folded``): a stretch begins and ends next to an ASCII character or an
    end, and an ASCII character is its own NFKD, never reorders with a combining mark and ends
    any UTF-8 sequence; case folding and the deletion of non-alphanumerics go character by
    character."""
    stretches = b"\x00".join([plain[s:e] for s, e in islands]).decode("utf-8", errors="ignore")
    text = unicodedata.normalize("NFKD", stretches)
    folded = re.sub(_NOT_WORD_BUT_NUL, "", text.casefold()).replace("_", "").encode("utf-8").split(b"\x00")
    parts: list[tuple[int, int, int, bool]] = []  # (original start, view start, original end, non-ASCII)
    pieces: list[bytes] = []
    vpos = last = 0
    for (s, e), piece in zip([*islands, (len(plain), len(plain))], [*folded, b""], strict=True):
        ascii_piece = plain[last:s].translate(_LOWER, NON_ALNUM)
        for a, b, got, wide in ((last, s, ascii_piece, False), (s, e, piece, True)):
            if got:
                parts.append((a, vpos, b, wide))
                pieces.append(got)
                vpos += len(got)
        last = e
    return _Joined(plain, b"".join(pieces), parts)


class _Joined(View):
    """Views of consecutive stretches of the original, one after the other: for each, (original
    start, view start, original end, non-ASCII). Each stretch's own view (its map back) is built
    when a position in it is asked for."""

    def __init__(self, original: bytes, data: bytes, parts: list[tuple[int, int, int, bool]]) -> None:
        self.data, self._original, self._parts = data, original, parts
        self._keys = [p[1] for p in parts]
        self._views: dict[int, View] = {}

    def unit(self, i: int) -> tuple[int, int]:
        k = bisect.bisect_right(self._keys, i) - 1
        ostart, vstart, oend, wide = self._parts[k]
        view = self._views.get(k)
        if view is None:
            seg = self._original[ostart:oend]
            # The stretch is of bytes already without escape sequences (see skeleton_reference).
            view = (skeleton_reference(seg, strip=False) if wide
                    else _Deleted(seg, seg.translate(_LOWER, NON_ALNUM), NON_ALNUM))
            self._views[k] = view
        s, e = view.unit(i - vstart)
        return ostart + s, ostart + e


def skeleton_text(value: bytes) -> bytes:
    """A pattern's skeleton: the same function as the output's (so they meet)."""
    return skeleton(value).data


def rendered(data: bytes) -> View | None:
    """As a terminal draws it: a backspace erases the character before it. None without any."""
    if b"\x08" not in data:
        return None
    return _substitute(data, _ERASE().finditer(data), lambda _m: b"")


_UNESCAPE = _lazy(
    rb"%([0-9A-Fa-f]{2})|&#[xX]([0-9A-Fa-f]{1,6});|&#([0-9]{1,7});|\\[xX]([0-9A-Fa-f]{2})"
    rb"|\\u([0-9A-Fa-f]{4})|\\U([0-9A-Fa-f]{8})|\\([0-7]{3})|&(amp|lt|gt|quot|apos);"
)
_NAMED = {b"amp": b"&", b"lt": b"<", b"gt": b">", b"quot": b'"', b"apos": b"'"}


def _unescape_one(m: re.Match[bytes]) -> bytes:
    pct, hexent, decent, bx, bu, bU, octal, named = m.groups()
    if named is not None:
        return _NAMED[named]
    if pct is not None:
        return bytes([int(pct, 16)])
    if bx is not None:
        return bytes([int(bx, 16)])
    if octal is not None:
        return bytes([int(octal, 8) & 0xFF])
    code = int(hexent or decent or bu or bU or b"0", 16 if (hexent or bu or bU) else 10)
    try:
        return chr(code).encode("utf-8")
    except (ValueError, UnicodeEncodeError):
        return b""


def unescaped(data: bytes) -> View | None:
    """Escapes replaced by the bytes they stand for; None if there are none."""
    if not _may_hold_escape(data):
        return None
    return _substitute(data, _escapes(data), _unescape_one)


_ESCAPE_STARTS = (b"%", b"\\", b"&")  # every escape _UNESCAPE matches starts with one
_ENTITIES = (b"&#", b"&amp;", b"&lt;", b"&gt;", b"&quot;", b"&apos;")


def _may_hold_escape(data: bytes) -> bool:
    """False when ``data`` holds no escape. Single bytes first (memchr): a search for ``&amp;`` in
    text with many ``&`` and letters costs ~0.3 ms per 256 KiB, so entities are looked for only
    when there is a ``;`` too. Only ``&#`` was looked for, so ``html.escape`` of a value with ``&``
    in it (``&amp;``) passed whenever the read held no ``%``, backslash or ``&#``."""
    if b"%" in data or b"\\" in data:
        return True
    if b"&" not in data or b";" not in data:
        return False
    return any(entity in data for entity in _ENTITIES)


def _escapes(data: bytes) -> Iterable[re.Match[bytes]]:
    """The matches of ``_UNESCAPE`` in ``data``, as ``finditer`` gives them, found by trying it only
    where an escape can start (``_ESCAPE_STARTS``, found with memchr): ``finditer`` tried it at
    every byte, ~20 ns a byte (5 ms per 256 KiB read holding a single ``%``). A read dense with
    those bytes (one in 64) is left to ``finditer``: a try costs more than its walk."""
    if sum(data.count(c) for c in _ESCAPE_STARTS) * 64 > len(data):
        return _UNESCAPE().finditer(data)
    starts: list[int] = []
    for c in _ESCAPE_STARTS:
        at = data.find(c)
        while at >= 0:
            starts.append(at)
            at = data.find(c, at + 1)
    starts.sort()
    out: list[re.Match[bytes]] = []
    end = 0
    match = _UNESCAPE().match
    for at in starts:
        if at >= end:  # finditer goes on from the end of a match
            m = match(data, at)
            if m is not None:
                out.append(m)
                end = m.end()
    return out
