"""The redactor: finds every trace of known values (and of credentials) in a buffer.

One ``find`` runs the compiled literal sets over each view of the buffer (raw bytes; skeleton and
reversed skeleton; rendered and unescaped skeletons when backspaces or escapes are present), the
detector/candidate set over the raw bytes, and decodes the candidate regions (decode.py). Matches
are mapped back to the real bytes and merged. ``stream.py`` turns this into a stream.
"""

from __future__ import annotations

import bisect
import contextlib
import functools
import re
import threading
from collections.abc import Iterable, Mapping, Sequence

from secretctl.core.redact import decode, detectors, views
from secretctl.core.redact.engine import LiteralSet, literal_pair
from secretctl.core.redact.forms import MIN_REDACTABLE, ValueForms, forms_of
from secretctl.core.redact.fragments import Fragments, skeleton_anchors
from secretctl.core.redact.matches import Match, apply
from secretctl.core.secret import Secret
from secretctl.errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:  # for mypy only (hyperscan loads typing on `run`'s path; not every command loads hyperscan)
    from typing import TypeVar

    from secretctl.core.redact.shapes import Shapes
    from secretctl.core.redact.stream import RedactStream

    _R = TypeVar("_R", bound="Redactor")
CREDENTIAL = detectors.CREDENTIAL
DECODE_DEPTH = 2
PUBLIC_MIN = 3  # a non-sensitive value shorter than this is not protected from fragments


def _shapes() -> Shapes:
    """The detector set, imported here: a command line's check (``detect=False``) never needs it,
    and shapes' imports (digest, runs) cost a silent `run` ~0.8 ms."""
    from secretctl.core.redact.shapes import Shapes

    return Shapes.get()


def load_detectors_meanwhile() -> None:
    """Start loading the detector set on a thread, if this process has not: with a cold cache it
    is compiled (detect-secrets' import, then ~0.2 s of Hyperscan without the GIL), which then
    overlaps the values' decryption and compile instead of following them. ``Shapes.get`` waits
    for it under its lock; a failure here is left for that call to raise again."""
    from secretctl.core.redact.shapes import Shapes

    if Shapes.loaded():
        return
    threading.Thread(target=_load_quietly, name="secretctl-detectors", daemon=True).start()


def _load_quietly() -> None:
    with contextlib.suppress(Exception):  # the redactor's own Shapes.get() raises it again
        _shapes()


def _clone(obj: _R) -> _R:
    """A shallow copy (copy.copy's, for these plain objects): the copy module cost every `run` ~0.6 ms."""
    made = object.__new__(type(obj))
    made.__dict__.update(obj.__dict__)
    return made


def check_redactable(label: str, value: Secret) -> None:
    """Refuse values too short to redact without destroying ordinary output."""
    raw = value.reveal()
    if len(raw.translate(None, b"\r\n\x08")) < MIN_REDACTABLE:
        raise UsageError(
            f"secret too short to redact safely: {label} ({len(value)} characters)",
            hint="values under 4 characters would be found everywhere in output; pass --allow-short to inject "
            "it anyway (its output is then not reliably redacted)",
        )


class _Prefixes:
    """Which suffix of a buffer could still grow into one of the patterns."""

    def __init__(self, patterns: Iterable[bytes]) -> None:
        self._sorted = sorted(set(patterns))
        self.maxlen = max((len(p) for p in self._sorted), default=0)
        self._heads: list[set[bytes]] = [set(), *({p[:n] for p in self._sorted} for n in range(1, 5))]

    def longest_suffix(self, view: bytes, least: int = 1) -> int:
        """The longest suffix of ``view`` that is a prefix of a pattern (0 if none is ``least`` long)."""
        if not self._sorted:
            return 0
        tail = view[len(view) - min(len(view), self.maxlen - 1):]
        srt, heads = self._sorted, self._heads
        for s in range(len(tail) - least + 1):  # ascending: the first that fits is the longest suffix
            rest = tail[s:]
            head = rest[:4]
            if head not in heads[len(head)]:
                continue
            i = bisect.bisect_left(srt, rest)
            if i < len(srt) and srt[i].startswith(rest):
                return len(rest)
        return 0


