"""The sanitizer (pure core): removes every trace of known secrets from output, as a stream.

How it works, in one pass per buffer:

1. **Literal forms.** For each secret, every form a leak usually takes is compiled into one
   Aho-Corasick automaton over bytes (ahocorasick-rs): the value, reversed, base64 (standard
   and URL-safe, padded or not, and the alignment-independent core at each of the 3 byte
   offsets inside a longer blob), base32 (5 offsets), hex (lower/upper, ``\\x``, ``0x``, ``%XX``
   per byte), URL-encoding, JSON/backslash/``printf %q`` escaping, XML entities, the value with
   a separator between every character, and (for values of 16+ characters) every window of
   ``fragment_min`` characters that is not low-entropy.
2. **Normalized view.** Matching runs on the output with line breaks, backspaces, ANSI escape
   sequences and zero-width characters removed (patterns are normalized the same way), so a
   value wrapped at 76 columns or painted character by character is still found; the match is
   mapped back and redacted in the real output.
3. **Decoding.** Long base64, hex and percent-encoded runs are decoded (and gunzipped) and the
   result scanned again, two levels deep; a run that hides a secret is redacted whole.
4. **Credentials not in the vault** (AWS keys, GitHub/Slack/Stripe/Google tokens, JWTs, PEM
   private keys, age secret keys) are found by anchored rules and replaced with
   ``[REDACTED:credential]``.

Overlapping matches merge into one replacement; the longest match's label wins.

Streaming: ``RedactStream.feed`` returns at once every byte that can no longer be part of a
match: only a tail that is a prefix of some pattern (or an unfinished encoded run or PEM
block, bounded) is held back. See docs/redaction.md for exactly what is and is not caught.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import json
import re
import urllib.parse
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from secretctl.core.secret import Secret
from secretctl.errors import UsageError

MIN_REDACTABLE = 4
_DFA_MAX_PATTERNS = 8000
CREDENTIAL = "credential"
MAX_HOLD = 64 * 1024
_DECODE_MIN = 24
_DECODE_DEPTH = 2
_GUNZIP_LIMIT = 1024 * 1024
_SEPARATORS = (" ", "-", ".", ",", ":", "_", "|", "\t", "/")
_SHELL_SPECIAL = set(" \t\n!\"#$&'()*,;<=>?[\\]^`{|}~")
_URL_PUNCT = set(":/.-_@?=&%+#~")

# Bytes removed from the normalized view. Line breaks and backspaces always; ANSI escapes and
# zero-width characters by regex, only when present (a cheap check first).
_STRIP_ALWAYS = b"\r\n\x08"
_ANSI = re.compile(rb"\x1b(?:\[[0-9;?]*[ -/]*[@-~]|\][^\x07\x1b]{0,256}(?:\x07|\x1b\\)|[@-Z\\-_])")
_ZW_BYTES = [c.encode() for c in "\u200b\u200c\u200d\u2060\ufeff\u00ad"]
_ZW_RE = re.compile(b"|".join(re.escape(z) for z in _ZW_BYTES))
_PCT_RUN = re.compile(rb"(?:%[0-9A-Fa-f]{2}|[A-Za-z0-9._~+-]){12,}")

# Credential rules: an anchor found by the automaton, then a bounded regex at that position.
# Compiled on first use (_cred_rule): compiling all of them cost every `run` 3 ms at start-up.
_CRED_RULES: dict[bytes, tuple[bytes, int]] = {
    b"AKIA": (rb"AKIA[A-Z0-9]{16}", 0),
    b"ASIA": (rb"ASIA[A-Z0-9]{16}", 0),
    b"AGPA": (rb"AGPA[A-Z0-9]{16}", 0),
    b"AROA": (rb"AROA[A-Z0-9]{16}", 0),
    b"ghp_": (rb"ghp_[A-Za-z0-9]{36,255}", 0),
    b"gho_": (rb"gho_[A-Za-z0-9]{36,255}", 0),
    b"ghu_": (rb"ghu_[A-Za-z0-9]{36,255}", 0),
    b"ghs_": (rb"ghs_[A-Za-z0-9]{36,255}", 0),
    b"ghr_": (rb"ghr_[A-Za-z0-9]{36,255}", 0),
    b"github_pat_": (rb"github_pat_[A-Za-z0-9_]{22,255}", 0),
    b"xoxb-": (rb"xoxb-[A-Za-z0-9-]{10,250}", 0),
    b"xoxp-": (rb"xoxp-[A-Za-z0-9-]{10,250}", 0),
    b"xoxa-": (rb"xoxa-[A-Za-z0-9-]{10,250}", 0),
    b"xoxs-": (rb"xoxs-[A-Za-z0-9-]{10,250}", 0),
    b"xoxr-": (rb"xoxr-[A-Za-z0-9-]{10,250}", 0),
    b"hooks.slack.com/services/": (rb"hooks\.slack\.com/services/[A-Za-z0-9/_-]{20,200}", 0),
    b"eyJ": (rb"eyJ[A-Za-z0-9_-]{8,4096}\.eyJ[A-Za-z0-9_-]{8,8192}\.[A-Za-z0-9_-]{8,1024}", 0),
    b"sk_live_": (rb"sk_live_[A-Za-z0-9]{16,247}", 0),
    b"rk_live_": (rb"rk_live_[A-Za-z0-9]{16,247}", 0),
    b"AIza": (rb"AIza[0-9A-Za-z_-]{35}", 0),
    b"AGE-SECRET-KEY-1": (rb"AGE-SECRET-KEY-1[0-9A-Z]{58}", 0),
    b"FwoGZXIvYXdzE": (rb"FwoGZXIvYXdzE[A-Za-z0-9/+=]{40,2000}", 0),
    b"IQoJb3JpZ2luX2Vj": (rb"IQoJb3JpZ2luX2Vj[A-Za-z0-9/+=]{40,4000}", 0),
    b"aws_secret_access_key": (rb"aws_secret_access_key[\"'\s]*[:=][\"'\s]*[A-Za-z0-9/+]{40}", re.I),
    b"AWS_SECRET_ACCESS_KEY": (rb"AWS_SECRET_ACCESS_KEY[\"'\s]*[:=][\"'\s]*[A-Za-z0-9/+]{40}", 0),
    b"-----BEGIN": (
        rb"-----BEGIN ([A-Z0-9 ]{0,30})PRIVATE KEY( BLOCK)?-----[A-Za-z0-9+/=\s:,.()-]{0,32768}?"
        rb"-----END \1PRIVATE KEY( BLOCK)?-----", 0
    ),
}
_CRED_COMPILED: dict[bytes, re.Pattern[bytes]] = {}


def _cred_rule(anchor: bytes) -> re.Pattern[bytes]:
    rule = _CRED_COMPILED.get(anchor)
    if rule is None:
        rule = _CRED_COMPILED[anchor] = re.compile(*_CRED_RULES[anchor])
    return rule


_B64_CHARS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/_-"
_RUN_TABLE = bytes(0x61 if bytes([i]) in _B64_CHARS else 0x20 for i in range(256))
_RUN_NEEDLE = b"a" * _DECODE_MIN
_WS = re.compile(rb"[\s\"'<>]")
# The start of an escape sequence or a multi-byte character that the next read may complete.
_PEM_END = re.compile(rb"-----END [A-Z0-9 ]{0,30}PRIVATE KEY( BLOCK)?-----")
_PEM_BEGIN = re.compile(rb"-----BEGIN [A-Z0-9 ]{0,30}PRIVATE KEY( BLOCK)?-----")


def check_redactable(label: str, value: Secret) -> None:
    """Refuse values too short to redact without destroying ordinary output."""
    if len(_normalize_pattern(value.reveal())) < MIN_REDACTABLE:
        raise UsageError(
            f"secret too short to redact safely: {label} ({len(value)} characters)",
            hint="values under 4 characters would be found everywhere in output; pass --allow-short to inject "
            "it anyway (its output is then not reliably redacted)",
        )


@dataclass(frozen=True)
class Match:
    start: int
    end: int
    label: str
    form: str


def _normalize_pattern(p: bytes) -> bytes:
    """Patterns are normalized exactly like the view they are matched against."""
    if _needs_regex_normalize(p):
        return _normalize(p)[0]
    return p.translate(None, _STRIP_ALWAYS)


def _b64_cores(value: bytes, alphabet: str) -> list[tuple[bytes, str]]:
    """The part of base64(prefix + value + suffix) that depends only on ``value``, per offset."""
    out = []
    enc = base64.b64encode if alphabet == "std" else base64.urlsafe_b64encode
    full = enc(value)
    out.append((full, f"base64-{alphabet}"))
    out.append((full.rstrip(b"="), f"base64-{alphabet}"))
    n = len(value)
    for k in range(3):
        blob = enc(b"\0" * k + value + b"\0\0")
        start = -(-8 * k // 6)  # ceil
        end = (8 * (k + n)) // 6
        core = blob[start:end]
        if len(core) >= 4:
            out.append((core, f"base64-{alphabet}"))
    return out


def _b32_cores(value: bytes) -> list[tuple[bytes, str]]:
    out = [(base64.b32encode(value), "base32"), (base64.b32encode(value).rstrip(b"="), "base32")]
    n = len(value)
    for k in range(5):
        blob = base64.b32encode(b"\0" * k + value + b"\0" * 5)
        start = -(-8 * k // 5)
        end = (8 * (k + n)) // 5
        core = blob[start:end]
        if len(core) >= 4:
            out.append((core, "base32"))
    return [(p, f) for p, f in out] + [(p.lower(), f) for p, f in out]


def _text_forms(text: str) -> list[tuple[bytes, str]]:
    out: list[tuple[bytes, str]] = []
    enc = text.encode("utf-8")
    out.append((urllib.parse.quote(enc, safe="").encode(), "url"))
    out.append((urllib.parse.quote_plus(enc, safe="").encode(), "url"))
    out.append((urllib.parse.quote(enc, safe="").lower().encode(), "url"))
    out.append((json.dumps(text)[1:-1].encode(), "json"))
    out.append((json.dumps(text, ensure_ascii=False)[1:-1].encode(), "json"))
    out.append(("".join("\\" + c if c in _SHELL_SPECIAL else c for c in text).encode(), "shell"))
    out.append((text.replace("\\", "\\\\").replace('"', '\\"').encode(), "backslash"))
    out.append((text.replace("'", "'\\''").encode(), "shell"))
    import html  # only here: html.entities costs 1.3 ms of every `run`'s start-up

    out.append((html.escape(text, quote=True).encode(), "xml"))
    out.append((html.escape(text, quote=False).encode(), "xml"))
    out.append(("".join(f"&#{ord(c)};" for c in text).encode(), "xml"))
    out.append(("".join(f"&#x{ord(c):x};" for c in text).encode(), "xml"))
    for sep in _SEPARATORS:
        out.append((sep.join(text).encode(), "separated"))
    return out


def _low_entropy(window: str) -> bool:
    """Windows that ordinary output is full of: words, URL scaffolding, repetition."""
    if len(set(window)) < 5:
        return True
    informative = [c for c in window if not (c.islower() and c.isascii()) and c not in _URL_PUNCT]
    return len(informative) < 2


def forms_of(value: bytes, *, fragment_min: int = 8, fragment_value_min: int = 16) -> list[tuple[bytes, str]]:
    """Every literal form of ``value`` the sanitizer matches, with the form's name."""
    forms: list[tuple[bytes, str]] = [(value, "exact"), (value[::-1], "reversed")]
    forms += _b64_cores(value, "std") + _b64_cores(value, "url")
    forms += _b32_cores(value)
    hx = value.hex()
    forms += [(hx.encode(), "hex"), (hx.upper().encode(), "hex")]
    for fmt in ("\\x{:02x}", "\\x{:02X}", "0x{:02x}", "0x{:02X}", "%{:02X}", "%{:02x}"):
        forms.append(("".join(fmt.format(b) for b in value).encode(), "hex"))
    for fmt in ("0x{:02x} ", "0x{:02x},", "{:02x} ", "{:02x}:"):
        forms.append(("".join(fmt.format(b) for b in value).rstrip(" ,:").encode(), "hex"))
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None:
        forms += _text_forms(text)
        forms.append((text[::-1].encode(), "reversed"))
        if len(text) >= fragment_value_min:
            for i in range(len(text) - fragment_min + 1):
                window = text[i : i + fragment_min]
                if not _low_entropy(window):
                    forms.append((window.encode(), "fragment"))
    elif len(value) >= fragment_value_min:
        for i in range(len(value) - fragment_min + 1):
            forms.append((value[i : i + fragment_min], "fragment"))
    out = []
    seen = set()
    for raw, f in forms:
        p = _normalize_pattern(raw)
        if len(p) >= MIN_REDACTABLE and p not in seen:
            seen.add(p)
            out.append((p, f))
    return out




