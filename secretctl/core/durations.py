"""Durations and expiry dates (pure core): ``30s``, ``5m``, ``2h``, ``7d``, ``2w``, ``1h30m``,
or a date ``2027-01-31`` / datetime for expiry."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from secretctl.errors import UsageError

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"(?:[0-9]{1,9}[smhdw])+")
_PART = re.compile(r"([0-9]{1,9})([smhdw])")
_HINT = "use a number with a unit (30s, 5m, 2h, 7d, 2w; combined like 1h30m)"
MAX_DURATION = timedelta(days=3650 * 10)


def parse_duration(text: str) -> timedelta:
    t = text.strip().lower()
    if not _DURATION.fullmatch(t):
        raise UsageError(f"invalid duration {text[:40]!r}", hint=_HINT)
    seconds = sum(int(n) * _UNITS[u] for n, u in _PART.findall(t))
    td = timedelta(seconds=seconds)
    if td <= timedelta(0):
        raise UsageError(f"invalid duration {text[:40]!r}: must be positive", hint=_HINT)
    if td > MAX_DURATION:
        raise UsageError(f"invalid duration {text[:40]!r}: longer than 100 years", hint=_HINT)
    return td


def parse_expiry(text: str, now: datetime) -> datetime:
    """A duration from ``now``, or an ISO date/datetime (UTC when no zone is given), in the future:
    a secret stored already expired would be refused by `run` at once, so it is a typo."""
    t = text.strip()
    if _DURATION.fullmatch(t.lower()):
        return (now + parse_duration(t)).replace(microsecond=0)
    try:
        when = datetime.fromisoformat(t.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"invalid expiry {text[:40]!r}",
                         hint="use a duration (30d, 12h) or a date (2027-01-31, 2027-01-31T12:00:00Z)") from None
    out = (when if when.tzinfo else when.replace(tzinfo=UTC)).astimezone(UTC).replace(microsecond=0)
    if out <= now:
        raise UsageError(f"expiry {text[:40]!r} is in the past",
                         hint="give a future date or a duration (90d); to retire a secret, rotate or delete it")
    return out


_SECONDS = re.compile(r"[0-9]{1,9}(?:\.[0-9]{1,6})?")


def parse_timeout(value: float | str | None) -> float | None:
    """A timeout in seconds from a number of seconds or a duration string (``"30s"``, ``"5m"``):
    the MCP schema of secretctl's Go CLI sends the string, earlier clients the number."""
    if value is None:
        return None
    hint = "give a duration such as 30s or 5m, or a number of seconds"
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise UsageError("invalid timeout: expected a duration or a number of seconds", hint=hint)
    if isinstance(value, str):
        t = value.strip()
        if _SECONDS.fullmatch(t):
            seconds = float(t)
        elif _DURATION.fullmatch(t.lower()):
            seconds = parse_duration(t).total_seconds()
        else:
            raise UsageError(f"invalid timeout {value[:40]!r}", hint=hint)
    else:
        seconds = float(value)
    if not 0 < seconds <= MAX_DURATION.total_seconds():  # also refuses NaN
        raise UsageError(f"invalid timeout {str(value)[:40]!r}: must be positive", hint=hint)
    return seconds