# After a pause, a tail is held as the start of a skeleton fragment only from this many skeleton
# characters: one or two letters end most words (a prompt, a line without its newline) and
# start some window of a value's skeleton, forwards or backwards. What it gives up, a fragment cut
# by a pause after its first 1-3 characters, an agent gets as easily from two calls.
IDLE_SKEL_WINDOW = 4
# A read at least this long has its detector scans run on the scan thread (worker.py); below it
# the hand-over (two thread switches) costs more than the overlap saves.
PARALLEL_MIN = 16 * 1024
# Up to this many skeleton literals, the set also holds each one backwards (see Redactor):
# 1,000 values' 5,000 took 0.19 s more to compile that way, the price of 300 MB of log text.
MERGE_REVERSED_MAX = 1024


def _merge(matches: Iterable[Match]) -> list[Match]:
    """Overlapping matches become one; the longest names it, a secret beats a generic credential."""
    ordered = sorted(matches, key=lambda m: (m.start, -(m.end - m.start)))
    out: list[Match] = []
    best: list[int] = []
    for m in ordered:
        if out and m.start < out[-1].end:
            cur = out[-1]
            label, form, view = cur.label, cur.form, cur.view
            length = m.end - m.start
            # The longest names it; at equal length a value's own form beats a fragment of another.
            longer = length > best[-1] or (length == best[-1] and form == "fragment" and m.form != "fragment")
            if (longer and m.label != CREDENTIAL) or (label == CREDENTIAL and m.label != CREDENTIAL):
                label, form, view = m.label, m.form, m.view
                best[-1] = length
            out[-1] = Match(cur.start, max(cur.end, m.end), label, form, view)
        else:
            out.append(m)
            best.append(m.end - m.start)
    return out


class _Index:
    """The literals of one kind (raw or skeleton) and what each names. A plain class, not a
    dataclass: importing dataclasses costs `run`'s start-up ~8 ms."""

    def __init__(self, *, fragment_min: int = 8, public: tuple[bytes, ...] = ()) -> None:
        self.patterns: list[bytes] = []
        self.meta: list[tuple[str, str]] = []
        # Fragment anchors follow the plain patterns: for each, its owners (value number, offset).
        self.anchors: list[bytes] = []
        self.owners: list[list[tuple[int, int]]] = []
        self.values: list[tuple[str, bytes]] = []  # (label, value) by number
        self.windows: list[bytes] = []
        # The skeleton index's anchors are windows of a value's skeleton: ``skeletons`` by value
        # number (the raw index's), owners (value number, offset) as above.
        self.skeletons: list[bytes] = []
        self.fragment_min = fragment_min
        self.public = public


class Finder:
    """What every redactor offers on top of its own ``find`` and ``holdback`` (a ``Redactor``, or
    several read as one: ``Layered``); a stream reads any of them."""

    empty: bool
    maxlen: int

    def find(self, data: bytes, *, depth: int = 0, pending: list[int] | None = None) -> list[Match]:
        raise NotImplementedError

    def holdback(self, tail: bytes, *, idle: bool = False) -> int:
        raise NotImplementedError

    def redact(self, data: bytes) -> bytes:
        return apply(data, self.find(data))

    def contains(self, data: bytes) -> list[str]:
        """Labels of secrets (not generic credentials) whose forms appear in ``data``."""
        return sorted({m.label for m in self.find(data) if m.label != CREDENTIAL})

    def stream(self, *, named: Iterable[str] | None = None) -> RedactStream:
        from secretctl.core.redact.stream import RedactStream

        return RedactStream(self, named=None if named is None else frozenset(named))


