"""The views against a slow reference, and ordinary output that must pass through unchanged."""

from __future__ import annotations

import base64
import gzip
import json
import os
import random
import subprocess

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from secretctl.core.redact import Redactor
from secretctl.core.redact.views import rendered, skeleton, skeleton_reference, skeleton_with_escapes, unescaped
from secretctl.core.secret import Secret
from tests.core.test_redact import redact_same_all_ways
from tests.hyp import examples

SETTINGS = settings(max_examples=examples(150), deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow])

# Output as programs print it: ASCII, any Unicode, ANSI escapes, invalid bytes, control bytes.
pieces = st.one_of(
    st.text(max_size=12).map(lambda t: t.encode("utf-8", errors="surrogatepass")),
    st.binary(max_size=6),
    st.sampled_from([b"\x1b[31m", b"\x1b[0m", b"\x1b]0;t\x07", "\u200e".encode(), "\uff21".encode(), b"\x7f",
                     b"\x08", b"%41", b"&#x42;", b"\\u0043", b"\\x44", b"&amp;"]),
)
outputs = st.lists(pieces, max_size=12).map(b"".join)


@SETTINGS
@given(outputs)
def test_skeleton_fast_path_equals_the_reference(data: bytes) -> None:
    fast, ref = skeleton(data), skeleton_reference(data)
    assert fast.data == ref.data
    for i in range(len(fast.data)):
        assert fast.unit(i) == ref.unit(i)


@SETTINGS
@given(outputs)
def test_skeleton_with_escapes_equals_the_reference_without_stripping(data: bytes) -> None:
    # The view that reads escape sequences as text (what an agent reads) is the skeleton of the
    # bytes as they are: the reference with nothing stripped.
    view = skeleton_with_escapes(data)
    if b"\x1b" not in data:
        assert view is None
        return
    assert view is not None
    ref = skeleton_reference(data, strip=False)
    assert view.data == ref.data
    for i in range(len(view.data)):
        assert view.unit(i) == ref.unit(i)


@SETTINGS
@given(outputs)
def test_each_skeleton_byte_maps_to_bytes_that_produce_it(data: bytes) -> None:
    view = skeleton(data)
    for i in range(len(view.data)):
        s, e = view.unit(i)
        assert 0 <= s < e <= len(data)
        # The original unit, read alone, yields this skeleton byte (a character may yield several).
        assert view.data[i : i + 1] in skeleton_reference(data[s:e]).data or b"\x1b" in data


@SETTINGS
@given(outputs)
def test_unescaped_and_rendered_map_back_inside_the_data(data: bytes) -> None:
    for view in (unescaped(data), rendered(data)):
        if view is None:
            continue
        for i in range(len(view.data)):
            s, e = view.unit(i)
            assert 0 <= s < e <= len(data)


# ------------------------------------------------------------------------- over-redaction

