"""Fragments: the stretches of a value grown from an anchor hit (forms.py makes the anchors).

An anchor is a short window of a value (raw anchors) or of its skeleton (skeleton anchors); a hit
in a view is grown both ways while the view goes on spelling the value, and the stretch is kept
if it counts as a fragment (``forms.fragment_ok`` on the raw bytes, ``forms.skeleton_fragment_ok``
in a skeleton view) and is not mostly made of non-sensitive fields (a host name inside a URL).
"""

from __future__ import annotations

from collections.abc import Sequence

from secretctl.core.redact import views
from secretctl.core.redact.forms import fragment_ok, marks, skel_only, skeleton_fragment_ok
from secretctl.core.redact.matches import Match

Hit = tuple[int, int, int]  # (anchor number, start, end)


class Fragments:
    """The values with fragments, by number, and who owns each anchor."""

    def __init__(self, values: list[tuple[str, bytes]], *, raw_owners: list[list[tuple[int, int]]],
                 skeletons: list[bytes], skel_owners: list[list[tuple[int, int, bool]]], fragment_min: int,
                 public: tuple[bytes, ...]) -> None:
        self.values, self.raw_owners = values, raw_owners  # raw owners: (value number, offset)
        # Skeleton owners: (value number, offset in its skeleton, or in it reversed if backwards).
        self.skeletons, self.skel_owners = skeletons, skel_owners
        self.fragment_min, self.public = fragment_min, public
        self._skel_only = [skel_only(v) for _, v in values]  # by value number: no raw anchors
        self._marks: dict[int, bytes] = {}  # value number -> forms.marks of it, made at its first hit
        self._covered: dict[int, bytes] = {}  # value number -> which skeleton bytes are of a public field
        self._public: dict[int, bytearray] = {}  # value number -> which of its bytes are (public_mask)

    def raw(self, data: bytes, anchored: list[Hit], name: str) -> list[Match]:
        """Grow each raw anchor hit against its value: a long enough, informative stretch is a fragment."""
        out: list[Match] = []
        reach: dict[int, int] = {}  # value number -> end of the stretch last found for it
        for a, s, e in sorted(anchored, key=lambda h: h[1]):
            for vid, off in self.raw_owners[a]:
                if reach.get(vid, -1) >= e:
                    continue  # inside a stretch already grown
                grown = grow(data, s, e, self.values[vid][1], off)
                reach[vid] = grown[1]
                m = self._raw_stretch(vid, grown, name)
                if m is not None:
                    out.append(m)
        return out

    def exact(self, source: bytes, view: views.View, anchored: list[Hit], name: str) -> list[Match]:
        """The raw fragments of values without raw anchors (``forms.skel_only``), in ``source`` (of
        which ``view`` is the skeleton): a skeleton anchor hit that is the value's own bytes there is
        grown there, as a raw anchor's hit would be (the raw rule: 16 bytes whatever they hold)."""
        out: list[Match] = []
        reach: dict[int, int] = {}
        for a, s, e in sorted(anchored, key=lambda h: h[1]):
            span = None
            for vid, off, back in self.skel_owners[a]:
                if back or not self._skel_only[vid] or reach.get(vid, -1) >= e:
                    continue
                if span is None:
                    span = view.span(s, e)
                rs, re_ = span
                value = self.values[vid][1]
                if re_ - rs != e - s or source[rs:re_] != value[off : off + e - s]:
                    continue  # another case, or bytes between: the skeleton's own growth covers it
                grown = grow(source, rs, re_, value, off)
                reach[vid] = e + (grown[3] - off - (e - s))  # each byte of such a value: one skeleton byte
                m = self._raw_stretch(vid, grown, name)
                if m is not None:
                    out.append(m)
        return out

    def _trimmed(self, vid: int, j: int, k: int) -> tuple[int, int]:
        """``[j, k)`` of the value's skeleton without a character cut at either end, nor a
        non-sensitive field's characters at either end: the skeleton has no separators, so a
        stretch grows into a user name printed before a password as readily as into the password
        (``app`` then the password, of ``postgres://app:PW@...``), and a public field is never
        partly redacted."""
        skel = self.skeletons[vid]
        while j < k and 0x80 <= skel[j] < 0xC0:
            j += 1
        while j < k < len(skel) and 0x80 <= skel[k] < 0xC0:
            k -= 1
        if not self.public or j >= k:
            return j, k
        covered = self._covered.get(vid)
        if covered is None:
            value = self.values[vid][1]
            view, mask = views.skeleton(value), self._public_mask(vid)
            covered = self._covered[vid] = bytes(mask[view.unit(i)[0]] for i in range(len(skel)))
        while j < k and covered[j]:
            j += 1
        while j < k and covered[k - 1]:
            k -= 1
        return j, k

    def _public_mask(self, vid: int) -> bytearray:
        mask = self._public.get(vid)
        if mask is None:
            mask = self._public[vid] = public_mask(self.values[vid][1], self.public)
        return mask

    def _raw_stretch(self, vid: int, grown: tuple[int, int, int, int], name: str) -> Match | None:
        lo, hi, j, k = grown
        label, value = self.values[vid]
        if not fragment_ok(value[j:k], self.fragment_min):
            return None
        if self.public and mostly_public(value, j, k, self._public_mask(vid), self.fragment_min):
            return None
        return Match(lo, hi, label, "exact" if k - j == len(value) else "fragment", name)

    def skeleton(self, data: bytes, anchored: list[Hit], name: str, reversed_data: bool) -> list[Match]:
        """Skeleton anchor hits in ``data`` (a skeleton, or with ``reversed_data`` one reversed)
        grown against the value's skeleton (against it reversed when the two run opposite ways): a
        stretch that ``skeleton_fragment_ok`` accepts is a fragment, in any case, spacing, form."""
        out: list[Match] = []
        reach: dict[tuple[int, bool], int] = {}
        for a, s, e in sorted(anchored, key=lambda h: h[1]):
            for vid, off, back in self.skel_owners[a]:
                if back and reversed_data:
                    continue  # a backwards anchor in the reversed skeleton: forwards, found already
                backwards = back or reversed_data
                if reach.get((vid, backwards), -1) >= e:
                    continue
                skel = self.skeletons[vid]
                lo, hi, j, k = grow(data, s, e, skel[::-1] if back else skel, off)
                reach[(vid, backwards)] = hi
                if back:
                    j, k = len(skel) - k, len(skel) - j
                j0, k0 = j, k
                j, k = self._trimmed(vid, j, k)
                if k - j < self.fragment_min:
                    continue
                # The stretch is smaller at either end: so is its span (the data runs against the
                # skeleton when the anchor was held backwards).
                lo, hi = (lo + k0 - k, hi - (j - j0)) if back else (lo + j - j0, hi - (k0 - k))
                label, value = self.values[vid]
                start, end = value_span(value, j, k)
                marked = self._marks.get(vid)
                if marked is None:
                    marked = self._marks[vid] = marks(value)
                if not skeleton_fragment_ok(skel[j:k], marked.count(1, start, end), self.fragment_min):
                    continue
                if self.public and mostly_public(value, start, end, self._public_mask(vid), self.fragment_min):
                    continue
                out.append(Match(lo, hi, label, "exact" if j == 0 and k == len(skel) else "fragment", name))
        return out


