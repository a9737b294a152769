"""Decoded runs: encodings the literal forms cannot cover, decoded only where they could hide one.

The compiled engine finds candidates (``CANDIDATES``, matched with the credential detectors in one
pass over the output); Python decodes just those regions:

- base64 (standard or URL-safe) that decodes to text: each group of 4 characters then starts with
  one of ``[C-Za-f]`` and its third is one of 32 (the high bits of ASCII are zero); 8 such groups in
  a row happen by chance about once in 700,000 positions of random base64, so random base64 costs
  no decode pass. This is what catches ``base64(base64(v))`` and a base64'd config file;
- base64 or hex that starts like gzip, zlib, bzip2 or xz, and raw gzip/bzip2/xz streams;
- base32 and base32hex runs (24+ characters; shorter values' base32 is a literal form);
- ``0x6e, 0x37`` lists, decimal and octal byte lists (``od -An -tu1``, ``od -b``, ``[104, 117]``)
  of 8+ numbers, and ``xxd`` / ``hexdump -C`` / ``od -tx1`` dump lines.

A region that decodes to something holding a secret is redacted whole. Decoding goes two levels
deep (a decoded region is searched with every view, candidates included, once more).
"""

from __future__ import annotations

import base64
import binascii
import re
import zlib
from collections.abc import Callable

from secretctl.core.lazyre import lazy as _lazy

DECOMPRESS_LIMIT = 1024 * 1024
REGION_LIMIT = 1 << 20
_B64CH = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/_-"
_B64_TEXT_GROUP = rb"[C-Za-f][%s][ABEFIJMNQRUVYZcdghklopstwx014589%s][%s]"

