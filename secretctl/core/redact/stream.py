"""The redactor as a stream: ``feed`` returns at once every byte that can no longer be part of a match.

What is held back (each bounded by ``MAX_HOLD``): a tail that could still grow into a form of a
value (in any view), an escape sequence or UTF-8 character cut in half, a credential or decode
candidate that reaches the end of what has arrived, an unfinished PEM block, and the last word
(it could be the start of a credential). A newline after an ordinary line (3 to 39 characters)
releases everything before it, so output flows line by line; after a pause (``flush_idle``) only
a tail that could still become a value is kept.
"""

from __future__ import annotations

import re

from secretctl.core.redact import views
from secretctl.core.redact.detectors import KEYWORDS
from secretctl.core.redact.matches import Match, apply
from secretctl.core.redact.views import ANSI

TYPE_CHECKING = False
if TYPE_CHECKING:  # for mypy only (hyperscan loads typing on `run`'s path; not every command loads hyperscan)
    from secretctl.core.redact.redactor import Finder

MAX_HOLD = 64 * 1024
# A read this large means the writer is ahead of us (the pipe was full: more is coming). Then the
# whole window a form could still grow in is held back as it is, not measured (the per-read prefix
# walk cost ~60 us of Python per 64 KiB read with 1,000 values); the held bytes are scanned again
# with the next read, and a pause (``flush_idle``) or ``close`` measures and releases them.
BULK_READ = 32 * 1024
_PEM_BEGIN = re.compile(rb"-----BEGIN [A-Z0-9 ]{0,30}PRIVATE KEY( BLOCK)?-----")
_PEM_END = re.compile(rb"-----END [A-Z0-9 ]{0,30}PRIVATE KEY( BLOCK)?-----")
_WORD = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=_-.~%:"
# What a byte list or dump is made of (``0x5a, 0x71``, ``132 161 070``): a list still arriving is
# held back whole, so the decode candidate sees it all.
_LISTISH = b"0123456789abcdefABCDEFxX,;:. \t\r\n[]()"
_LISTISH_NOT_DIGIT = _LISTISH.translate(None, b"0123456789")
_PARTIAL_ESCAPE = re.compile(rb"(?:%[0-9A-Fa-f]?|&#?[xX]?[0-9A-Fa-f]{0,7}|&[a-z]{0,4}|\\[xXuU0-7]?[0-9A-Fa-f]{0,7})$")


def _ends_short_line(data: bytes, end: int) -> bool:
    """A newline after an ordinary line (3..39 characters) ends whatever came before ``end``
    (looked at in place: a copy of ``data[:end]`` cost a copy of the whole read per read)."""
    if end <= 0 or data[end - 1] != 0x0A:
        return False
    stop = end - 1
    while stop > 0 and data[stop - 1] == 0x0D:
        stop -= 1
    start = data.rfind(b"\n", 0, stop) + 1
    return 3 <= stop - start < 40


def _incomplete_tail(data: bytes) -> int:
    """How many bytes at the end are an escape sequence or UTF-8 character cut in half."""
    esc = data.rfind(b"\x1b", max(0, len(data) - 300))
    if esc >= 0 and not ANSI().match(data, esc):
        return len(data) - esc
    for back in (1, 2, 3):
        if len(data) < back:
            break
        b = data[-back]
        if b >= 0xC0:
            need = 2 if b < 0xE0 else 3 if b < 0xF0 else 4
            return back if back < need else 0
        if b < 0x80:
            break
    m = _PARTIAL_ESCAPE.search(data, max(0, len(data) - 12))
    return len(data) - m.start() if m is not None else 0


def _hold_start(data: bytes, cut: int, maxlen: int) -> int:
    """Where the tail the holdback looks at starts: 4 longest forms back (at least 256 bytes), or
    further while the tail's skeleton holds fewer than ``maxlen`` characters: a form spread out by
    separators (a value with 300 spaces after each character, one read each) is longer in bytes
    than any window in bytes. At most ``MAX_HOLD`` back; ordinary text never goes further than the
    first window (it has letters and digits enough)."""
    start = max(0, cut - max(4 * maxlen, 256))
    while start > 0 and cut - start < MAX_HOLD and len(views.skeleton(data[start:cut]).data) < maxlen:
        start = max(0, cut - 2 * (cut - start), cut - MAX_HOLD)
    return start


