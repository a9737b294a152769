"""The start-up fast path of `get` steps aside during a stopped sync, so the normal path can say
that the value is your side of a conflict (tests/e2e/test_team_flows.py shows the message)."""

from __future__ import annotations

from secretctl.service import conflicts, fastget


def test_the_fast_path_looks_for_the_file_the_conflicts_module_writes() -> None:
    assert "/".join(fastget.CONFLICTS) == conflicts.CONFLICTS