class Redactor(Finder):
    """Built once for a set of values; ``stream()`` gives independent per-stream state."""

    def __init__(self, raw: _Index, skel: _Index, *, credentials: bool, shapes: bool = True,
                 compiled: bool = True) -> None:
        self._raw_meta, self._skel_meta = raw.meta, skel.meta
        self._n_plain = len(raw.patterns)
        skel_literals = skel.patterns
        # Which skeleton literals are a value's skeleton written backwards (1) rather than forwards.
        self._skel_back = bytes(len(skel.patterns))
        # A small set also holds each literal backwards, so one scan of the skeleton finds reversed
        # forms too: the scan of the skeleton reversed (a copy, then a second pass) cost ~0.6 ms/MB
        # of log text. A big set stays apart: doubling its compile costs more than it saves.
        self._reversed_scan = len(skel.patterns) > MERGE_REVERSED_MAX
        if skel.patterns and not self._reversed_scan:
            skel_literals = skel.patterns + [p[::-1] for p in skel.patterns]
            self._skel_meta = skel.meta + [(label, "reversed") for label, _ in skel.meta]
            self._skel_back += b"\x01" * len(skel.patterns)
        self._skel_plain = len(skel_literals)
        # Skeleton anchors follow: owners (value number, offset in its skeleton, backwards); a
        # merged set holds each anchor backwards too (offset in the reversed skeleton).
        anchors, skel_owners = skeleton_anchors(skel.anchors, skel.owners, skel.skeletons,
                                                merged=not self._reversed_scan)
        self._frag = Fragments(raw.values, raw_owners=raw.owners, skeletons=skel.skeletons, skel_owners=skel_owners,
                               fragment_min=raw.fragment_min, public=raw.public)
        detect = shapes and bool(credentials or raw.patterns or skel.patterns)
        if detect and compiled:
            load_detectors_meanwhile()  # its compile (cold cache) and this one's overlap on the cores
        self._raw, self._skel = literal_pair(raw.patterns + raw.anchors, skel_literals + anchors, compiled=compiled)
        self._shapes = _shapes() if detect else None
        self._credentials = credentials
        self._prefix_sources = (raw.patterns + raw.windows, skel.patterns, skel.windows)
        self.maxlen = max((max(map(len, group), default=0) for group in self._prefix_sources), default=0)
        self.compiled = compiled
        self.has_fragments = bool(raw.anchors or skel.anchors)
        self.lean = False  # set by build: some forms left out (see run.run_agent)
        self.labels: frozenset[str] = frozenset()  # set by build: the labels of the values it was given
        self.empty = not len(self._raw) and not skel.patterns and not credentials

    @staticmethod
    def forms_key(value: bytes, fragment_min: int, fragment_value_min: int, *, lean: bool) -> tuple[bytes, int, int]:
        """Where ``build`` caches a value's forms in ``forms_cache``: lean forms (no fragments,
        no base64) apart from full ones, -1 standing for "lean"."""
        return value, fragment_min, -1 if lean else fragment_value_min

    @classmethod
    def build(cls, secrets: Mapping[str, Secret], *, fragment_min: int = 8, fragment_value_min: int = 16,
              credentials: bool = True, public: Sequence[bytes] = (), fragments: bool = True,
              lean: bool = False, detect: bool = True, compiled: bool = True,
              forms_cache: dict[tuple[bytes, int, int], ValueForms] | None = None) -> Redactor:
        """``public``: non-sensitive values (a host name, a port) the output may show: a fragment
        made mostly of them is not a trace of a secret. ``forms_cache`` (value -> forms) lets a
        rebuild skip the values it has seen. ``fragments=False`` leaves fragments out; ``lean``
        keeps 2 literals per value (skeleton and hex: no base64 cores); ``detect=False`` leaves the
        credential detectors and decode candidates out (a layer under one that has them: see
        ``Layered``); ``compiled=False`` skips the compile: for checking a few short strings (a
        command line) at once, not for output."""
        best: dict[tuple[int, bytes], tuple[str, str, tuple[int, int]]] = {}
        pub = tuple(p for p in public if len(p) >= PUBLIC_MIN)
        raw, skel = _Index(fragment_min=fragment_min, public=pub), _Index()
        anchor_at: dict[bytes, int] = {}
        skel_at: dict[bytes, int] = {}
        windows: set[bytes] = set()
        skel_windows: set[bytes] = set()
        for label, secret in secrets.items():
            value = secret.reveal()
            if len(value.translate(None, b"\r\n\x08")) < MIN_REDACTABLE:
                continue
            key = cls.forms_key(value, fragment_min, fragment_value_min, lean=lean and not fragments)
            forms = forms_cache.get(key) if forms_cache is not None else None
            if forms is None:
                forms = forms_of(value, fragment_min=fragment_min, fragment_value_min=fragment_value_min,
                                 lean=lean and not fragments)
                if forms_cache is not None:
                    forms_cache[key] = forms
            for kind, group in ((0, forms.raw), (1, forms.skel)):
                for p, form in group:
                    if lean and kind == 1 and form == "base64":
                        continue
                    # One pattern may be a form of two secrets: the longer value names it.
                    rank = (1, len(value))
                    prev = best.get((kind, p))
                    if prev is None or rank > prev[2]:
                        best[(kind, p)] = (label, form, rank)
            if (forms.anchors or forms.skel_anchors) and fragments:
                vid = len(raw.values)
                raw.values.append((label, value))
                windows.update(forms.windows)
                skel.skeletons.append(forms.skeleton)
                skel_windows.update(forms.skel_windows)
                anchor_groups = ((raw, anchor_at, forms.anchors), (skel, skel_at, forms.skel_anchors))
                for index, at, anchors in anchor_groups:
                    for p, off in anchors:
                        if p not in at:
                            at[p] = len(index.anchors)
                            index.anchors.append(p)
                            index.owners.append([])
                        index.owners[at[p]].append((vid, off))
        for (kind, p), (label, form, _) in best.items():
            idx = raw if kind == 0 else skel
            idx.patterns.append(p)
            idx.meta.append((label, form))
        raw.windows = list(windows)  # _Prefixes sorts them, when a stream first needs them
        skel.windows = list(skel_windows)
        made = cls(raw, skel, credentials=credentials, shapes=detect, compiled=compiled)
        made.lean = lean or not fragments
        made.labels = frozenset(secrets)
        return made

    def compile(self) -> Redactor:
        """This redactor with its literal sets compiled (a copy: this one stays as it is). Lets a
        caller check a command line at once with the uncompiled one while this runs on a thread."""
        if self.compiled:
            return self
        made = _clone(self)
        made._raw, made._skel = literal_pair(self._raw.patterns, self._skel.patterns, compiled=True)
        made.compiled = True
        return made

    def with_detectors(self) -> Redactor:
        """This redactor with the credential detectors and decode candidates (a copy when it was
        built without them, ``detect=False``, to check a command line): what ``build`` would have
        given, without building the index again (1,000 values: ~50 ms)."""
        if self._shapes is not None or not (self._credentials or self._n_plain or len(self._skel)):
            return self
        made = _clone(self)
        made._shapes = _shapes()
        return made

    @classmethod
    def joined(cls, parts: Sequence[Redactor]) -> Redactor:
        """One redactor over compiled ones built without fragments (a big vault's build in chunks,
        each compiled while the next is decrypted): their literal sets read as one, in order, so
        a literal in two parts names the first part's value, as one build over all would (but
        for its longer-value rule across parts)."""
        if len(parts) == 1:
            return parts[0]
        if any(p.has_fragments or not p.compiled for p in parts):
            raise ValueError("only compiled redactors without fragments can be joined")
        made = _clone(parts[0])
        made.__dict__.pop("_prefixes", None)
        made._raw = LiteralSet.joined([p._raw for p in parts])
        made._skel = LiteralSet.joined([p._skel for p in parts])
        made._raw_meta = [m for p in parts for m in p._raw_meta]
        made._skel_meta = [m for p in parts for m in p._skel_meta]
        made._skel_back = b"".join(p._skel_back for p in parts)
        made._skel_plain = len(made._skel)  # no fragments: every literal is plain
        made._reversed_scan = any(p._reversed_scan for p in parts)
        made._n_plain = len(made._raw)
        made._prefix_sources = ([x for p in parts for x in p._prefix_sources[0]],
                                [x for p in parts for x in p._prefix_sources[1]], [])
        made.maxlen = max(p.maxlen for p in parts)
        made.lean = any(p.lean for p in parts)
        made.labels = frozenset().union(*(p.labels for p in parts))
        made.empty = all(p.empty for p in parts)
        return made

    @functools.cached_property
    def _prefixes(self) -> tuple[_Prefixes, tuple[_Prefixes, _Prefixes], tuple[_Prefixes, _Prefixes]]:
        """(raw, (skeleton, reversed), (skeleton fragment windows, reversed)): only a stream needs
        them (``holdback``)."""
        raw, skel, windows = self._prefix_sources
        return (_Prefixes(raw), (_Prefixes(skel), _Prefixes(p[::-1] for p in skel)),
                (_Prefixes(windows), _Prefixes(p[::-1] for p in windows)))

    @property
    def pattern_count(self) -> int:
        return len(self._raw) + len(self._skel)

    # ------------------------------------------------------------------ matching
    def _raw_matches(self, data: bytes, view: views.View | None, name: str,
                     hits: list[tuple[int, int, int]] | None = None) -> list[Match]:
        """``hits``: the raw literal scan of ``data``, when it was made elsewhere (the scan thread)."""
        if hits is None:
            hits = self._raw.scan(data)
        if not hits:
            return []
        meta, n_plain = self._raw_meta, self._n_plain
        found = [Match(s, e, *meta[i], name) for i, s, e in hits if i < n_plain]
        anchored = [(i - n_plain, s, e) for i, s, e in hits if i >= n_plain]
        if anchored:
            found += self._frag.raw(data, anchored, name)
        if not found:
            return []
        found = _merge(found)
        if view is None:
            return found
        return [Match(*view.span(m.start, m.end), m.label, m.form, name) for m in found]

    def _skel_matches(self, source: bytes, view: views.View, name: str, outer: views.View | None = None
                      ) -> list[Match]:
        """Matches in ``view`` (the skeleton of ``source``), as spans of ``source`` or, with ``outer``
        (the view ``source`` is of), of the original bytes."""
        data = view.data
        meta, plain = self._skel_meta, self._skel_plain
        hits = self._skel.scan(data)
        found = [Match(s, e, *meta[i], name) for i, s, e in hits if i < plain]
        exact: list[Match] = []  # raw fragments of values found by their skeleton anchors: in ``source``
        if len(hits) > len(found):
            anchored = [(i - plain, s, e) for i, s, e in hits if i >= plain]
            found += self._frag.skeleton(data, anchored, name, False)
            exact = self._frag.exact(source, view, anchored, name)
        if self._reversed_scan:
            # Only the literals written forwards: one held backwards, found in the reversed
            # skeleton, is a forwards form the scan above has found already.
            n, back = len(data), self._skel_back
            rdata = data[::-1]
            hits = self._skel.scan(rdata)
            found += [Match(n - e, n - s, meta[i][0], "reversed", name)
                      for i, s, e in hits if i < plain and not back[i]]
            anchored = [(i - plain, s, e) for i, s, e in hits if i >= plain]
            if anchored:
                found += [Match(n - m.end, n - m.start, m.label, m.form, name)
                          for m in self._frag.skeleton(rdata, anchored, name, True)]
        if not found and not exact:
            return []
        out = [Match(*view.span(m.start, m.end), m.label, m.form, m.view) for m in _merge(found)] + exact
        if outer is None:
            return out
        return [Match(*outer.span(m.start, m.end), m.label, m.form, m.view) for m in out]

    def find(self, data: bytes, *, depth: int = 0, pending: list[int] | None = None) -> list[Match]:
        """Every match in ``data`` (positions in ``data``), merged. ``pending`` receives the start of
        each credential or decode candidate that reaches the end of ``data`` (it may grow)."""
        if self.empty or not data:
            return []
        shapes = self._shapes
        jobs = None
        if shapes is not None and len(data) >= PARALLEL_MIN:
            from secretctl.core.redact import worker

            # The detector and candidate scans (half the work on log text) run on the second core
            # while this thread builds and scans the views: the engine scans without the GIL.
            # Two jobs, the runs first: the scan thread takes them in turn, and this thread runs the
            # detector scan itself if the thread has not reached it by then (random base64 keeps the
            # thread busy with its runs while this one has the views done).
            # The raw literal scan last: the thread takes it if it is free by then, else this
            # thread does once the skeleton is scanned.
            jobs = (worker.submit(shapes.scan_runs, data), worker.submit(shapes.scan_detectors, data),
                    worker.submit(self._raw.scan, data))
        skel = self._skel_matches(data, views.skeleton(data), "skeleton") if len(self._skel) else []
        escaped = views.skeleton_with_escapes(data) if len(self._skel) else None
        if escaped is not None:
            skel += self._skel_matches(data, escaped, "escapes")
        out = self._raw_matches(data, None, "raw", None if jobs is None else jobs[2].result()) + skel
        for name, base in (("rendered", views.rendered(data)), ("unescaped", views.unescaped(data))):
            if base is None:
                continue
            out += self._skel_matches(base.data, views.skeleton(base.data), name, base)
            out += self._raw_matches(base.data, base, name)
        if shapes is not None:
            hits = shapes.scan(data) if jobs is None else jobs[1].result() + jobs[0].result()
            out += self._shape_matches(data, depth, pending, hits)
        return _merge(out)

    def _shape_matches(self, data: bytes, depth: int, pending: list[int] | None,
                       hits: list[tuple[str, bytes | None, int, int]]) -> list[Match]:
        out: list[Match] = []
        done: list[tuple[str, int, int]] = []
        secrets = self.pattern_count > 0
        for kind, value_rx, s, e in sorted(hits, key=lambda h: (h[2], -h[3])):
            if kind == "credential":
                if not self._credentials:
                    continue
                m = _credential(data, s, e, value_rx)
                if m is not None:
                    out.append(m)
                    if pending is not None and m.end >= len(data):
                        pending.append(m.start)
                continue
            if not secrets or depth >= DECODE_DEPTH or any(k == kind and a <= s and e <= b for k, a, b in done):
                continue
            region = decode.region_of(kind, data, s, e)
            if region is None:
                continue
            rs, re_, decodings = region
            done.append((kind, rs, re_))
            if pending is not None and re_ >= len(data) - 2:
                # It may go on with the next read (a run, the next dump line): held from its start,
                # unless it is an opaque run (random base64), held only as far back as a nested form
                # of a value could reach (holding it whole rescanned up to 64 KiB with every read).
                opaque = decode.opaque(kind, data, (rs, re_), s, decodings)
                pending.append(max(rs, len(data) - 4 * self.maxlen - 256) if opaque else rs)
            for decoded in decodings:
                if len(decoded) < MIN_REDACTABLE:
                    continue
                inner = [m for m in self.find(decoded, depth=depth + 1) if m.label != CREDENTIAL or depth == 0]
                if inner:
                    best = max(inner, key=lambda m: (m.label != CREDENTIAL, m.end - m.start))
                    out.append(Match(rs, re_, best.label, f"decoded-{kind}", best.view))
                    break
        return out

    # -------------------------------------------------------------- holdback
    def holdback(self, tail: bytes, *, idle: bool = False) -> int:
        """How many bytes at the end of ``tail`` could still grow into a form of a value (in any
        view). ``idle``: after a pause (see ``IDLE_SKEL_WINDOW``)."""
        raw_prefix, skel_prefixes, window_prefixes = self._prefixes
        keep = raw_prefix.longest_suffix(tail)
        bases = [base for base in (views.unescaped(tail), views.rendered(tail)) if base is not None]
        for base in bases:
            k = raw_prefix.longest_suffix(base.data)
            if k:
                keep = max(keep, len(tail) - base.unit(len(base.data) - k)[0])
        if not len(self._skel):
            return keep
        skels: list[views.View] = [views.skeleton(tail)]
        escaped = views.skeleton_with_escapes(tail)
        if escaped is not None:
            skels.append(escaped)
        skels += [views.Composed(base, views.skeleton(base.data)) for base in bases]
        least = IDLE_SKEL_WINDOW if idle else 1
        for sv in skels:
            n = len(sv.data)
            k = max([p.longest_suffix(sv.data) for p in skel_prefixes]
                    + [p.longest_suffix(sv.data, least) for p in window_prefixes])
            if k:
                keep = max(keep, len(tail) - sv.unit(n - k)[0])
        return keep