_B32_ALPHABETS = (b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", b"0123456789ABCDEFGHIJKLMNOPQRSTUV")  # RFC 4648, base32hex


def _b32_text_group(alphabet: bytes, lower: bool) -> bytes:
    """Eight base32 characters that decode to five bytes of printable ASCII (0x20-0x7e: top
    bit clear, and one of the next two set). Per character, which of its five bits fall on a
    byte's top three: byte 1's straddle characters 1 and 2, hence the one alternation. A plain
    ``[A-Z2-7]{32}`` matched every position of any long single-case run (hex dumps, ``xxxx``,
    runs of ``A``), one report each, and decoding those runs ran at 0.5 MB/s; a run of these
    groups is rare in anything but base32 of text (which is all a decoded run is searched for:
    ``texty``)."""

    def cls(keep: Callable[[int], int | bool]) -> bytes:
        chars = bytes(alphabet[v] for v in range(32) if keep(v))
        return b"[" + re.escape(chars.lower() if lower else chars) + b"]"

    any_ = cls(lambda v: True)
    return (cls(lambda v: 4 <= v <= 15)  # byte 0: bits 0-2 in character 0
            + b"(?:" + cls(lambda v: not v & 2 and v & 1) + any_  # byte 1: bits 8-9 here, bit 10 next
            + b"|" + cls(lambda v: not v & 3) + cls(lambda v: v & 16) + b")"
            + cls(lambda v: not v & 8 and v & 6)  # byte 2: bits 16-18 in character 3
            + cls(lambda v: not v & 1) + cls(lambda v: v & 24)  # byte 3: bit 24, then bits 25-26
            + cls(lambda v: not v & 4 and v & 3)  # byte 4: bits 32-34 in character 6
            + any_)


# (kind, Hyperscan expression, tier). Tier 0 shares a database with the credential detectors:
# each has literal parts Hyperscan can look for first. Tier 1 (long runs of a character class)
# costs more per byte and gets its own database (together, the two ran at a third of the speed).
CANDIDATES: tuple[tuple[str, bytes, int], ...] = (
    ("b64", rb"(?:H4sI|eJ[w-z]|eN[o-r]|eA[E-H]|Qlpo[MNO]|[/_]Td6WFo)[A-Za-z0-9+/_-]{12}", 0),
    ("hex", rb"(?:1f8b08|789c|78da|425a68|fd377a585a00)[0-9a-fA-F]{12}", 0),
    ("raw", rb"\x1f\x8b\x08|BZh[1-9]1AY&SY|\xfd7zXZ\x00", 0),
    ("hexlist", rb"0[xX][0-9a-fA-F]{1,2}[,;]?\s{0,2}0[xX][0-9a-fA-F]{1,2}[,;]?\s{0,2}0[xX][0-9a-fA-F]{1,2}", 0),
    ("numlist", rb"[0-9]{1,3}, ?[0-9]{1,3}, ?[0-9]{1,3}, ?[0-9]{1,3}", 0),  # 104, 117 / [104, 117]
    ("numlist", rb"[0-9]{2,3}(?: {1,3}[0-9]{2,3}){3}", 0),  # od -An -tu1
    ("numlist", rb"[0-7]{3} [0-7]{3} [0-7]{3} [0-7]{3}", 0),  # od -b
    ("dump", rb"[0-9a-f]{7,8}:(?: [0-9a-f]{4}){2}|[0-9a-f]{8}  (?:[0-9a-f]{2} ){4}|[0-7]{7}(?: [0-9a-f]{2}){8}", 0),
    ("odc", rb"[0-7]{7}(?:   [!-~]|  \\[0abtnvfr]| [0-7]{3}|    ){4}", 0),
    # Standard and URL-safe base64 in one expression (their union alphabet: a run that mixes the
    # two is a candidate too, and decoding tries both): two expressions scanned at half the speed.
    ("b64", b"(?:" + _B64_TEXT_GROUP % (rb"A-Za-z0-9+/_-", b"", rb"A-Za-z0-9+/_-") + b"){8}", 1),
    # Tier 2: scanned only over runs of 32+ characters of one case (see runs.single_case_runs):
    # it runs at ~90 MB/s, and random base64 almost never has such a run.
    ("b32", b"|".join(b"(?:" + _b32_text_group(alphabet, lower) + b"){4}"
                      for alphabet in _B32_ALPHABETS for lower in (False, True)), 2),
)

# What every candidate above, and every run the run finder reports (runs.RUN_START: 32+ run
# characters), holds at least one of: a digit, a byte that is neither printable ASCII nor a tab
# or line break, or 7 run characters in a row. Hex and hex dumps (7+ of [0-9a-f]), base64, base32 and the compressed
# starts are runs; byte, octal and decimal lists start with a digit; raw gzip and xz start with
# a byte outside ASCII, bzip2 has a digit. A change to CANDIDATES must keep this true
# (tests/core/test_redact_candidates.py matches every candidate against it).
_CANDIDATE_HINT = re.compile(rb"[0-9]|[^\t\n\r\x20-\x7e]|[A-Za-z0-9+/_-]{7}")


def may_hold_candidate(data: bytes) -> bool:
    """False when no decode candidate can match in ``data`` (nor any run start): searching it
    for credentials and candidates can then find no form of a value, only generic credentials."""
    return _CANDIDATE_HINT.search(data) is not None


Region = tuple[int, int, list[bytes]]  # (start, end, decodings)


_RUNS: dict[bytes, tuple[re.Pattern[bytes], bytes]] = {}


def _run_rx(chars: bytes) -> tuple[re.Pattern[bytes], bytes]:
    got = _RUNS.get(chars)
    if got is None:
        cls = b"[" + re.escape(chars) + b"]"
        table = bytes(0x61 if bytes([i]) in chars else 0x20 for i in range(256))
        got = _RUNS[chars] = (re.compile(cls + b"*"), table)
    return got


_WRAPS: dict[bytes, tuple[re.Pattern[bytes], bytes]] = {}
# Read backwards over marks (a: a run character, r/n: CR/LF): whole lines of 40+ run characters.
_LINES_BEFORE = _lazy(rb"(?:nr*a{40,}(?=n|\Z))+")


def _wrap_rx(chars: bytes) -> tuple[re.Pattern[bytes], bytes]:
    """Whole wrapped lines at once (a 1 MiB base64 blob is 14,000 lines): forwards, lines of 40+
    run characters each followed by a line break; backwards, the marks ``_LINES_BEFORE`` reads."""
    got = _WRAPS.get(chars)
    if got is None:
        cls = b"[" + re.escape(chars) + b"]"
        marks = bytes(0x61 if bytes([i]) in chars else 0x72 if i == 13 else 0x6E if i == 10 else 0x20
                      for i in range(256))
        got = _WRAPS[chars] = (re.compile(rb"(?:\r?\n" + cls + rb"{40,}(?=\r?\n))+"), marks)
    return got


def _extend(data: bytes, start: int, end: int, chars: bytes, wrap: bool, *, back: bool = True) -> tuple[int, int]:
    """Grow [start, end) over ``chars`` (in C: a regex forwards, translate + rfind backwards); with
    ``wrap``, across a line break after a full line (40+ characters, as ``base64`` wraps at 76)
    into a next line made of ``chars`` alone. ``back=False`` grows it forwards only."""
    run, table = _run_rx(chars)
    lines, marks = _wrap_rx(chars)
    n = len(data)
    start = _run_start(data, start, table) if back else start
    while True:
        end = min(_match_end(run, data, end), start + REGION_LIMIT)
        if not wrap or end >= n or data[end] not in b"\r\n":
            break
        line_start = data.rfind(b"\n", 0, end) + 1
        nxt = end + (2 if data[end : end + 2] == b"\r\n" else 1)
        if end - max(line_start, start) < 40 or nxt >= n or data[nxt] not in chars:
            break
        whole = lines.match(data, end)
        if whole is not None:  # full lines in one step; the last line is taken as below
            end = min(whole.end(), start + REGION_LIMIT)
            continue
        stop = _match_end(run, data, nxt)
        if stop < n and data[stop] not in b"\r\n=":
            break  # the next line is not a line of the run: "next line" after a base64 line
        end = nxt
    if wrap and back and start > 0 and data[start - 1] == 0x0A:
        before = _LINES_BEFORE().match(data[:start].translate(marks)[::-1])
        if before is not None:
            start -= before.end()
    return start, end


def _run_start(data: bytes, start: int, table: bytes) -> int:
    """Where the run of ``table``'s characters that ends at ``start`` begins (at most
    ``REGION_LIMIT`` back). The window grows from 256 bytes: a run is short next to a 1 MiB read,
    and translating a whole megabyte per candidate cost more than the scan."""
    floor = max(0, start - REGION_LIMIT)
    step = 256
    while True:
        lo = max(floor, start - step)
        at = data[lo:start].translate(table).rfind(b" ")
        if at >= 0:
            return lo + at + 1
        if lo == floor:
            return floor
        step *= 8


def _match_end(rx: re.Pattern[bytes], data: bytes, pos: int) -> int:
    m = rx.match(data, pos)
    return pos if m is None else m.end()


def _plausible(kind: str, data: bytes, start: int, end: int) -> bool:
    """A cheap look at the candidate itself before its whole run is decoded: base64 of text
    decodes to ASCII; a compressed stream's first bytes decompress without error."""
    piece = data[start:end]
    if kind == "b64" and piece[:1] not in (b"H", b"e", b"Q", b"/", b"_"):
        return any(b and max(b) < 0x80 for b in _b64(piece, decompress=False))
    if kind in ("b64", "hex"):
        chars = _B64CH if kind == "b64" else b"0123456789abcdefABCDEF"
        head = data[start : min(start + 96, _match_end(_run_rx(chars)[0], data, start))]
        heads = _b64(head, decompress=False) if kind == "b64" else _hex(head, decompress=False)
        if any(_starts_compressed(h) for h in heads):
            return True
        return kind == "b64" and any(b and max(b) < 0x80 for b in _b64(piece, decompress=False))
    return True


def _starts_compressed(blob: bytes) -> bool:
    """The first bytes of ``blob`` decompress without error (more input may be wanted)."""
    if blob[:3] == b"BZh":
        return blob[4:10] == b"1AY&SY"  # bzip2's block magic
    if blob[:6] == b"\xfd7zXZ\x00":
        return True
    if blob[:2] != b"\x1f\x8b" and blob[:1] != b"\x78":
        return False
    try:
        zlib.decompressobj(16 + zlib.MAX_WBITS if blob[:1] == b"\x1f" else zlib.MAX_WBITS).decompress(blob, 64)
    except zlib.error:
        return False
    return True


def decompress(blob: bytes) -> bytes | None:
    try:
        if blob[:2] == b"\x1f\x8b":
            return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(blob, DECOMPRESS_LIMIT)
        if blob[:1] == b"\x78":
            return zlib.decompressobj().decompress(blob, DECOMPRESS_LIMIT)
        if blob[:3] == b"BZh":
            import bz2  # on use: bz2 and lzma cost every `run` ~1 ms of imports, and few outputs hold either

            return bz2.BZ2Decompressor().decompress(blob, DECOMPRESS_LIMIT)
        if blob[:6] == b"\xfd7zXZ\x00":
            import lzma

            try:
                return lzma.LZMADecompressor().decompress(blob, DECOMPRESS_LIMIT)
            except lzma.LZMAError:
                return None
    except (zlib.error, OSError, EOFError, ValueError):
        return None
    return None


_PRINTABLE = bytes(range(0x20, 0x7F)) + b"\t\n\r"


def texty(blob: bytes) -> bool:
    """Mostly printable ASCII: worth searching (random binary from a run that only looked like
    base64 of text is not, and searching it cost more than the scan of the whole output)."""
    limit = len(blob)
    bad = 0
    for at in range(0, len(blob), _TEXTY_STEP):  # in steps: random bytes fail within the first fifth
        bad += len(blob[at : at + _TEXTY_STEP].translate(None, _PRINTABLE))
        if bad * 10 > limit:
            return False
    return True


_TEXTY_STEP = 16 * 1024


def _with_decompressed(blobs: list[bytes], decompress_too: bool = True) -> list[bytes]:
    if not decompress_too:
        return blobs
    out = []
    for b in blobs:
        out.append(b)
        d = decompress(b)
        if d:
            out.append(d)
    return out


def _b64(run: bytes, decompress: bool = True) -> list[bytes]:
    body = run.translate(None, b"\r\n").rstrip(b"=").replace(b"-", b"+").replace(b"_", b"/")
    out = []
    for off in range(4):
        chunk = body[off:]
        # The last 2 or 3 characters are the last 1 or 2 bytes (their "=" padding was stripped
        # above, or never written): decoded too. Cutting them off lost the end of a value whose
        # base64 stood alone (32 bytes: 30 decoded), which only a fragment or a literal caught.
        rem = len(chunk) % 4
        chunk = chunk[: len(chunk) - rem] if rem == 1 else chunk + b"=" * (-rem % 4)
        if len(chunk) >= 8:
            try:
                out.append(base64.b64decode(chunk, validate=True))
            except (binascii.Error, ValueError):
                continue
    return _with_decompressed(out, decompress)


def _hex(run: bytes, decompress: bool = True) -> list[bytes]:
    out = []
    for off in range(2):
        chunk = run[off:]
        chunk = chunk[: len(chunk) - len(chunk) % 2]
        try:
            out.append(bytes.fromhex(chunk.decode("ascii")))
        except ValueError:
            continue
    return _with_decompressed(out, decompress)


def _b32(run: bytes) -> list[bytes]:
    body = run.upper().rstrip(b"=")
    out = []
    for decode in (base64.b32decode, base64.b32hexdecode):
        for off in range(8):
            chunk = body[off:]
            chunk = chunk[: len(chunk) - len(chunk) % 8]
            if len(chunk) >= 8:
                try:
                    out.append(decode(chunk))
                except (binascii.Error, ValueError):
                    continue
    return out


_HEXITEM = _lazy(rb"0[xX]([0-9a-fA-F]{1,2})")
_NUM = _lazy(rb"[0-9]+")


def _lines_around(data: bytes, start: int, end: int, ok: Callable[[bytes], bool]) -> tuple[int, int]:
    """Whole lines around [start, end), grown while the neighbouring lines pass ``ok``."""
    s = data.rfind(b"\n", 0, start) + 1
    e = data.find(b"\n", end)
    e = len(data) if e < 0 else e
    while s > 0:
        ps = data.rfind(b"\n", 0, s - 1) + 1
        if not ok(data[ps : s - 1]) or e - ps > REGION_LIMIT:
            break
        s = ps
    while e < len(data):
        ne = data.find(b"\n", e + 1)
        ne = len(data) if ne < 0 else ne
        if not ok(data[e + 1 : ne]) or ne - s > REGION_LIMIT:
            break
        e = ne
    return s, e


def _numbers(line: bytes) -> list[bytes]:
    toks = _NUM().findall(line)
    if toks and len(toks[0]) >= 7:  # od's offset column
        toks = toks[1:]
    return toks


def _is_numlist(line: bytes) -> bool:
    toks = _numbers(line)
    return len(toks) >= 2 and all(len(t) <= 3 for t in toks) and not line.strip(b"0123456789 \t,;[]()-_:")


def _numlist(region: bytes) -> list[bytes]:
    toks = [t for line in region.split(b"\n") for t in _numbers(line)]
    out = []
    dec = [int(t) for t in toks]
    if all(v < 256 for v in dec):
        out.append(bytes(dec))
    if all(t.strip(b"01234567") == b"" for t in toks):
        octal = [int(t, 8) for t in toks]
        if all(v < 256 for v in octal):
            out.append(bytes(octal))
    return out


_DUMP_LINE = _lazy(rb"(?<![0-9a-f])([0-9a-f]{7,8}):? {1,2}((?:[0-9a-f]{2,4} ?)+)")


def _line_at(data: bytes, pos: int) -> bytes:
    end = data.find(b"\n", pos)
    return data[pos : len(data) if end < 0 else end]


def _dump_bytes(line: bytes) -> bytes | None:
    m = _DUMP_LINE().search(line)
    if m is None:
        return None
    body = m.group(2)
    if b"  " in line[m.start(2):]:  # hexdump -C puts two spaces mid-line: take what is before the gutter
        gutter = line.find(b"|")
        body = line[m.start(2) : gutter if gutter > 0 else len(line)]
        if b"  " in body.strip() and gutter < 0:  # xxd: hex groups, two spaces, the text column
            body = body[: body.find(b"  ")]
    digits = re.sub(rb"[^0-9a-f]", b"", body)
    try:
        return bytes.fromhex(digits[: len(digits) - len(digits) % 2].decode())
    except ValueError:
        return None


def _trim(data: bytes, s: int, e: int, item: re.Pattern[bytes]) -> tuple[int, int]:
    """[s, e) narrowed to run from the first ``item`` in it to the end of the last one."""
    first = item.search(data, s, e)
    if first is None:
        return s, e
    last = first
    for last in item.finditer(data, first.start(), e):  # noqa: B007 - the last one is wanted
        pass
    return first.start(), last.end()


_NUM_ITEM = _lazy(rb"(?<![0-9])[0-9]{1,3}(?![0-9])")
_DUMP_START = _lazy(rb"[0-9a-f]{7,8}:? {1,2}[0-9a-f]{2}")
_ODC_ESC = {b"\\0": 0, b"\\a": 7, b"\\b": 8, b"\\t": 9, b"\\n": 10, b"\\v": 11, b"\\f": 12, b"\\r": 13, b"\\\\": 92}


def _odc_bytes(line: bytes) -> bytes | None:
    """One line of ``od -c``: an octal offset, then one 4-column cell per byte."""
    m = re.match(rb"\s*([0-7]{7,})", line)
    if m is None:
        return None
    body = line[m.end():]
    out = bytearray()
    for i in range(0, len(body), 4):
        cell = body[i : i + 4]
        tok = cell.strip(b" ") or (b" " if cell else b"")
        if not tok:
            continue
        if tok in _ODC_ESC:
            out.append(_ODC_ESC[tok])
        elif len(tok) == 3 and tok.isdigit():
            out.append(int(tok, 8) & 0xFF)
        elif len(tok) == 1 or tok[0] >= 0x80:
            out += tok
        else:
            return None
    return bytes(out) if out else None


def _padded(data: bytes, end: int, most: int) -> int:
    """``end`` moved over up to ``most`` "=" of padding (base64: 2, base32: 6)."""
    stop = end
    while stop < len(data) and data[stop] == 0x3D and stop - end < most:
        stop += 1
    return stop


def opaque(kind: str, data: bytes, region: tuple[int, int], candidate: int, decodings: list[bytes]) -> bool:
    """A base64/base32/hex region ``start:end`` that decodes to nothing worth searching so far, and
    holds no live compressed stream from its start or its candidate's (one that decompresses
    without error, if only to nothing yet: its start is needed, so a stream holds it whole).
    Nothing else in such a region needs it whole: a form of a value inside is found wherever
    the region is cut (each decoder tries every offset). Random base64 starts a zlib stream
    by chance (``eJ`` + a valid header) about once per 64 KiB, and the random deflate data fails."""
    if decodings or kind not in ("b64", "b32", "hex"):
        return False
    if kind == "b32":
        return True
    start, end = region
    for at in dict.fromkeys((start, candidate)):  # once when the candidate starts the region
        run = data[at:end]
        blobs = _b64(run, decompress=False) if kind == "b64" else _hex(run.translate(None, b"\r\n"), decompress=False)
        if any(_starts_compressed(b) and decompress(b) is not None for b in blobs):
            return False
    return True


def _b64_found(run: bytes) -> list[bytes]:
    """What a base64 run decodes to that is worth searching: text, or a stream it decompresses to."""
    blobs = _b64(run, decompress=False)
    found = [b for b in blobs if texty(b)]
    for b in blobs:
        if _starts_compressed(b):
            d = decompress(b)
            if d:
                found.append(d)
    return found


def region_of(kind: str, data: bytes, start: int, end: int) -> Region | None:
    """The region a candidate stands in, and its decodings (None: not worth decoding)."""
    if not _plausible(kind, data, start, end):
        return None
    if kind == "b64":
        s, e = _extend(data, start, end, _B64CH, wrap=True)
        found = _b64_found(data[s:e])
        if not found and s < start:
            # Glued to the end of other base64 (random base64 wrapped the same way, then
            # base64(base64(v)) or base64(gzip(...))): from the candidate's own start, forwards.
            s, e = _extend(data, start, end, _B64CH, wrap=True, back=False)
            found = _b64_found(data[s:e])
        return s, _padded(data, e, 2), found
    if kind == "hex":
        s, e = _extend(data, start, end, b"0123456789abcdefABCDEF", wrap=True)
        return s, e, _hex(data[s:e].translate(None, b"\r\n"))
    if kind == "raw":
        d = decompress(data[start:])
        return (start, len(data), [d]) if d else None
    if kind == "b32":
        alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567abcdefghijklmnopqrstuvwxyz0123456789"
        s, e = _extend(data, start, end, alphabet, wrap=True)
        e2 = _padded(data, e, 6)
        found = [b for b in _b32(data[s:e].translate(None, b"\r\n")) if texty(b)]
        if not found and e - s > end - start:
            # Wrapped lines that are not one encoding (a line of "x" above base32 of a value):
            # the candidate's own run alone.
            s, e = _extend(data, start, end, alphabet, wrap=False)
            e2 = _padded(data, e, 6)
            found = [b for b in _b32(data[s:e]) if texty(b)]
        if not found and start - s >= 8:
            # Base32 glued to the end of other letters and digits (``deadbeef`` + base32 of a
            # value): the run's start is not the encoding's, but the candidate's is (give or take
            # the 8 offsets _b32 tries).
            s = start
            found = [b for b in _b32(data[s:e]) if texty(b)]
        return s, e2, found
    if kind == "hexlist":
        s, e = _trim(data, *_lines_around(data, start, end, lambda ln: bool(_HEXITEM().search(ln))), _HEXITEM())
        return s, e, [bytes(int(h, 16) for h in _HEXITEM().findall(data[s:e]))]
    if kind == "numlist":
        s, e = _lines_around(data, start, end, _is_numlist)
        s = max(s, data.rfind(b"\n", 0, start) + 1 if not _is_numlist(_line_at(data, s)) else s)
        s, e = _trim(data, s, e, _NUM_ITEM())
        return s, e, _numlist(data[s:e])
    if kind == "dump":
        s, e = _lines_around(data, start, end, lambda ln: _dump_bytes(ln) is not None)
        first = _DUMP_START().search(data, s, e)
        s = first.start() if first is not None else s
        parts = [_dump_bytes(ln) for ln in data[s:e].split(b"\n")]
        return s, e, [b"".join(p for p in parts if p)]
    if kind == "odc":
        s, e = _lines_around(data, start, end, lambda ln: _odc_bytes(ln) is not None)
        first = re.compile(rb"[0-7]{7,}").search(data, s, e)
        s = first.start() if first is not None else s
        parts = [_odc_bytes(ln) for ln in data[s:e].split(b"\n")]
        return s, e, [b"".join(p for p in parts if p)]
    return None
