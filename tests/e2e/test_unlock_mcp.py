"""The MCP server with the unlock agent and no password anywhere in its configuration: over
stdio with the real MCP client, against the installed `secretctl mcp-server`."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SECRETCTL, Member
from tests.e2e.test_run_cli import commit_policy
from tests.e2e.test_unlock import PASSWORD, VALUE, carol, unlock  # noqa: F401 - carol is a fixture

pytest.importorskip("mcp")

from mcp import Client
from mcp.client.stdio import StdioServerParameters

POLICY = """\
version: 1
default_action: deny
allowed_commands: [sh]
commands:
  sh: {keys: ["app/*"]}
"""
LOCKED = "vault locked: run `secretctl unlock`"
Step = tuple[str, dict[str, Any]] | Callable[[], object]


def with_policy(m: Member) -> Path:
    root = Path(m.env["SECRETCTL_VAULT"])
    commit_policy(root, m, POLICY)
    return root


def session(m: Member, steps: list[Step]) -> tuple[list[Any], bytes]:
    """Run the server over stdio; a step is a tool call, or a callable run between calls (a person
    in another terminal). Returns the call results and the server's stderr."""
    root = Path(m.env["SECRETCTL_VAULT"])
    assert "SECRETCTL_PASSWORD" not in m.env
    errlog = root.parent / "mcp-stderr.log"
    # Through sh only to keep the server's stderr in a file; the server is exec'ed, not wrapped.
    params = StdioServerParameters(command="sh", args=["-c", 'exec "$0" mcp-server --vault "$1" 2>"$2"', SECRETCTL,
                                                       str(root), str(errlog)], env=dict(m.env), cwd=str(root))

    async def go() -> list[Any]:
        out = []
        async with Client(params) as client:
            for step in steps:
                if callable(step):
                    await asyncio.to_thread(step)
                else:
                    out.append(await client.call_tool(*step))
        return out

    results = asyncio.run(go())
    return results, errlog.read_bytes()


def text(result: Any) -> str:
    return " ".join(getattr(c, "text", "") for c in result.content)


RUN = ("secret_run", {"keys": ["app/token"], "command": "sh", "args": ["-c", "echo $APP_TOKEN"]})
MASKED = ("secret_get_masked", {"key": "app/token"})


def test_mcp_server_works_through_the_agent_with_no_password(carol: Member) -> None:  # noqa: F811
    with_policy(carol)
    assert unlock(carol).returncode == 0
    (masked, ran), _ = session(carol, [MASKED, RUN])
    assert not masked.is_error, text(masked)
    assert masked.structured_content["masked_value"].endswith(VALUE.decode()[-4:])
    assert not ran.is_error, text(ran)
    assert ran.structured_content["stdout"] == "[REDACTED:app/token]\n"


def test_locked_vault_answers_vault_locked_then_works_after_unlock(carol: Member) -> None:  # noqa: F811
    with_policy(carol)
    results, _ = session(carol, [MASKED, ("secret_list", {}), lambda: unlock(carol), MASKED, RUN])
    before, listed, after, ran = results
    assert before.is_error
    assert text(before).endswith(LOCKED)
    assert listed.is_error  # every answer is sanitized, and no sanitizer can be built while locked
    assert text(listed).endswith(LOCKED)
    assert not after.is_error, text(after)
    assert ran.structured_content["stdout"] == "[REDACTED:app/token]\n"


def test_lock_mid_session_makes_tools_answer_vault_locked(carol: Member) -> None:  # noqa: F811
    with_policy(carol)
    unlock(carol)
    results, stderr = session(carol, [RUN, lambda: carol.run("lock"), RUN, MASKED])
    first, second, _masked = results
    assert not first.is_error
    assert second.is_error
    assert text(second).endswith(LOCKED)
    assert PASSWORD.encode() not in stderr
    assert VALUE not in stderr


def test_server_started_locked_warns_and_keeps_serving(carol: Member) -> None:  # noqa: F811
    with_policy(carol)
    results, stderr = session(carol, [MASKED])
    assert results[0].is_error
    assert b"vault locked" in stderr


def test_wrong_password_still_fails_at_start(carol: Member) -> None:  # noqa: F811
    root = with_policy(carol)
    out = subprocess.run([SECRETCTL, "mcp-server", "--vault", str(root)],
                         env={**carol.env, "SECRETCTL_PASSWORD": "wrong-password"}, input=b"", capture_output=True,
                         timeout=60)
    assert out.returncode == 4
    assert b"wrong password" in out.stderr
