"""The session counts [REDACTED:label] markers in a stream cut anywhere (the runner's chunks fall
where they fall): each marker once, whatever the cuts."""

from __future__ import annotations

from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from secretctl.service.session import _MarkerCount

_labels = st.sampled_from(["app/token", "db/main:password", "aws/secret_access_key", "x"])
_text = st.text(st.sampled_from("ab []:RED\n"), max_size=12)


@given(st.lists(st.tuples(_text, _labels), max_size=8), _text, st.lists(st.integers(0, 400), max_size=10))
def test_each_marker_counted_once_wherever_the_stream_is_cut(parts: list[tuple[str, str]], tail: str,
                                                            cuts: list[int]) -> None:
    stream = "".join(f"{junk}[REDACTED:{label}]" for junk, label in parts) + tail
    data = stream.encode()
    counter = _MarkerCount()
    pos = 0
    for cut in sorted(c for c in cuts if c <= len(data)):
        counter.feed(data[pos:cut])
        pos = cut
    counter.feed(data[pos:])
    whole = _MarkerCount()
    whole.feed(data)
    assert counter.counts == whole.counts
    assert sum(counter.counts.values()) >= len(parts)
    assert all(counter.counts[label] >= n for label, n in Counter(label for _, label in parts).items())
