"""core/merge: three-way decisions for values and field-by-field merges for sidecars."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from secretctl.core.merge import decide_value_merge, merge_mappings
from tests.hyp import examples


@pytest.mark.parametrize(("base", "ours", "theirs", "expected"), [
    (b"a", b"a", b"a", "same"),
    (b"a", b"b", b"b", "same"),        # the same change on both sides
    (b"a", b"a", b"b", "theirs"),      # only they changed it
    (b"a", b"b", b"a", "ours"),        # only we changed it
    (b"a", b"b", b"c", "conflict"),    # both changed it differently
    (b"a", None, b"a", "deleted"),     # we deleted, they left it
    (b"a", b"a", None, "deleted"),     # they deleted, we left it
    (b"a", None, b"c", "conflict"),    # we deleted, they changed: a person decides
    (None, b"x", b"x", "same"),        # both added the same value
    (None, b"x", b"y", "conflict"),    # both added different values
    (None, None, None, "deleted"),
])
def test_value_decisions(base: bytes | None, ours: bytes | None, theirs: bytes | None, expected: str) -> None:
    assert decide_value_merge(base, ours, theirs) == expected


def test_fields_changed_on_one_side_take_that_side() -> None:
    base = {"notes": "n", "url": "u"}
    res = merge_mappings(base, {"notes": "mine", "url": "u"}, {"notes": "n", "url": "theirs"})
    assert res.merged == {"notes": "mine", "url": "theirs"} and res.conflicts == ()


def test_a_field_changed_on_both_sides_goes_to_prefer_and_is_named() -> None:
    res = merge_mappings({"notes": "n"}, {"notes": "a"}, {"notes": "b"}, prefer="theirs")
    assert res.merged["notes"] == "b" and res.conflicts == ("notes",)


def test_updated_takes_the_later_time_and_tags_merge_as_sets() -> None:
    base = {"updated": "2026-01-01T00:00:00Z", "tags": ["a", "b"]}
    ours = {"updated": "2026-02-01T00:00:00Z", "tags": ["a", "b", "c"]}    # added c
    theirs = {"updated": "2026-03-01T00:00:00Z", "tags": ["b"]}          # removed a
    res = merge_mappings(base, ours, theirs)
    assert res.merged == {"updated": "2026-03-01T00:00:00Z", "tags": ["b", "c"]}
    assert res.conflicts == ()


@settings(max_examples=examples(200), deadline=None)
@given(st.dictionaries(st.sampled_from(["notes", "url", "expires"]), st.text(max_size=5), max_size=3))
def test_merging_identical_sides_changes_nothing(side: dict[str, str]) -> None:
    res = merge_mappings({}, side, dict(side))
    assert res.merged == side and res.conflicts == ()
