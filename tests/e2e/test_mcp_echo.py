"""No MCP error repeats what the agent typed once it holds secret material: an error that echoes
an argument, redacted, confirms a guess (`secret_list` limit, `secret_run` timeout and
`secret_generate` length did, one call per guess, with no strike). Through `mcp.Client`
in-process, with the redactor built."""

from __future__ import annotations

from typing import Any

import pytest

from secretctl.core.secret import Secret
from secretctl.service.session import SECRET_MATERIAL, AgentSession
from secretctl.service.vault import Vault
from tests.e2e.test_mcp import call

pytest.importorskip("mcp")


CARD = b"4111222233334444"
TOKEN = b"S3cret-value-XYZ0123"


@pytest.fixture
def session(inproc: Vault) -> AgentSession:
    inproc.import_entries([("svc/card", Secret(CARD)), ("api/token", Secret(TOKEN))])
    (inproc.root / ".secretctl" / "policy.yaml").write_text("version: 1\nmcp: {allow_generate: true}\n")
    s = AgentSession(inproc, base_env={})
    assert s.redactor is not None  # built: the errors are checked against it
    return s


def text(result: Any) -> str:
    return "\n".join(getattr(c, "text", "") for c in result.content)


@pytest.mark.parametrize(("tool", "args"), [
    ("secret_list", {"limit": int(CARD)}),
    ("secret_run", {"keys": ["nope"], "command": "rm", "timeout": TOKEN.decode()}),
    ("secret_run", {"keys": ["nope"], "command": "rm", "timeout": TOKEN.decode()[:-1] + "9"}),
    ("secret_run", {"keys": ["nope"], "command": "rm", "timeout": TOKEN.decode()[:-4] + "13"}),
    ("secret_run", {"keys": ["nope"], "command": "rm", "timeout": int(CARD)}),
    ("secret_generate", {"key": "new/one", "length": int(CARD)}),
])
def test_a_guess_in_a_number_or_duration_is_refused_and_struck_not_echoed(session: AgentSession, tool: str,
                                                                         args: dict[str, Any]) -> None:
    r, = call(session, [(tool, args)])
    assert r.is_error
    assert SECRET_MATERIAL in text(r)
    assert "REDACTED" not in text(r)
    assert session.strikes == 1


def test_an_echoed_guess_costs_a_strike_and_three_lock_the_runs(session: AgentSession) -> None:
    guesses = [("secret_list", {"limit": int(CARD)}),
               ("secret_run", {"keys": ["nope"], "command": "rm", "timeout": TOKEN.decode()}),
               ("secret_generate", {"key": "new/two", "length": int(CARD)}),
               ("secret_run", {"keys": ["svc/card"], "command": "true"})]
    *_, run = call(session, guesses)
    assert session.strikes == 3
    assert run.is_error
    assert "locked" in text(run)


def test_an_out_of_range_limit_is_named_without_the_number(session: AgentSession) -> None:
    r, = call(session, [("secret_list", {"limit": 4821})])
    assert r.is_error
    assert "limit must be between 1 and 1000" in text(r)
    assert "4821" not in text(r)
    assert session.strikes == 0


def test_any_error_text_holding_a_value_becomes_the_fixed_refusal(session: AgentSession) -> None:
    assert session.error_text("secret_exists", "no such key: app") == "no such key: app"
    told = session.error_text("secret_exists", f"invalid thing '{TOKEN.decode()[6:]}'")
    assert told.startswith(SECRET_MATERIAL)
    assert session.strikes == 1