KUBECTL = b"""NAME                                READY   STATUS    RESTARTS   AGE
api-7d9f8c6b5d-x2x8q                1/1     Running   0          3d4h
worker-5f6b7c8d9e-abcde             1/1     Running   2          12h
redis-master-0                      1/1     Running   0          30d
"""
AWS_TABLE = b"""-----------------------------------------------------------------------------
|                              DescribeInstances                            |
+---------------------+----------------+-----------+-----------------------+
|  i-0abcd1234ef567890|  t3.medium     |  running  |  10.0.1.23            |
|  i-0fedc9876ba543210|  m5.large      |  stopped  |  10.0.2.45            |
+---------------------+----------------+-----------+-----------------------+
"""
LOG = b"".join(b"2024-03-03T10:%02d:%02dZ INFO request_id=%06x GET /api/v1/users/%d 200 %dms\n"
               % (i // 60, i % 60, i * 7919, i, i % 97) for i in range(300))
JSON_DOC = json.dumps({"items": [{"id": i, "name": f"user-{i}", "sha": f"{i * 2654435761:040x}",
                                  "tags": ["a", "b"], "ratio": i / 7} for i in range(60)]}, indent=2).encode()
BLOB = base64.encodebytes(random.Random(5).randbytes(6000))
GZ_BLOB = base64.b64encode(gzip.compress(LOG[:2000]))
HEXDUMP = subprocess.run(["xxd"], input=LOG[:600], capture_output=True, check=True).stdout
OD = subprocess.run(["od", "-An", "-tu1"], input=LOG[:300], capture_output=True, check=True).stdout
CORPUS = {"kubectl": KUBECTL, "aws-table": AWS_TABLE, "log": LOG, "json": JSON_DOC, "base64-blob": BLOB,
          "gzip-base64": GZ_BLOB, "xxd": HEXDUMP, "od": OD}


@pytest.mark.long
def test_ordinary_outputs_pass_unchanged() -> None:
    rnd = random.Random(11)
    values = {f"k{i}": Secret(rnd.randbytes(18).hex().encode()) for i in range(200)}
    values |= {f"w{i}": Secret(base64.b64encode(rnd.randbytes(24))) for i in range(200)}
    values |= {"pin": Secret(b"7Qx2"), "word": Secret(b"hunter2-Xk9"), "url": Secret(b"postgres://app:Zq8v@db:5432/x")}
    r = Redactor.build(values)
    for name, text in CORPUS.items():
        assert redact_same_all_ways(r, text) == text, name


def test_random_base64_of_many_sizes_passes_unchanged() -> None:
    r = Redactor.build({f"k{i}": Secret(os.urandom(18).hex().encode()) for i in range(50)})
    rnd = random.Random(3)
    for size in (3, 10, 25, 60, 200, 1000, 5000):
        blob = base64.b64encode(rnd.randbytes(size)) + b"\n"
        assert r.redact(blob) == blob


def test_skeleton_map_of_a_large_read_equals_the_reference() -> None:
    # Reads are up to 1 MiB: the map back counts blocks while the skeleton is built, then steps.
    # Blocks with nothing kept, long separator runs and a read that is not a whole number of
    # blocks are all here; every 7th position is checked against the character-by-character map.
    rnd = random.Random(5)
    parts = [b" " * 40000, b"x", b"-" * 20000]  # more than a 16 KiB block with nothing kept
    for _ in range(3000):
        parts.append(rnd.choice([b"GET /api ", b"id=42, ", b"\t", b"  ", b"Zq8v", b"== ", b"a" * rnd.randint(1, 90)]))
    data = b"".join(parts)
    fast, ref = skeleton(data), skeleton_reference(data)
    assert len(data) > 5 * 16384 and fast.data == ref.data
    for i in range(0, len(fast.data), 7):
        assert fast.unit(i) == ref.unit(i)
    assert fast.unit(len(fast.data) - 1) == ref.unit(len(ref.data) - 1)



def test_skeleton_of_a_large_read_with_a_little_unicode_equals_the_reference() -> None:
    # A read of ASCII with a few non-ASCII characters (git log, logs with a check mark) is folded
    # stretch by stretch: only the non-ASCII stretches through NFKD. Stretches cut by a 16 KiB
    # block boundary, at the start and end, next to each other with one ASCII byte or a NUL
    # between, text mostly not ASCII, combining marks, compatibility forms, format characters,
    # invalid and truncated UTF-8: the same skeleton and map as the character-by-character
    # reference and as folding it whole.
    from secretctl.core.redact import views

    rnd = random.Random(17)
    odd = ["\u2192", "e\u0301", "\u0316\u0301", "\uff21\uff42", "\ufb01", "\u200b", "\u00df", "\u2460", "\U0001d400",
           "\u0130", "\u4e2d\u6587", "\u00e9"]
    for trial in range(8):
        head = rnd.choice((b"", "\u00e9".encode()))
        parts: list[bytes] = [head]
        size = len(head)
        while size < 70000:
            k = rnd.random()
            if k < 0.02:
                piece = rnd.choice(odd).encode() + rnd.choice((b"", b"\x80", b"\xe2\x86", b"\xff"))
            elif k < 0.025:  # mostly not ASCII: stretches close together are folded as one, not across a NUL
                piece = b"".join(rnd.choice(("\u4e2d\u6587 ", "\uff21 ", "a\u0301", "\u00e9\x00", "x" * 40)).encode()
                                 for _ in range(rnd.randint(1, 60)))
            elif k < 0.03:  # a full-width letter cut by the next block boundary (it folds to "a")
                piece = b"-" * (16384 - size % 16384 - rnd.choice((1, 2))) + "\uff21x".encode()
            else:
                piece = rnd.choice((b"GET /api ", b"id=42, ", b"\t", b"Zq8v", b"== ", b"A" * rnd.randint(1, 40), b"\n"))
            parts.append(piece)
            size += len(piece)
        data = b"".join(parts) + rnd.choice((b"", "\u2192".encode(), b"\xe2"))
        fast, ref = skeleton(data), skeleton_reference(data)
        assert isinstance(fast, views._Joined), trial  # the stretch-by-stretch path, not the whole one
        assert fast.data == ref.data == views._folded(data)
        for i in range(0, len(fast.data), 13):
            assert fast.unit(i) == ref.unit(i), i
        assert fast.unit(len(fast.data) - 1) == ref.unit(len(ref.data) - 1)



def test_skeleton_map_of_a_large_colored_read_is_built_without_the_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    # Colored output (a sequence or two per line): the map back goes through the removal of the
    # sequences, found as far as a position asks, into the fast skeleton of what is left. It is
    # the reference's map, and it never walks the whole read character by character (that cost
    # ~250 ms per 256 KiB read with a match: colored log text with a secret ran at 1.6 MB/s).
    from secretctl.core.redact import views

    rnd = random.Random(19)
    lines = []
    for i in range(2500):
        words = [rnd.choice((b"GET", b"/api/v1", b"id=42,", b"Zq8v", b"==", b"ok")) for _ in range(rnd.randint(1, 8))]
        head = rnd.choice((b"\x1b[32mINFO\x1b[0m ", b"\x1b[1;31mERR\x1b[m ", b"\x1b]0;title\x07", b"\x1b\x1b[2K",
                           b"\x1b "))
        tail = "\u2713 \uff21".encode() if i % 97 == 0 else b""
        lines.append(head + b" ".join(words) + tail)
    data = b"\n".join(lines)
    ref = skeleton_reference(data)
    whole = views.skeleton_reference

    def short_only(part: bytes, **kw: bool) -> views.View:
        assert len(part) < 4096, "the map walked the whole read"
        return whole(part, **kw)

    monkeypatch.setattr(views, "skeleton_reference", short_only)
    fast = skeleton(data)
    assert len(data) > 4 * 16384 and fast.data == ref.data
    for i in range(len(fast.data) - 1, 0, -11):  # from the end: every sequence is found on the way
        assert fast.unit(i) == ref.unit(i), i
    assert fast.unit(0) == ref.unit(0)



ESCAPED_LEAK = b"hunter2-Zq8vR4mW9xT3kP7s"


@pytest.mark.parametrize("data", [
    "\u216b".encode() + b"\x1b\x1b[0mA" * 8 + "\u00b7".encode().join(bytes([c]) for c in ESCAPED_LEAK),
    b"\xe2\x85\xab\x1b\x1b[0mK\xef\xac\x83",  # the smallest case a fuzzer found
    "\u216b\x1b\x1b[31mQ\u2713".encode() + ESCAPED_LEAK.upper(),
])
def test_a_lone_escape_left_by_removing_a_sequence_keeps_the_map_in_place(data: bytes) -> None:
    # Removing `ESC [0m` from `ESC ESC [0m A` leaves `ESC A`: the fast skeleton keeps the A, and the
    # map back through a non-ASCII stretch removed sequences a second time, read `ESC A` as one and
    # dropped the A, so every such group moved the redaction one character later: the whole value
    # came out (review finding; redacted before 9b56089).
    fast, ref = skeleton(data), skeleton_reference(data)
    assert fast.data == ref.data
    assert [fast.unit(i) for i in range(len(fast.data))] == [ref.unit(i) for i in range(len(ref.data))]


def test_a_value_behind_lone_escapes_and_unicode_is_redacted_however_it_is_split() -> None:
    r = Redactor.build({"db": Secret(ESCAPED_LEAK)})
    data = ("\u216b".encode() + b"\x1b\x1b[0mA" * 8 + "\u00b7".encode().join(bytes([c]) for c in ESCAPED_LEAK)
            + b"\n")
    out = redact_same_all_ways(r, data)
    assert b"[REDACTED:db]" in out
    assert bytes(c for c in out if chr(c).isalnum()).lower().find(b"zq8vr4mw") < 0  # no 8 characters of it


def test_escapes_found_where_one_can_start_are_those_finditer_finds() -> None:
    # The unescaped view tries the escape pattern only at %, & and backslash; a read dense with
    # them is walked by finditer. Escapes next to each other, inside each other's reach, cut short
    # and at the ends: the same matches either way.
    from secretctl.core.redact import views

    rnd = random.Random(23)
    bits = [b"%41", b"%4", b"%%41", b"&amp;", b"&amp", b"&#x41;", b"&#65;", b"&#;", b"\\x41", b"\\u0041",
            b"\\U00000041", b"\\101", b"\\\\x41", b"&lt;&gt;", b"%", b"&", b"\\"]
    for _ in range(400):
        filler = rnd.choice((0, 3, 40, 400))
        data = b"".join(rnd.choice(bits) + bytes(rnd.choice(b"ab 1=") for _ in range(rnd.randint(0, filler)))
                        for _ in range(rnd.randint(0, 30)))
        got = [m.span() for m in views._escapes(data)]
        assert got == [m.span() for m in views._UNESCAPE().finditer(data)], data


def test_run_patterns_scanned_over_runs_find_what_a_whole_scan_finds() -> None:
    # Base64/base32 run patterns are scanned only over the runs (found by their own small
    # database, which stops after a few): the hits must be those of scanning everything.
    from secretctl.core.redact.shapes import Shapes

    shapes = Shapes.compile()
    run_sets = [shapes.sets[1][:2], shapes.sets[2][:2]]  # base64 over runs, base32 over one-case runs
    rnd = random.Random(7)
    for _ in range(300):
        parts = []
        for _ in range(rnd.randint(0, 60)):
            k = rnd.random()
            if k < 0.3:
                parts.append(base64.b64encode(rnd.randbytes(rnd.randint(1, 80))))
            elif k < 0.4:
                parts.append(base64.b32encode(rnd.randbytes(rnd.randint(1, 60))).lower())
            elif k < 0.5:
                parts.append(base64.b64encode(b"hello world this is text " * rnd.randint(1, 4)))
            elif k < 0.6:  # base32 of text, each alphabet and case; hex digests (many one-case runs)
                enc = rnd.choice((base64.b32encode, base64.b32hexencode))(b"some text here, " * rnd.randint(1, 4))
                parts.append(rnd.choice((enc, enc.lower(), rnd.randbytes(32).hex().encode())))
            else:
                parts.append(bytes(rnd.choice(b" \n,.:=-_/+aZ09\x00\xff") for _ in range(rnd.randint(1, 5))))
        data = b"".join(parts)
        whole = sorted((kinds[i], s, e) for rs, kinds in run_sets for i, s, e in rs.scan(data))
        tier0 = {(k, s, e) for k, _, s, e in ((shapes.sets[0][1][i], None, s, e) for i, s, e in
                                                shapes.sets[0][0].scan(data))}
        got = sorted(h for h in ((k, s, e) for k, _, s, e in shapes.scan(data)) if h not in tier0)
        assert got == whole


def test_run_ends_found_from_the_first_run_are_those_of_a_whole_scan() -> None:
    # The first runs are found by a scan that stops at its first match, started again past each
    # run; the rest by RUN_START from there: the same ends, in order, as RUN_START over all of it.
    from secretctl.core.redact import runs
    from secretctl.core.redact.shapes import Shapes

    shapes = Shapes.compile()
    starts, first = shapes.sets[3][0], shapes.sets[4][0]
    rnd = random.Random(11)
    for _ in range(400):
        parts = [bytes(rnd.choice(b"aZ09+/_-") for _ in range(rnd.choice((0, 1, 31, 32, 33, 64, 200))))
                 if rnd.random() < 0.5 else bytes(rnd.choice(b" \n=.:\x00\xff") for _ in range(rnd.randint(1, 3)))
                 for _ in range(rnd.randint(0, 40))]
        data = b"".join(parts)
        whole = [e for _, _, e in starts.scan(data)][: runs.RUN_WINDOWS + 1]
        assert runs.run_ends(data, first.scan, starts.scan) == whole, data



@pytest.mark.long
def test_run_ends_of_runs_far_apart_are_those_of_a_whole_scan() -> None:
    # Runs far apart (log text: a token every few KiB) are all found by the scan that stops at
    # its first match, past the first three too; once two come close together RUN_START takes
    # over. Gaps on both sides of the switch, up to past RUN_WINDOWS runs: the same ends as a
    # scan of all of it.
    from secretctl.core.redact import runs
    from secretctl.core.redact.shapes import Shapes

    shapes = Shapes.compile()
    starts, first = shapes.sets[3][0], shapes.sets[4][0]
    rnd = random.Random(12)
    near, far = (1, 30, runs._SPARSE - 40, runs._SPARSE - 1), (runs._SPARSE, runs._SPARSE + 1, 3 * runs._SPARSE)
    # Random bytes over each alphabet, made by translating random bytes (a byte at a time with
    # rnd.choice, 7.7 million calls, was nearly all of this test's 2.2 s).
    gap_bytes, run_bytes = (bytes(alphabet[i % len(alphabet)] for i in range(256))
                            for alphabet in (b" \n=.:aZ09", b"aZ09+/_-"))
    # The boundaries first, by construction: more than RUN_WINDOWS + 1 runs, all far apart or all
    # but the first few near, each with gaps of every length on both sides of the switch.
    for count in (runs.RUN_WINDOWS, runs.RUN_WINDOWS + 1, runs.RUN_WINDOWS + 2, runs.RUN_WINDOWS + 4):
        for gap in (*near, *far):
            data = b"".join(b"=" * gap + b"aZ09" * 10 for _ in range(count)) + b" "
            whole = [e for _, _, e in starts.scan(data)][: runs.RUN_WINDOWS + 1]
            assert runs.run_ends(data, first.scan, starts.scan) == whole, (count, gap)
    for _ in range(300):
        parts = []
        p_far = rnd.choice((0.5, 0.95, 1.0))  # all far apart: past RUN_WINDOWS runs without RUN_START
        for _ in range(rnd.randint(0, runs.RUN_WINDOWS + 4)):
            gap = bytearray(rnd.randbytes(rnd.choice(far if rnd.random() < p_far else near)).translate(gap_bytes))
            gap[::7] = b" " * len(gap[::7])  # a space every 7th byte, as in text
            parts.append(bytes(gap))
            parts.append(rnd.randbytes(rnd.choice((31, 32, 33, 80))).translate(run_bytes))
        data = b"".join(parts) + b" "
        whole = [e for _, _, e in starts.scan(data)][: runs.RUN_WINDOWS + 1]
        assert runs.run_ends(data, first.scan, starts.scan) == whole, data


def test_reversed_forms_are_found_with_small_and_big_skeleton_sets() -> None:
    # A small skeleton set holds each literal backwards too (one scan); a big one scans the
    # skeleton reversed. Both, and the two joined, find a value written backwards with
    # separators, and name the form "reversed".
    rnd = random.Random(13)
    values = [rnd.randbytes(12).hex().encode() for _ in range(301)]
    small = Redactor.build({"a": Secret(values[0])}, fragments=False)
    big = Redactor.build({f"k{i}": Secret(v) for i, v in enumerate(values[1:], 1)}, fragments=False)
    assert not small._reversed_scan and big._reversed_scan
    both = Redactor.joined([small, big])
    for r, v in ((small, values[0]), (big, values[7]), (both, values[0]), (both, values[7])):
        data = b"x: " + b"-".join(bytes([c]) for c in v[::-1].upper()) + b" done\n"
        found = r.find(data)
        assert [m.form for m in found] == ["reversed"], found
        assert r.redact(data).startswith(b"x: [REDACTED:") and r.redact(data).endswith(b" done\n")


def test_a_skeleton_span_is_found_from_its_start_as_each_end_alone() -> None:
    # span() finds a match's end by counting on from its start; unit() of each end alone is the
    # reference (both checked against the character-by-character map above).
    rnd = random.Random(4)
    for _ in range(150):
        parts = [rnd.choice([b"GET /a ", b"id=42, ", b"\t", b"Zq8v", b"== ", b"a" * rnd.randint(1, 90),
                             b" " * rnd.randint(0, 3000)]) for _ in range(rnd.randint(1, 400))]
        view = skeleton(b"".join(parts))
        for _ in range(20 if view.data else 0):
            s = rnd.randrange(len(view.data))
            e = rnd.randint(s + 1, min(len(view.data), s + rnd.choice([1, 8, 40, 300, 5000])))
            assert view.span(s, e) == (view.unit(s)[0], view.unit(e - 1)[1]), (s, e)


def _one_case_reference(piece: bytes, limit: int) -> list[tuple[int, bytes]] | None:
    """Runs of 32+ of [0-9A-Z], then of [0-9a-z], by marking and finding (the implementation the
    compiled first-match scans replaced); None past ``limit`` of them."""
    out: list[tuple[int, bytes]] = []
    for chars in (b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", b"0123456789abcdefghijklmnopqrstuvwxyz"):
        marks = bytes(0x61 if c in chars else 0x20 for c in piece)
        at = marks.find(b"a" * 32)
        while at >= 0:
            if len(out) == limit:
                return None
            end = marks.find(b" ", at + 32)
            end = len(piece) if end < 0 else end
            out.append((at, piece[at:end]))
            at = marks.find(b"a" * 32, end)
    return out


def test_one_case_runs_found_by_first_match_scans_equal_the_marking_reference() -> None:
    from secretctl.core.redact import runs
    from secretctl.core.redact.shapes import Shapes

    shapes = Shapes.compile()
    firsts = (shapes.sets[5][0].scan, shapes.sets[6][0].scan)
    rnd = random.Random(17)
    found = 0
    for _ in range(400):
        # Pieces of one case (runs of either kind, of digits alone: both), of mixed case, separators.
        parts = []
        for _ in range(rnd.randint(0, 50)):
            chars = rnd.choice((b"AZ09", b"az09", b"09", b"AZ09az")) if rnd.random() < 0.6 else b" \n=.+/\x00\xff"
            parts.append(bytes(rnd.choice(chars) for _ in range(rnd.choice((1, 2, 31, 32, 33, 40, 70)))))
        data = b"".join(parts)
        ref = _one_case_reference(data, runs.RUN_WINDOWS)
        found += len(ref or ())
        assert runs._one_case(data, firsts) == ref, data
        assert runs._one_case_marked(data) == ref, data
        big = b"." * 4100 + data  # past the size a piece is still marked and searched at: scanned
        assert runs._one_case(big, firsts) == _one_case_reference(big, runs.RUN_WINDOWS), data
        assert runs.single_case_runs(data, firsts) == ([(0, data)] if ref is None else ref)
    assert found > 1000  # the mixes hold runs of both kinds