class Layered(Finder):
    """Several redactors read as one (the session's all-values redactor, plus fragments of the
    values a run injects): matches of every layer, merged; the longest holdback."""

    def __init__(self, layers: Sequence[Redactor]) -> None:
        self._layers = [r for r in layers if not r.empty]
        self.maxlen = max((r.maxlen for r in self._layers), default=0)
        self.empty = not self._layers

    def find(self, data: bytes, *, depth: int = 0, pending: list[int] | None = None) -> list[Match]:
        return _merge(m for r in self._layers for m in r.find(data, depth=depth, pending=pending))

    def holdback(self, tail: bytes, *, idle: bool = False) -> int:
        return max((r.holdback(tail, idle=idle) for r in self._layers), default=0)


def _credential(data: bytes, s: int, e: int, value: bytes | None) -> Match | None:
    """The credential a detector hit at ``s:e``; ``value``: the pattern of its secret part."""
    if data.startswith(b"-----BEGIN", s) or (value is not None and b"-----BEGIN" in data[s:e]):
        begin = data.find(b"-----BEGIN", s)
        block = detectors.PEM_BLOCK.match(data, begin)
        if block is not None:
            return Match(begin, block.end(), CREDENTIAL, "credential")
        return Match(begin, _match_end(detectors.PEM_BODY, data, data.find(b"-----", begin + 10) + 5),
                     CREDENTIAL, "credential")
    end = _match_end(detectors.TOKEN_TAIL, data, e)
    if value is not None:
        m = re.compile(value, re.S).search(data, s, end)  # re's own cache compiles each pattern once
        if m is None or m.lastindex is None:
            return None
        s, stop = m.span(1)
        end = _match_end(detectors.TOKEN_TAIL, data, stop) if stop >= e else stop
    return Match(s, end, CREDENTIAL, "credential")


def _match_end(rx: re.Pattern[bytes], data: bytes, pos: int) -> int:
    m = rx.match(data, pos)  # both patterns match the empty string: never None
    return pos if m is None else m.end()
