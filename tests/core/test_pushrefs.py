"""The pre-push hook's input (githooks(5)): parsed exactly, malformed lines refused by number."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from secretctl.core.pushrefs import RefUpdate, parse_push_lines
from secretctl.errors import UsageError

ZERO = "0" * 40
A, B = "a" * 40, "b" * 40

oids = st.one_of(st.just(ZERO), st.text("0123456789abcdef", min_size=40, max_size=40))
refs = st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=60)


@given(st.lists(st.tuples(refs, oids, refs, oids), max_size=20))
def test_round_trip(updates: list[tuple[str, str, str, str]]) -> None:
    text = "".join(f"{a} {b} {c} {d}\n" for a, b, c, d in updates)
    assert parse_push_lines(text) == [RefUpdate(*u) for u in updates]


@given(st.text(max_size=200))
def test_anything_parses_or_fails_cleanly(text: str) -> None:
    try:
        out = parse_push_lines(text)
    except UsageError as exc:
        assert "\n" not in exc.message
        return
    assert all(len(u.local_oid) in (40, 64) for u in out)


def test_kinds() -> None:
    new, gone, update = parse_push_lines(f"refs/heads/n {A} refs/heads/n {ZERO}\n"
                                         f"(delete) {ZERO} refs/heads/old {B}\n"
                                         f"refs/heads/main {A} refs/heads/main {B}\n\n")
    assert new.is_new and not new.is_deletion
    assert gone.is_deletion
    assert not update.is_new and not update.is_deletion
    assert parse_push_lines("") == []


@pytest.mark.parametrize(("line", "message"), [
    ("refs/heads/main", "expected 4 fields"),
    (f"refs/heads/main {A} refs/heads/main", "expected 4 fields"),
    (f"refs/heads/main {A[:-1]}x refs/heads/main {B}", "local object"),
    (f"refs/heads/main {A} refs/heads/main HEAD", "remote object"),
    (f"refs/heads/main {A} refs/heads/main {'c' * 64}", "different lengths"),
])
def test_malformed_lines_name_the_line(line: str, message: str) -> None:
    with pytest.raises(UsageError, match=f"line 2: .*{message}|line 2: {message}"):
        parse_push_lines(f"refs/heads/x {A} refs/heads/x {B}\n{line}\n")
