"""core/passwords: generated secrets, with the randomness source passed in."""

from __future__ import annotations

import random
import string

import pytest

from secretctl.core.passwords import MAX_LENGTH, MIN_LENGTH, generate
from secretctl.errors import UsageError


def test_a_seeded_source_gives_a_repeatable_secret_with_every_class() -> None:
    a = generate(24, rng=random.Random(7)).reveal_text()
    assert a == generate(24, rng=random.Random(7)).reveal_text()
    assert len(a) == 24
    for cls in (string.ascii_lowercase, string.ascii_uppercase, string.digits):
        assert any(c in cls for c in a)


def test_a_charset_is_honoured() -> None:
    assert set(generate(32, charset="ab", rng=random.Random(1)).reveal_text()) <= {"a", "b"}


@pytest.mark.parametrize("n", [0, MIN_LENGTH - 1, MAX_LENGTH + 1])
def test_lengths_out_of_range_are_refused(n: int) -> None:
    with pytest.raises(UsageError):
        generate(n)
