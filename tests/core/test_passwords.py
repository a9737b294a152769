"""core/passwords: generated secrets, with the randomness source passed in (seeded `random` here,
so the S311 rule does not apply: the test wants repeatability, not secrecy)."""

from __future__ import annotations

import random
import string

import pytest

from secretctl.core.passwords import CHARSETS, MAX_LENGTH, MIN_LENGTH, generate
from secretctl.errors import UsageError


def test_a_seeded_source_gives_a_repeatable_secret_with_every_class() -> None:
    a = generate(24, rng=random.Random(7)).reveal_text()
    assert a == generate(24, rng=random.Random(7)).reveal_text()
    assert len(a) == 24
    for cls in (string.ascii_lowercase, string.ascii_uppercase, string.digits):
        assert any(c in cls for c in a)


@pytest.mark.parametrize("name", sorted(CHARSETS))
def test_a_named_charset_is_honoured(name: str) -> None:
    assert set(generate(64, charset=name, rng=random.Random(1)).reveal_text()) <= set(CHARSETS[name])


def test_an_unknown_charset_lists_the_known_ones() -> None:
    with pytest.raises(UsageError) as err:
        generate(16, charset="ab")
    assert all(n in (err.value.hint or "") for n in CHARSETS)


@pytest.mark.parametrize("n", [0, MIN_LENGTH - 1, MAX_LENGTH + 1])
def test_lengths_out_of_range_are_refused(n: int) -> None:
    with pytest.raises(UsageError):
        generate(n)
