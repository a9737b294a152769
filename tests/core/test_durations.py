"""core/durations: `30s`, `1h30m`, `7d` and expiry dates, with the clock passed in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from secretctl.core.durations import parse_duration, parse_expiry
from secretctl.errors import UsageError

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(("text", "delta"), [
    ("30s", timedelta(seconds=30)), ("5m", timedelta(minutes=5)), ("1h30m", timedelta(hours=1, minutes=30)),
    ("7d", timedelta(days=7)), ("2w", timedelta(weeks=2)),
])
def test_durations(text: str, delta: timedelta) -> None:
    assert parse_duration(text) == delta


@pytest.mark.parametrize("text", ["", "5", "m", "1.5h", "-5m", "5 m", "1y", "99999999999d"])
def test_bad_durations_say_how_to_write_one(text: str) -> None:
    with pytest.raises(UsageError) as err:
        parse_duration(text)
    assert err.value.hint and "30s" in err.value.hint


def test_expiry_from_a_duration_or_a_date() -> None:
    assert parse_expiry("30d", NOW) == NOW + timedelta(days=30)
    assert parse_expiry("2027-01-31", NOW) == datetime(2027, 1, 31, tzinfo=UTC)
    assert parse_expiry("2027-01-31T12:00:00Z", NOW) == datetime(2027, 1, 31, 12, tzinfo=UTC)
