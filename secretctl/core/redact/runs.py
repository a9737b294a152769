"""Where the run patterns can lie: a run pattern (base64 of text, base32) is made of base64/base32
characters, so it lies inside one run of them; scanning just the runs finds what scanning
everything would, and ordinary output has few runs (the compiled set that finds them is in
shapes.Shapes)."""

from __future__ import annotations

import re
from collections.abc import Callable

RUN_CLASS = rb"[A-Za-z0-9+/_-]"
RUN_MIN = 32
# One report per run of 32+ base64/base32 characters (at its 32nd character): where a tier-1
# pattern can begin. Found in C; the translate-and-find it replaced cost 4 ms per MiB of logs.
RUN_START = rb"(?:^|[^A-Za-z0-9+/_-])" + RUN_CLASS + b"{%d}" % RUN_MIN
# Where the first run of 32 ends, if there is one (reported once: the scan stops there). It costs
# a quarter of RUN_START, which then scans only from the first run on: log text often has none
# (RUN_START over all of it cost ~1.7 ms/MB, most of it on text with no run at all).
FIRST_RUN = RUN_CLASS + b"{%d}" % RUN_MIN
_RUN_REST = re.compile(RUN_CLASS + b"*")
RUN_WINDOWS = 16


Scan = Callable[..., list[tuple[int, int, int]]]
_FIRST_RUNS = 3
# Past the first 3 runs, ``first`` goes on finding them while they are this far apart (log text:
# a token every few KiB or none); runs closer together than that (random base64: one per line)
# go to ``starts``. ``first`` costs ~0.2 ms/MB of log text and a call per run, ``starts`` ~1.7 ms/MB:
# the two cost the same over about 2 KiB, so a run farther away than that is cheaper found by a call.
_SPARSE = 2048


def run_ends(data: bytes, first: Scan, starts: Scan) -> list[int]:
    """Where the 32nd character of each run is (up to ``RUN_WINDOWS + 1`` runs): ``first`` scans
    for ``FIRST_RUN`` (its first match only), ``starts`` for ``RUN_START``. The first runs are
    found by ``first`` from the end of the one before (it stops at the first, and log text has
    few runs or none: ``RUN_START`` over all of it cost four to eight times as much), as long as
    they are far apart; past them ``starts`` takes over from there (random base64 has a run per
    line)."""
    view = memoryview(data)
    ends: list[int] = []
    pos = 0
    while len(ends) <= RUN_WINDOWS:
        found = _next_run(first, _RUN_REST, data, view, pos)
        if found is None:
            return ends
        at, after = found
        ends.append(at)
        near = at - RUN_MIN - pos < _SPARSE
        pos = after
        if near and len(ends) >= _FIRST_RUNS:
            break
    if len(ends) > RUN_WINDOWS:
        return ends
    # ``pos`` is past a run, on a byte outside the class (or the end): RUN_START reports every
    # run after it as a scan of all of ``data`` would.
    return ends + [pos + e for _, _, e in starts(view[pos:], limit=RUN_WINDOWS + 1 - len(ends))]


def runs(data: bytes, ends: list[int]) -> list[tuple[int, bytes]]:
    """The runs of 32+ base64/base32 characters (``ends``: where each one's 32nd character
    ends), each cut at its boundaries: a tier-1 pattern lies inside one run, so scanning the
    runs finds what scanning everything would. Log lines have a few runs or none; past
    ``RUN_WINDOWS`` runs (random base64, one per line) the rest is scanned whole."""
    out: list[tuple[int, bytes]] = []
    for k, at in enumerate(ends):
        start = at - RUN_MIN
        if k == RUN_WINDOWS:
            out.append((start, data[start:]))
            break
        m = _RUN_REST.match(data, at)
        end = at if m is None else m.end()
        out.append((start, data[start:end]))
    return out


# A base32 candidate (tier 2) is 32 characters of one case of one base32 alphabet: it lies inside
# a run of 32+ of [0-9A-Z] or of [0-9a-z]. Each kind of run is found by a compiled scan that stops
# at its first match (``ONE_CASE_RUNS``, in shapes.Shapes), restarted past each run: the
# bytes.translate-and-find it replaced cost 2.2 ms/MB of random base64 (two passes, and a find
# of 32 marks in a row among short runs of them), the scans 0.9.
# A short piece (a run, a 4 KiB probe) is still marked and searched: two scans cost more in calls
# than two translations of a few hundred bytes.
ONE_CASE_RUNS = (rb"[0-9A-Z]{%d}" % RUN_MIN, rb"[0-9a-z]{%d}" % RUN_MIN)
_ONE_CASE_REST = (re.compile(rb"[0-9A-Z]*"), re.compile(rb"[0-9a-z]*"))
_ONE_CASE = tuple(bytes(0x61 if chr(c) in chars else 0x20 for c in range(256))
                  for chars in ("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", "0123456789abcdefghijklmnopqrstuvwxyz"))
_ONE_CASE_RUN = b"a" * RUN_MIN
_SCAN_MIN = 4096


_PROBE = 4096


def single_case_runs(piece: bytes, firsts: tuple[Scan, Scan]) -> list[tuple[int, bytes]]:
    """The runs of 32+ characters of one case in ``piece`` (offset, run); past ``RUN_WINDOWS``
    of them (hex digests, one per line) all of ``piece``, as before. ``firsts`` scan for each of
    ``ONE_CASE_RUNS`` (their first match only). A long piece is probed at its start first: past
    ``RUN_WINDOWS`` runs there, there are as many in all of it."""
    if len(piece) > 4 * _PROBE and _one_case(piece[:_PROBE], firsts) is None:
        return [(0, piece)]
    found = _one_case(piece, firsts)
    return [(0, piece)] if found is None else found


def _next_run(first: Scan, rest: re.Pattern[bytes], data: bytes, view: memoryview, pos: int) -> tuple[int, int] | None:
    """The next run from ``pos`` (0, or just past a run: no run starts before it): (where its first
    32 in a row end, found by ``first``, which stops there; where the run ends, by ``rest``), or None."""
    found = first(view[pos:])
    if not found:
        return None
    end = pos + found[0][2]
    m = rest.match(data, end)
    return end, end if m is None else m.end()


def _one_case(piece: bytes, firsts: tuple[Scan, Scan]) -> list[tuple[int, bytes]] | None:
    """The runs (the upper-case kind's, then the lower-case kind's), or None past ``RUN_WINDOWS``."""
    if len(piece) <= _SCAN_MIN:
        return _one_case_marked(piece)
    out: list[tuple[int, bytes]] = []
    view = memoryview(piece)
    for first, rest in zip(firsts, _ONE_CASE_REST, strict=True):
        pos = 0  # 0, or just past a run: on a byte outside the class, so no run starts before it
        while True:
            found = _next_run(first, rest, piece, view, pos)
            if found is None:
                break
            if len(out) == RUN_WINDOWS:
                return None
            end, pos = found
            at = end - RUN_MIN
            out.append((at, piece[at:pos]))
    return out


def _one_case_marked(piece: bytes) -> list[tuple[int, bytes]] | None:
    """``_one_case`` by marking each kind's characters (bytes.translate) and finding 32 marks."""
    out: list[tuple[int, bytes]] = []
    for table in _ONE_CASE:
        marks = piece.translate(table)
        at = marks.find(_ONE_CASE_RUN)
        while at >= 0:
            if len(out) == RUN_WINDOWS:
                return None
            end = marks.find(b" ", at + RUN_MIN)
            end = len(piece) if end < 0 else end
            out.append((at, piece[at:end]))
            at = marks.find(_ONE_CASE_RUN, end)
    return out
