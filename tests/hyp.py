"""How many examples each property test draws.

The suite's default (half of each test's written figure) keeps `make test` near two minutes on a
two-core machine; `SECRETCTL_HYPOTHESIS_SCALE=4 make unit` digs deeper (before a release, or
after touching a parser or the redactor). Hypothesis keeps the failing examples it finds in its
database (where a test keeps one) and replays them first, so a found bug stays found at any scale.
"""

from __future__ import annotations

import os

SCALE = float(os.environ.get("SECRETCTL_HYPOTHESIS_SCALE", "0.5"))


def examples(written: int) -> int:
    """``written`` scaled, never below 20."""
    return max(20, round(written * SCALE))
