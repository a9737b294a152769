"""core/valueframes: what a forked collector sends the MCP server decodes to exactly what it
encoded, and a frame cut anywhere is refused whole (the server then reads every key itself)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from secretctl.core import valueframes
from tests.hyp import examples

_stat = st.none() | st.tuples(*[st.integers(-(2**63), 2**63 - 1)] * 3)
_record = st.none() | st.tuples(st.tuples(_stat, _stat), st.dictionaries(st.text(max_size=30), st.binary(max_size=80),
                                                                         max_size=4),
                                st.lists(st.binary(max_size=40), max_size=3))
_frames = st.dictionaries(st.text(min_size=1, max_size=40), _record, max_size=8)


@settings(max_examples=examples(200))
@given(_frames)
def test_a_frame_decodes_to_what_was_encoded(records: dict[str, object]) -> None:
    assert valueframes.decode(valueframes.encode(records.items())) == records  # type: ignore[arg-type]  # drawn


@settings(max_examples=examples(100))
@given(_frames.filter(bool), st.data())
def test_a_cut_frame_is_refused(records: dict[str, object], data: st.DataObject) -> None:
    frame = valueframes.encode(records.items())  # type: ignore[arg-type]  # drawn
    cut = data.draw(st.integers(1, len(frame) - 1)) if len(frame) > 1 else 0
    if cut == 0:
        return
    try:
        got = valueframes.decode(frame[:cut])
    except valueframes.FrameError:
        return
    # A cut that falls between two records parses: it must then hold only whole records.
    assert all(records[k] == v for k, v in got.items()) and len(got) < len(records)


def test_an_unknown_record_kind_is_refused() -> None:
    frame = bytearray(valueframes.encode([("k", None)]))
    frame[-1] = 7
    with pytest.raises(valueframes.FrameError):
        valueframes.decode(bytes(frame))
