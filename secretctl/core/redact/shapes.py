"""The detector and candidate set ("shapes"): credential detectors and the decode candidates
in Hyperscan databases, scanned over the raw bytes of every read (redactor.py calls it).

It holds public patterns only, never a value, so it is built once per process and may be kept
on disk between runs by a ``ShapesStore`` (infra/detcache.py): the detect-secrets import and the
compile cost 0.5-1.4 s together.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Sequence

from secretctl.core import digest
from secretctl.core.redact import decode, detectors, runs
from secretctl.core.redact.engine import RegexSet

TYPE_CHECKING = False
if TYPE_CHECKING:  # for mypy only (hyperscan loads typing on `run`'s path; not every command loads hyperscan)
    from typing import Protocol

    class ShapesStore(Protocol):
        """Where the compiled detector set may be kept between runs (set by the service layer)."""

        def load(self, key: str) -> bytes | None: ...
        def save(self, key: str, blob: bytes) -> None: ...
        def versions(self, dists: Sequence[str]) -> list[str]:
            """The installed version of each distribution ("-" when it is not installed)."""
            ...


FORMAT = 6  # the kept file's layout: part of cache_key, so a change makes every kept set stale
_RUN_KIND = "run"
_FIRST_KIND = "first-run"
_ONE_CASE_KIND = "one-case-run"
_FIRST_KINDS = (_FIRST_KIND, _ONE_CASE_KIND)  # sets scanned for their first match only
_LOCK = threading.Lock()


class Shapes:
    """Detectors and decode candidates in one regex set: built once per process (no secrets in
    it, so a ``ShapesStore`` may keep it on disk: the detect-secrets import and the compile cost
    0.5-1.4 s together)."""

    _instance: Shapes | None = None
    store: ShapesStore | None = None

    def __init__(self, tiers: list[tuple[list[str], list[bytes | None], list[bytes]]],
                 serialized: list[bytes] | None = None) -> None:
        self._tiers = tiers
        # A detector's value pattern stays text until a hit needs it (_credential): compiling all of
        # them here cost every `run` ~5 ms, and most output has no credential at all.
        self.sets: list[tuple[RegexSet, list[str], list[bytes | None]]] = []
        for i, (kinds, values, exprs) in enumerate(tiers):
            self.sets.append((RegexSet(exprs, serialized[i] if serialized else None, first=kinds[0] in _FIRST_KINDS),
                              kinds, [v or None for v in values]))

    def scan(self, data: bytes) -> list[tuple[str, bytes | None, int, int]]:
        """(kind, value regex, start, end) of every hit, in every tier. Tier 1 (runs of 32+
        base64/base32 characters) costs more per byte than all the others: it scans only the runs
        (found in C), and most output has none."""
        return self.scan_detectors(data) + self.scan_runs(data)

    def scan_detectors(self, data: bytes) -> list[tuple[str, bytes | None, int, int]]:
        """The hits of tier 0: credential detectors and the candidates with a literal to anchor on."""
        rs, kinds, values = self.sets[0]
        return [(kinds[i], values[i], s, e) for i, s, e in rs.scan(data)]

    def scan_runs(self, data: bytes) -> list[tuple[str, bytes | None, int, int]]:
        """The hits of tiers 1 and 2, inside the runs of 32+ base64/base32 characters."""
        _, (runs_rs, runs_kinds, runs_values), (b32_rs, b32_kinds, b32_values), (starts, _, _), (first, _, _), \
            (upper, _, _), (lower, _, _) = self.sets
        firsts = (upper.scan, lower.scan)
        out: list[tuple[str, bytes | None, int, int]] = []
        ends = runs.run_ends(data, first.scan, starts.scan)
        one_case: set[tuple[int, int, int]] = set()  # a run of digits is of both cases: once
        for at, piece in runs.runs(data, ends):
            out += [(runs_kinds[i], runs_values[i], at + s, at + e) for i, s, e in runs_rs.scan(piece)]
            for sub, run in runs.single_case_runs(piece, firsts):
                one_case.update((i, at + sub + s, at + sub + e) for i, s, e in b32_rs.scan(run))
        out += [(b32_kinds[i], b32_values[i], s, e) for i, s, e in sorted(one_case)]
        return out

    @classmethod
    def compile(cls) -> Shapes:
        tiers: list[tuple[list[str], list[bytes | None], list[bytes]]] = [([], [], []), ([], [], []), ([], [], [])]
        for d in detectors.all_detectors():
            tiers[0][0].append("credential")
            tiers[0][1].append(d.value.encode() if d.value else None)
            tiers[0][2].append(b"(?i)" + d.expression if d.caseless else d.expression)
        for kind, expr, tier in decode.CANDIDATES:
            tiers[tier][0].append(kind)
            tiers[tier][1].append(None)
            tiers[tier][2].append(expr)
        tiers.append(([_RUN_KIND], [None], [runs.RUN_START]))
        tiers.append(([_FIRST_KIND], [None], [runs.FIRST_RUN]))
        tiers += [([_ONE_CASE_KIND], [None], [expr]) for expr in runs.ONE_CASE_RUNS]
        return cls(tiers)

    def dump(self) -> bytes:
        import json

        meta = json.dumps([{"kinds": k, "values": [v.decode("latin-1") if v else None for v in vals],
                            "exprs": [e.decode("latin-1") for e in ex]} for k, vals, ex in self._tiers]).encode()
        dbs = [rs.dump() for rs, _, _ in self.sets]
        head = b"".join(len(x).to_bytes(4, "big") for x in (meta, *dbs))
        return len(dbs).to_bytes(4, "big") + head + meta + b"".join(dbs)

    @classmethod
    def load(cls, blob: bytes) -> Shapes:
        from secretctl.core import jsonfast  # not json: its import costs every `run` ~1.5 ms

        n = int.from_bytes(blob[:4], "big")
        sizes = [int.from_bytes(blob[4 + 4 * i : 8 + 4 * i], "big") for i in range(n + 1)]
        pos = 8 + 4 * n
        parts = []
        for size in sizes:
            parts.append(blob[pos : pos + size])
            pos += size
        meta = jsonfast.loads(parts[0])
        tiers = [(t["kinds"], [v.encode("latin-1") if v else None for v in t["values"]],
                  [e.encode("latin-1") for e in t["exprs"]]) for t in meta]
        return cls(tiers, parts[1:])

    @staticmethod
    def cache_key(versions: Sequence[str]) -> str:
        """Changes with anything the compiled set depends on: ``versions`` are those of
        detect-secrets and hyperscan, found by the store (no import of detect-secrets needed)."""
        return _sha256(repr((versions, detectors.EXTENSIONS, decode.CANDIDATES, runs.RUN_START, runs.FIRST_RUN,
                             runs.ONE_CASE_RUNS, FORMAT)).encode())[:32]

    @classmethod
    def loaded(cls) -> bool:
        return cls._instance is not None

    @classmethod
    def get(cls) -> Shapes:
        with _LOCK:  # a build thread and a request may both ask first
            if cls._instance is None:
                cls._instance = cls._stored() or cls.compile()
            return cls._instance

    @classmethod
    def _stored(cls) -> Shapes | None:
        if cls.store is None:
            return None
        key = cls.cache_key(cls.store.versions(("detect-secrets", "hyperscan")))
        blob = cls.store.load(key)
        if blob is not None:
            with contextlib.suppress(Exception):  # a damaged or foreign cache file: compile instead
                return cls.load(blob)
        shapes = cls.compile()
        cls.store.save(key, shapes.dump())
        return shapes


def _sha256(data: bytes) -> str:
    """SHA-256 (hex) without loading hashlib's OpenSSL (core/digest): ~3 ms of every `run` that
    computes only this key."""
    return digest.sha256(data).hexdigest()


def use_shapes_store(store: ShapesStore) -> None:
    Shapes.store = store