class Redactor:
    """Built once for a set of secrets; ``stream()`` gives independent per-stream state."""

    def __init__(self, patterns: list[bytes], meta: list[tuple[str, str]], credentials: bool) -> None:
        import ahocorasick_rs

        self._meta = meta
        self._n_secret_patterns = len(patterns)
        # Credential anchors share the one automaton (one pass over the output); their rules are
        # then applied to the real bytes at the anchor, so a token ends at a line break.
        self._cred_anchors = list(_CRED_RULES) if credentials else []
        all_patterns = list(patterns) + self._cred_anchors
        meta.extend((CREDENTIAL, "anchor") for _ in self._cred_anchors)
        self._empty = not all_patterns
        # A DFA scans ~1.6x faster but its build time and memory grow steeply with the pattern
        # count (66k patterns: 6 s, 1.5 GB); past a few thousand the contiguous NFA is the better trade.
        impl = (ahocorasick_rs.Implementation.DFA if len(all_patterns) <= _DFA_MAX_PATTERNS
                else ahocorasick_rs.Implementation.ContiguousNFA)
        self._ac = None if not all_patterns else ahocorasick_rs.BytesAhoCorasick(all_patterns, implementation=impl)
        prefixable = all_patterns
        self._sorted = sorted(set(prefixable))
        self._maxlen = max((len(p) for p in prefixable), default=0)
        # Prefixes of each pattern's first 1-3 bytes, and an automaton of their first 4 bytes: the
        # held-back tail is found with one scan instead of a test per position.
        self._heads = [set(), *({p[:n] for p in prefixable} for n in range(1, 4))]
        heads4 = sorted({p[:4] for p in prefixable if len(p) >= 4})
        self._head_ac = ahocorasick_rs.BytesAhoCorasick(heads4) if heads4 else None

    @classmethod
    def build(cls, secrets: Mapping[str, Secret], *, fragment_min: int = 8, fragment_value_min: int = 16,
              credentials: bool = True) -> Redactor:
        best: dict[bytes, tuple[str, str, tuple[int, int]]] = {}
        for label, secret in secrets.items():
            value = secret.reveal()
            if len(_normalize_pattern(value)) < MIN_REDACTABLE:
                continue
            for p, form in forms_of(value, fragment_min=fragment_min, fragment_value_min=fragment_value_min):
                # One pattern may be a form of two secrets: a secret's own value (or a full encoding
                # of it) beats being a fragment of another; between equals, the longer value wins.
                rank = (0 if form == "fragment" else 1, len(value))
                prev = best.get(p)
                if prev is None or rank > prev[2]:
                    best[p] = (label, form, rank)
        patterns = list(best)
        meta = [(best[p][0], best[p][1]) for p in patterns]
        return cls(patterns, meta, credentials)

    @property
    def pattern_count(self) -> int:
        return self._n_secret_patterns

    # ------------------------------------------------------------------ matching
    def _literal_matches(self, data: bytes, anchors: list[int] | None = None) -> list[Match]:
        """Matches of the secrets' literal forms; credential anchor positions go to ``anchors``."""
        if self._ac is None:
            return []
        out = []
        for idx, s, e in self._ac.find_matches_as_indexes(data, overlapping=True):
            label, form = self._meta[idx]
            if form == "anchor":
                if anchors is not None:
                    anchors.append(s)
                continue
            out.append(Match(s, e, label, form))
        return out

    def _credential_matches(self, data: bytes, starts: list[int], pending: list[int] | None = None) -> list[Match]:
        """Credential-shaped strings starting at the anchor positions (in ``data``). An anchor that
        does not match yet but could with more bytes (no whitespace between it and the end) is
        reported in ``pending``."""
        out = []
        for s in sorted(set(starts)):
            rule = next((_cred_rule(a) for a in _CRED_RULES if data.startswith(a, s)), None)
            if rule is None:
                continue
            m = rule.match(data, s)
            if m is not None:
                if pending is not None and m.end() == len(data):
                    pending.append(s)  # it may grow with the next read
                else:
                    out.append(Match(s, m.end(), CREDENTIAL, "credential"))
            elif pending is not None and len(data) - s <= 16384 and not _WS.search(data, s):
                pending.append(s)
        return out

    def _decoded_matches(self, view: bytes, depth: int, covered: Sequence[Match] = ()) -> list[Match]:
        """Runs that decode (base64, hex, percent, gzip) to text containing a secret. Runs that
        lie inside a match already found (``covered``) are redacted anyway: not decoded."""
        if self._n_secret_patterns == 0 or depth > _DECODE_DEPTH:
            return []
        out = []
        # Runs are located with bytes.translate and bytes.find (C speed): most output has no
        # run of 24+ base64/hex characters and no '%', and then costs two passes, no regex.
        candidates: list[tuple[int, int]] = list(_long_runs(view))
        if b"%" in view:
            candidates += [(m.start(), m.end()) for m in _PCT_RUN.finditer(view)]
        for start, end in candidates:
            if any(m.start <= start and end <= m.end for m in covered):
                continue
            run = view[start:end].translate(None, b"\r\n")
            decodings = _decode_pct(run) if b"%" in run else _decode_b64(run) + _decode_hex(run)
            for decoded in decodings:
                found = self._scan_decoded(decoded, depth)
                if found is not None:
                    out.append(Match(start, end, found, "decoded"))
                    break
        return out

    def _scan_decoded(self, decoded: bytes, depth: int) -> str | None:
        if len(decoded) < MIN_REDACTABLE:
            return None
        if decoded[:2] == b"\x1f\x8b":
            try:
                d = zlib.decompressobj(16 + zlib.MAX_WBITS)
                decoded = d.decompress(decoded, _GUNZIP_LIMIT)
            except zlib.error:
                return None
        view = decoded.translate(None, _STRIP_ALWAYS)
        for m in self._literal_matches(view):
            if m.label != CREDENTIAL:
                return m.label
        if sum(32 <= c < 127 for c in view[:256]) < 0.7 * min(len(view), 256):
            return None  # binary: not an encoding of text, nothing nested to decode
        inner = self._decoded_matches(view, depth + 1)
        return inner[0].label if inner else None

    def find(self, data: bytes, pending: list[int] | None = None) -> list[Match]:
        """Every match in ``data`` (positions in ``data``), merged: no value inside."""
        view = _quick_view(data)
        if b"\x1b" in data:
            # A stray ESC can swallow the next character as a two-byte escape: also match the
            # bytes with only line breaks and backspaces removed.
            plain = data.translate(None, _STRIP_ALWAYS)
            extra = _merge(self._literal_matches(plain))
            if extra:
                cmap = _CountingMap(data)
                extra = [Match(cmap.orig(m.start), cmap.orig_end(m.end), m.label, m.form) for m in extra]
        else:
            extra = []
        # Merge in view coordinates first: one occurrence yields dozens of overlapping matches
        # (fragments, encodings), and only the merged spans need mapping back.
        anchors: list[int] = []
        raw = _merge(self._literal_matches(view, anchors))
        if (raw or anchors) and view is not data:
            _, mapping = _normalize(data)
            if mapping is not None:
                raw = [Match(mapping.orig(m.start), mapping.orig_end(m.end), m.label, m.form) for m in raw]
                anchors = [mapping.orig(a) for a in anchors]
        raw += extra
        if b"\x08" in data:
            # Also as a terminal renders it: a backspace erases the character before it.
            rendered, rmap = _normalize(data, erase=True)
            for m in self._literal_matches(rendered):
                raw.append(m if rmap is None else Match(rmap.orig(m.start), rmap.orig_end(m.end), m.label, m.form))
        raw += self._decoded_matches(data, 1, raw)
        raw += self._credential_matches(data, anchors, pending)
        return _merge(raw)

    def redact(self, data: bytes) -> bytes:
        return _apply(data, self.find(data))

    def contains(self, data: bytes) -> list[str]:
        """Labels of secrets (not generic credentials) whose forms appear in ``data``."""
        return sorted({m.label for m in self.find(data) if m.label != CREDENTIAL})

    def stream(self) -> RedactStream:
        return RedactStream(self)

    # -------------------------------------------------------------- holdback
    def _is_prefix(self, s: bytes) -> bool:
        i = bisect.bisect_left(self._sorted, s)
        return i < len(self._sorted) and self._sorted[i].startswith(s)

    def _holdback(self, view: bytes) -> int:
        """Length of the longest suffix of ``view`` that could still grow into a match."""
        size = len(view)
        first = size - min(size, self._maxlen - 1)
        tail = view[first:]
        starts: list[int] = []
        if self._head_ac is not None:
            starts = sorted({s for _, s, _ in self._head_ac.find_matches_as_indexes(tail, overlapping=True)})
        # The last three positions are too short for a 4-byte head.
        starts += [s for s in range(max(0, len(tail) - 3), len(tail)) if tail[s:] in self._heads[len(tail) - s]]
        for s in starts:  # ascending: the first that fits is the longest suffix
            if self._is_prefix(tail[s:]):
                return len(tail) - s
        return 0