def grow(data: bytes, s: int, e: int, target: bytes, off: int) -> tuple[int, int, int, int]:
    """An anchor hit ``data[s:e]`` (``target[off:off + e - s]``) grown both ways while the bytes
    agree: (start, end) in ``data``, (start, end) in ``target``."""
    lo, j = s, off
    while lo > 0 and j > 0 and data[lo - 1] == target[j - 1]:
        lo -= 1
        j -= 1
    hi, k, n, m = e, off + (e - s), len(data), len(target)
    while hi < n and k < m and data[hi] == target[k]:
        hi += 1
        k += 1
    return lo, hi, j, k


def value_span(value: bytes, j: int, k: int) -> tuple[int, int]:
    """The bytes of ``value`` that its skeleton's ``[j, k)`` stands for (k > j)."""
    view = views.skeleton(value)
    return view.unit(j)[0], view.unit(k - 1)[1]


def mostly_public(value: bytes, start: int, end: int, covered: bytearray, fragment_min: int) -> bool:
    """``value[start:end]`` has fewer than ``fragment_min`` letters or digits outside the places
    where a non-sensitive value sits in it (``covered``: its ``public_mask``; ``db.internal:5432/app``
    of a URL whose host and user are public fields): it shows no fragment of what is secret in
    the value."""
    outside = sum(1 for k in range(start, end) if not covered[k] and chr(value[k]).isalnum())
    return outside < fragment_min


def public_mask(value: bytes, public: Sequence[bytes]) -> bytearray:
    """1 for each byte of ``value`` where a non-sensitive value sits in it."""
    covered = bytearray(len(value))
    for p in public:
        i = value.find(p)
        while i >= 0:
            covered[i : i + len(p)] = b"\x01" * len(p)
            i = value.find(p, i + 1)
    return covered


def skeleton_anchors(anchors: list[bytes], owners: list[list[tuple[int, int]]], skeletons: list[bytes], *,
                     merged: bool) -> tuple[list[bytes], list[list[tuple[int, int, bool]]]]:
    """The skeleton anchor literals and, for each, its owners (value, offset, held backwards): with
    ``merged``, every anchor backwards too (one literal may be both a forwards and a backwards
    window: one literal, both owners)."""
    literals = list(anchors)
    out: list[list[tuple[int, int, bool]]] = [[(vid, off, False) for vid, off in o] for o in owners]
    if not merged:
        return literals, out
    at = {p: i for i, p in enumerate(literals)}
    for p, group in zip(anchors, owners, strict=True):
        rp = p[::-1]
        if rp not in at:
            at[rp] = len(literals)
            literals.append(rp)
            out.append([])
        out[at[rp]] += [(vid, len(skeletons[vid]) - off - len(p), True) for vid, off in group]
    return literals, out
