"""The compiled matcher: one Hyperscan database of byte literals, scanned in C.

Hyperscan is a compute library (no I/O), so it lives in core behind this one small class; its
import is lazy (it loads a 10 MB shared library) and happens in ``LiteralSet`` only, so a command
that prints nothing never pays for it. Compiling is the cost to watch (measured here: 30,000
literals 1.1-1.9 s, 100,000 about 4 s and 270 MB at peak), so callers build it off the request
path and keep few literals per value (see forms.py). The compiled database is kept in memory only:
a database of literal secrets is plaintext-equivalent and is never serialized to disk.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable, Sequence

TYPE_CHECKING = False
if TYPE_CHECKING:  # for mypy only: a person's silent `run` loads no typing (hyperscan's import does)
    from typing import Any

Hit = tuple[int, int, int]  # (pattern index, start, end)
PART = 16384  # literals per compiled database (see LiteralSet)


class LiteralSet:
    """Every occurrence (overlapping ones too) of a fixed set of byte strings."""

    def __init__(self, patterns: Sequence[bytes], *, caseless: bool = False, compiled: bool = True) -> None:
        """``compiled=False`` skips the compile and scans with ``bytes.find`` per pattern: for a
        few short strings (a command line), checked at once instead of after a compile."""
        self.patterns = list(patterns)
        self._lens = [len(p) for p in self.patterns]
        self._parts: list[tuple[int, Any]] = []  # (index of its first pattern, compiled database)
        self._compiled = compiled
        self._lengths: dict[int, dict[bytes, list[int]]] | None = None  # see _by_len
        if not self.patterns or not compiled:
            if caseless and not compiled:
                raise ValueError("an uncompiled literal set is case-sensitive")
            return
        # Past PART literals, several databases compiled on threads (Hyperscan compiles without
        # the GIL, and its compile time grows faster than the count: 20,000 skeleton literals of
        # a 10,000-secret vault took 0.77 s of CPU as one database, 0.60 s as two). Each database
        # is one more scan of the same data, so a set under PART stays whole.
        parts = -(-len(self.patterns) // PART)
        size = -(-len(self.patterns) // parts)
        self._parts = [(0, _compile(self.patterns, caseless))] if parts == 1 \
            else _compile_on_threads(self.patterns, size, caseless)
        # One scratch space per database: two threads (an MCP tool call while another runs) must
        # not scan with it at once.
        self._lock = threading.Lock()

    @classmethod
    def joined(cls, sets: Sequence[LiteralSet]) -> LiteralSet:
        """Compiled sets read as one, their patterns numbered one after the other (no compile)."""
        if not all(s._compiled for s in sets):
            raise ValueError("only compiled literal sets can be joined")
        made = cls(())
        made.patterns = [p for s in sets for p in s.patterns]
        made._lens = [len(p) for p in made.patterns]
        base = 0
        for s in sets:
            made._parts += [(base + first, db) for first, db in s._parts]
            base += len(s)
        made._lock = threading.Lock()
        return made

    def __len__(self) -> int:
        return len(self.patterns)

    def scan(self, data: bytes) -> list[Hit]:
        if not self._compiled:
            return self._find_each(data)
        if not self._parts or not data:
            return []
        hits: list[Hit] = []
        lens = self._lens
        add = hits.append

        def on_match(idx: int, _start: int, end: int, _flags: int, _ctx: object) -> None:
            add((idx, end - lens[idx], end))  # a literal's start is its end minus its length: no SOM needed

        with self._lock:
            if len(self._parts) == 1:
                self._parts[0][1].scan(data, match_event_handler=on_match)
            else:
                for base, db in self._parts:
                    db.scan(data, match_event_handler=lambda i, s, e, f, c, b=base: on_match(i + b, s, e, f, c))
        return hits

    def _by_len(self) -> dict[int, dict[bytes, list[int]]]:
        """Pattern length -> pattern -> its indices (made at the first uncompiled scan)."""
        made = self._lengths
        if made is None:
            made = {}
            for idx, p in enumerate(self.patterns):
                made.setdefault(len(p), {}).setdefault(p, []).append(idx)
            self._lengths = made
        return made

    def _find_each(self, data: bytes) -> list[Hit]:
        hits: list[Hit] = []
        by_len = self._by_len()  # its keys are the distinct lengths: a few, not one per pattern
        if len(data) < min(by_len, default=1):
            return hits
        if len(data) * len(by_len) < len(self.patterns):
            # Each window of the data looked up, per pattern length: a command line's argument
            # against 1,000 values' 12,000 fragment anchors and forms took 2-3 ms by a find per
            # pattern.
            for m, table in by_len.items():
                for i in range(len(data) - m + 1):
                    for idx in table.get(data[i : i + m], ()):
                        hits.append((idx, i, i + m))
            return hits
        for idx, p in enumerate(self.patterns):
            at = data.find(p)
            while at >= 0:
                hits.append((idx, at, at + len(p)))
                at = data.find(p, at + 1)
        return hits


def _compile(patterns: Sequence[bytes], caseless: bool) -> Any:
    import hyperscan  # lazy: only a scan that has patterns needs the library

    flags = hyperscan.HS_FLAG_CASELESS if caseless else 0
    db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    db.compile(expressions=list(patterns), ids=list(range(len(patterns))), elements=len(patterns),
               flags=[flags] * len(patterns), literal=True)
    return db


def _on_threads(calls: Sequence[Callable[[], Any]]) -> list[Any]:
    """Each call's result, in order, each made on its own thread (Hyperscan compiles without the
    GIL, so compiles overlap on the cores); the failure of the earliest failing call is raised."""
    results: list[Any] = [None] * len(calls)
    failed: dict[int, BaseException] = {}

    def run(i: int) -> None:
        try:
            results[i] = calls[i]()
        except BaseException as exc:
            failed[i] = exc

    threads = [threading.Thread(target=run, args=(i,), name="secretctl-compile", daemon=True)
               for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failed:
        raise failed[min(failed)]
    return results


def _compile_on_threads(patterns: Sequence[bytes], size: int, caseless: bool) -> list[tuple[int, Any]]:
    """One database per ``size`` patterns, each compiled on its own thread; (first index, db)."""
    starts = range(0, len(patterns), size)
    dbs = _on_threads([functools.partial(_compile, patterns[i:i + size], caseless) for i in starts])
    return list(zip(starts, dbs, strict=True))


def literal_pair(raw: list[bytes], skel: list[bytes], *, compiled: bool) -> tuple[LiteralSet, LiteralSet]:
    """The raw and skeleton literal sets, compiled on two threads: on two cores the two compiles
    overlap (a 10,000-secret vault's 20,000 skeleton and 10,000 raw literals). A failure in
    either is raised here (the raw set's first)."""
    if not compiled or not raw or not skel:
        return LiteralSet(raw, compiled=compiled), LiteralSet(skel, compiled=compiled)
    first, second = _on_threads([lambda: LiteralSet(raw), lambda: LiteralSet(skel)])
    return first, second


class RegexSet:
    """Regular expressions with leftmost start of match (the credential detectors, run candidates).

    Unlike a set of values, this one holds only public patterns: it may be serialized
    (``dump``/``load``) and cached on disk, which saves its compile (0.2-0.8 s) at every start."""

    def __init__(self, expressions: Sequence[bytes], serialized: bytes | None = None, *, first: bool = False) -> None:
        """``first``: each expression reports only its first match, and the scan stops once every
        one has (a test of whether, and where first, a chunk holds something: no start offsets)."""
        import hyperscan  # lazy, as above

        self.expressions = list(expressions)
        if serialized is not None:
            db = hyperscan.loadb(serialized, mode=hyperscan.HS_MODE_BLOCK)
            db.scratch = hyperscan.Scratch(db)  # a loaded database comes without one
        else:
            db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
            db.compile(expressions=self.expressions, ids=list(range(len(self.expressions))),
                       elements=len(self.expressions),
                       flags=[hyperscan.HS_FLAG_SINGLEMATCH if first else hyperscan.HS_FLAG_SOM_LEFTMOST]
                       * len(self.expressions))
        self._db = db
        self._lock = threading.Lock()

    def dump(self) -> bytes:
        import hyperscan

        return bytes(hyperscan.dumpb(self._db))

    def scan(self, data: bytes | memoryview, *, limit: int = 0) -> list[Hit]:
        """Every hit, in order of end; with ``limit``, the scan stops at that many."""
        if not data:
            return []
        import hyperscan

        hits: list[Hit] = []
        add = hits.append

        def on_match(idx: int, start: int, end: int, _flags: int, _ctx: object) -> bool:
            add((idx, start, end))
            return 0 < limit <= len(hits)  # True stops the scan

        with self._lock, contextlib.suppress(hyperscan.ScanTerminated):
            # A memoryview is scanned in place (the binding takes any buffer; its stub says AnyStr).
            self._db.scan(data, match_event_handler=on_match)  # type: ignore[type-var]
        return hits