class _Mapping:
    """Maps positions in the normalized view back to the original bytes."""

    def __init__(self, removed: list[tuple[int, int]]) -> None:
        # removed: sorted (orig_start, orig_end) spans cut out of the original.
        self._starts: list[int] = []
        self._shift: list[int] = []
        total = 0
        for s, e in removed:
            self._starts.append(s - total)  # position in the view where the cut happened
            total += e - s
            self._shift.append(total)

    def orig(self, pos: int) -> int:
        i = bisect.bisect_right(self._starts, pos) - 1
        return pos + (self._shift[i] if i >= 0 else 0)

    def orig_end(self, pos: int) -> int:
        # An end position maps to just after the last kept byte, not past a following cut.
        if pos == 0:
            return 0
        return self.orig(pos - 1) + 1


class _CountingMap:
    """Maps view positions back when only line breaks and backspaces were removed, by counting
    them in C (bytes.count) for each match instead of listing every line break of the buffer."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._removed = [c for c in (b"\n", b"\r", b"\x08") if c in data]
        # Counts so far, at increasing positions: matches are mapped in order, so each count
        # starts where the last one ended (counting from 0 every time made a 1 MiB read quadratic).
        self._at = [0]
        self._count = [0]

    def _removed_before(self, end: int) -> int:
        i = bisect.bisect_right(self._at, end) - 1
        start = self._at[i]
        d = self._data
        n = self._count[i] + sum(d.count(c, start, end) for c in self._removed)
        if i == len(self._at) - 1 and end > start:
            self._at.append(end)
            self._count.append(n)
        return n

    def orig(self, pos: int) -> int:
        guess = pos
        while True:
            nxt = pos + self._removed_before(guess + 1) if guess < len(self._data) else guess
            # Skip removed bytes sitting exactly at the candidate position.
            while nxt < len(self._data) and self._data[nxt] in _STRIP_ALWAYS:
                nxt += 1
            if nxt == guess:
                return guess
            guess = nxt

    def orig_end(self, pos: int) -> int:
        if pos == 0:
            return 0
        return self.orig(pos - 1) + 1


def _needs_regex_normalize(data: bytes) -> bool:
    # memchr-speed checks: no ESC and no lead byte of a zero-width character is the common case.
    if b"\x1b" not in data and b"\xe2" not in data and b"\xef" not in data and b"\xc2" not in data:
        return False
    return (b"\x1b" in data or b"\xe2\x80" in data or b"\xe2\x81\xa0" in data or b"\xef\xbb\xbf" in data
            or b"\xc2\xad" in data)


def _quick_view(data: bytes) -> bytes:
    """The normalized view without building the position map (built only when something matched)."""
    if _needs_regex_normalize(data):
        return _normalize(data)[0]
    view = data.translate(None, _STRIP_ALWAYS)
    return data if len(view) == len(data) else view


def _normalize(data: bytes, *, erase: bool = False) -> tuple[bytes, _Mapping | None]:
    special = _needs_regex_normalize(data)
    has_ansi = special and b"\x1b" in data
    has_zw = special and any(z in data for z in _ZW_BYTES)
    if not has_ansi and not has_zw and not erase:
        view = data.translate(None, _STRIP_ALWAYS)
        if len(view) == len(data):
            return data, None
        return view, _CountingMap(data)  # type: ignore[return-value]
    parts = []
    if has_ansi:
        parts.append(_ANSI.pattern)
    if has_zw:
        parts.append(_ZW_RE.pattern)
    if erase:
        # A backspace erases the character before it (UTF-8 aware), as a terminal shows it.
        parts.append(rb"(?:[\x00-\x07\x09-\x7f]|[\xc0-\xff][\x80-\xbf]{1,3})\x08")
    parts.append(rb"[\r\n\x08]")
    cut = re.compile(b"(?:" + b"|".join(parts) + b")+")
    removed = [(m.start(), m.end()) for m in cut.finditer(data)]
    if not removed:
        return data, None
    pieces = []
    last = 0
    for s, e in removed:
        pieces.append(data[last:s])
        last = e
    pieces.append(data[last:])
    return b"".join(pieces), _Mapping(removed)


def _merge(matches: Iterable[Match]) -> list[Match]:
    ordered = sorted(matches, key=lambda m: (m.start, -(m.end - m.start)))
    out: list[Match] = []
    best_len: list[int] = []
    for m in ordered:
        if out and m.start < out[-1].end:
            cur = out[-1]
            length = m.end - m.start
            label = cur.label
            if (length > best_len[-1] and m.label != CREDENTIAL) or (label == CREDENTIAL and m.label != CREDENTIAL):
                label = m.label
                best_len[-1] = length
            out[-1] = Match(cur.start, max(cur.end, m.end), label, cur.form)
        else:
            out.append(m)
            best_len.append(m.end - m.start)
    return out


def _apply(data: bytes, matches: list[Match]) -> bytes:
    if not matches:
        return data
    pieces = []
    last = 0
    for m in matches:
        pieces.append(data[last : m.start])
        pieces.append(f"[REDACTED:{m.label}]".encode())
        last = m.end
    pieces.append(data[last:])
    return b"".join(pieces)


def _long_runs(data: bytes) -> Iterable[tuple[int, int]]:
    """(start, end) of each run of 24+ base64-alphabet characters (plus trailing '='). A run
    continues on the next line only after a wrapped line (40+ characters up to the newline, as
    ``base64`` wraps at 76): the last word of an ordinary line is not part of it."""
    marks = data.translate(_RUN_TABLE)
    size = len(data)
    pos = marks.find(_RUN_NEEDLE)
    while pos >= 0:
        start = pos
        while start > 0 and marks[start - 1] == 0x61:
            start -= 1
        seg_start = start
        width = 0  # the wrap width, once a full line has been seen: every wrapped line has it
        while True:
            end = marks.find(b" ", pos)
            if end < 0:
                end = size
            while end < size and end - start < 1 << 20 and data[end] == 0x3D:
                end += 1
            nl = end + 1 if data[end : end + 1] == b"\n" else end + 2 if data[end : end + 2] == b"\r\n" else 0
            seg = end - seg_start
            full_line = seg_start == 0 or data[seg_start - 1] == 0x0A
            wrapped = seg >= 40 and (seg == width if width else True)
            if nl and wrapped and nl < size and marks[nl] == 0x61 and end - start < 1 << 20:
                if not width and full_line:
                    width = seg
                seg_start = pos = nl
                continue
            break
        yield start, end
        pos = marks.find(_RUN_NEEDLE, end)


def _decode_hex(run: bytes) -> list[bytes]:
    run = run.rstrip(b"=")
    if len(run) % 2 or run.strip(b"0123456789abcdefABCDEF"):
        return []
    return [bytes.fromhex(run.decode("ascii"))]


def _decode_b64(run: bytes) -> list[bytes]:
    out = []
    body = run.rstrip(b"=")
    std = body.replace(b"-", b"+").replace(b"_", b"/")
    for off in range(4):
        chunk = std[off:]
        chunk = chunk[: len(chunk) - len(chunk) % 4]
        if len(chunk) < 8:
            continue
        try:
            out.append(base64.b64decode(chunk, validate=True))
        except (binascii.Error, ValueError):
            continue
    return out




def _decode_pct(run: bytes) -> list[bytes]:
    if b"%" not in run:
        return []
    return [urllib.parse.unquote_to_bytes(run)]


def _ends_short_line(data: bytes) -> bool:
    """A newline after an ordinary line (3..39 characters) ends whatever came before: only a
    wrapped line (40+, as base64 wraps at 76) or one character per line can continue a value
    on the next line. This is what lets output flow line by line."""
    if not data.endswith(b"\n"):
        return False
    body = data[:-1].rstrip(b"\r")
    start = body.rfind(b"\n") + 1
    return 3 <= len(body) - start < 40


def _incomplete_tail(data: bytes) -> int:
    """How many bytes at the end are an escape sequence or UTF-8 character cut in half."""
    esc = data.rfind(b"\x1b", max(0, len(data) - 300))
    if esc >= 0 and not _ANSI.match(data, esc):
        return len(data) - esc
    for back in (1, 2, 3):
        if len(data) < back:
            break
        b = data[-back]
        if b >= 0xC0:  # a lead byte whose continuation bytes have not all arrived
            need = 2 if b < 0xE0 else 3 if b < 0xF0 else 4
            return back if back < need else 0
        if b < 0x80:
            break
    return 0


_RUN_STRIP = _B64_CHARS + b"="


def _trailing_run_start(tail: bytes) -> int:
    """Start of a trailing base64/hex run that may continue (wrapped lines count as one run)."""
    start = len(tail.rstrip(_RUN_STRIP))
    if start == len(tail):
        return len(tail)
    while start > 0 and tail[start - 1 : start] == b"\n":
        line_end = start - 1 - (1 if tail[start - 2 : start - 1] == b"\r" else 0)
        prev_start = len(tail[:line_end].rstrip(_RUN_STRIP))
        if line_end - prev_start < 40:
            break
        start = prev_start
    return start


class RedactStream:
    """Per-stream state: ``feed`` returns what is safe to emit now; ``close`` the rest."""

    def __init__(self, redactor: Redactor) -> None:
        self._r = redactor
        self._buf = b""
        self._backspaces = False

    def _process(self, final: bool, idle: bool = False) -> bytes:
        data = self._buf
        if not data:
            return b""
        if self._r._empty:
            self._buf = b""
            return data
        pending: list[int] = []
        matches = self._r.find(data, None if final else pending)
        if final:
            self._buf = b""
            return _apply(data, matches)
        cut = len(data) - _incomplete_tail(data)
        # 2. The longest tail that is a prefix of some pattern, judged on the normalized view of
        #    the last bytes only (enough for the longest pattern, plus what normalization removes).
        window = max(4 * self._r._maxlen, 256)
        tail_start = max(0, cut - window)
        if b"\x08" in data:
            self._backspaces = True
        if not _ends_short_line(data[:cut]):
            tail = data[tail_start:cut]
            views = [(tail, False)]
            if self._backspaces:
                # A stream that uses backspaces may erase its last character with the next read.
                views += [(tail, True), (tail[:-1], True)]
            for part, erase in views:
                view, mapping = _normalize(part, erase=erase)
                hold_view = self._r._holdback(view)
                if hold_view:
                    pos = mapping.orig(len(view) - hold_view) if mapping is not None else len(view) - hold_view
                    cut = min(cut, tail_start + pos)
        # 3. A credential anchor still growing; an encoded run or PEM block still open.
        for p in pending:
            if not idle:
                cut = min(cut, p)
        cut = min(cut, self._unfinished(data, idle))
        # 4. Never split a match, nor emit one that could still grow.
        for m in matches:
            if m.start < cut < m.end or (m.end == len(data) and m.start < cut):
                cut = min(cut, m.start)
        if len(data) - cut > MAX_HOLD:
            cut = len(data) - MAX_HOLD
        out = _apply(data[:cut], [m for m in matches if m.end <= cut])
        self._buf = data[cut:]
        return out

    def _unfinished(self, data: bytes, idle: bool) -> int:
        """Hold back an encoded run or PEM block that may continue in the next read."""
        cut = len(data)
        tail = data[-MAX_HOLD:]
        base = len(data) - len(tail)
        begin = tail.rfind(b"-----BEGIN")
        if begin >= 0 and _PEM_BEGIN.match(tail, begin) and not _PEM_END.search(tail, begin):
            cut = base + begin
        elif begin >= 0 and len(tail) - begin < 64 and b"\n" not in tail[begin:]:
            cut = base + begin  # the BEGIN line itself is still arriving
        if idle:
            # After a pause the run is as long as it will get for now: let it through.
            return cut
        return min(cut, base + _trailing_run_start(tail))

    def feed(self, chunk: bytes) -> bytes:
        self._buf += chunk
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
