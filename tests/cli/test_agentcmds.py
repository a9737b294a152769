"""`secretctl unlock` when the agent it started is gone before it answers (its --timeout passed on a
busy machine, or it was killed): a one-line error with exit 4, not an internal error (exit 70)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import SECRETCTL, Member
from tests.inproc_cli import run_inprocess


def test_an_agent_gone_before_it_answers_is_a_clear_error(alice: Member, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from secretctl.service import unlock_agent

    # The agent "unlocked" (spawn returned its pid) and is gone: nothing listens on the socket.
    monkeypatch.setattr(unlock_agent, "spawn", lambda *a, **k: 4242)
    env = {**alice.env, "SECRETCTL_RUNTIME_DIR": str(tmp_path / "run"), "SECRETCTL_WARM": "0"}
    proc = run_inprocess(SECRETCTL, ["unlock"], input=b"", env=env, cwd=alice.home)
    err = proc.stderr.decode()
    assert proc.returncode == 4, err
    assert "the unlock agent (pid 4242) stopped right after it unlocked" in err
    assert "hint: its --timeout or --idle may have passed already" in err
    assert "internal error" not in err