class RedactStream:
    """Per-stream state: ``feed`` returns what is safe to emit now; ``close`` the rest. ``found``
    lists every match emitted (label, form, view): who was redacted, and how it was found."""

    def __init__(self, redactor: Finder, *, named: frozenset[str] | None = None) -> None:
        self._r = redactor
        self._named = named
        self._buf = b""
        self._backspaces = False
        self._bulk = False
        self.found: list[Match] = []

    def _emit(self, data: bytes, matches: list[Match]) -> bytes:
        self.found.extend(matches)
        return apply(data, matches, self._named)

    def _process(self, final: bool, idle: bool = False) -> bytes:
        data = self._buf
        if not data:
            return b""
        if self._r.empty:
            self._buf = b""
            return data
        pending: list[int] = []
        matches = self._r.find(data, pending=None if final else pending)
        if final:
            self._buf = b""
            return self._emit(data, matches)
        cut = len(data) - _incomplete_tail(data)
        if b"\x08" in data:
            self._backspaces = True
        if not _ends_short_line(data, cut):
            start = _hold_start(data, cut, self._r.maxlen)
            tail = data[start:cut]
            keep = len(tail) if self._bulk and not idle else self._r.holdback(tail, idle=idle)
            if self._backspaces and tail and keep < len(tail):
                # A stream that uses backspaces may erase its last character with the next read.
                keep = max(keep, self._r.holdback(tail[:-1], idle=idle) + 1)
            cut = min(cut, cut - keep)
            if not idle:
                # Only the last 1,025 bytes are looked at: at most 1,024 are held (two copies of
                # the whole read per read, before).
                seg = data[max(0, cut - 1025) : cut]
                word = len(seg) - len(seg.rstrip(_WORD))
                if cut - word > 0 and data[cut - word - 1] in b"\"' \t":
                    word += 1  # a keyed detector wants the quote or space before its key
                cut -= min(word, 1024)
                listish = data[max(0, cut - MAX_HOLD) : cut]
                run = len(listish) - len(listish.rstrip(_LISTISH))
                # A digit in it: fewer trailing list characters that are not digits (rstrip, in C;
                # a Python walk cost 21 ms per MB of `xxxx` lines, a regex search 3 ms).
                if run and len(listish) - len(listish.rstrip(_LISTISH_NOT_DIGIT)) < run:
                    cut -= run
        if not idle:
            for p in pending:
                cut = min(cut, p)
            line = data.rfind(b"\n", 0, cut) + 1
            if cut - line <= 4096:
                key = KEYWORDS.search(data, line, cut)
                if key is not None:
                    cut = min(cut, max(line, key.start() - 1))  # with the quote or space before it
        cut = min(cut, self._unfinished(data))
        for m in matches:  # never split a match, nor emit one that could still grow
            if m.start < cut < m.end or (m.end == len(data) and m.start < cut):
                cut = min(cut, m.start)
        if len(data) - cut > MAX_HOLD:
            cut = len(data) - MAX_HOLD
        cut = max(cut, 0)
        out = self._emit(data[:cut], [m for m in matches if m.end <= cut])
        self._buf = data[cut:]
        return out

    @staticmethod
    def _unfinished(data: bytes) -> int:
        """Hold back a PEM block whose END has not arrived."""
        begin = data.rfind(b"-----BEGIN", max(0, len(data) - MAX_HOLD))  # no copy of the last 64 KiB
        if begin >= 0 and _PEM_BEGIN.match(data, begin) and not _PEM_END.search(data, begin):
            return begin
        if begin >= 0 and len(data) - begin < 64 and data.find(b"\n", begin) < 0:
            return begin
        return len(data)

    def feed(self, chunk: bytes) -> bytes:
        self._buf += chunk
        self._bulk = len(chunk) >= BULK_READ
        return self._process(final=False)

    def flush_idle(self) -> bytes:
        return self._process(final=False, idle=True)

    def close(self) -> bytes:
        return self._process(final=True)


class PassThrough:
    """The stream filter for ``--no-sanitize``: bytes out as they come in."""

    def feed(self, chunk: bytes) -> bytes:
        return chunk

    def flush_idle(self) -> bytes:
        return b""

    def close(self) -> bytes:
        return b""
