"""core/secret: plaintext travels masked; repr, str, pickling and formatting never show it."""

from __future__ import annotations

import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from secretctl.core.secret import Secret, mask
from tests.hyp import examples


@settings(max_examples=examples(200), deadline=None)
@given(st.binary(min_size=1, max_size=64))
def test_repr_and_str_show_the_length_only(value: bytes) -> None:
    s = Secret(value)
    assert repr(s) == f"Secret(len={len(value)})"
    assert str(s) == repr(s)
    assert f"{s}" == repr(s)
    assert f"{[s]}" == f"[{s!r}]"


def test_reveal_is_the_only_way_out() -> None:
    s = Secret(b"hunter2-hunter2")
    assert s.reveal() == b"hunter2-hunter2"
    assert s.reveal_text() == "hunter2-hunter2"
    assert "hunter" not in repr(s) and "ter2" not in repr(s)


def test_secrets_refuse_to_be_pickled() -> None:
    with pytest.raises(TypeError):
        pickle.dumps(Secret(b"x" * 20))


def test_equality_is_by_value_and_constant_time() -> None:
    assert Secret(b"abc") == Secret(b"abc")
    assert Secret(b"abc") != Secret(b"abd")


@pytest.mark.parametrize(("value", "shown"), [
    ("", ""), ("abc", "***"), ("abcdefghijk", "****hijk"), ("x" * 40, "****xxxx"),
])
def test_mask_shows_at_most_the_last_four_of_long_values(value: str, shown: str) -> None:
    assert mask(value) == shown
