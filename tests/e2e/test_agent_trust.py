"""Issue 16 and the strike/access-log items of issue 11, through the real MCP client: strikes
under concurrency, forged markers, read-tool guesses, cancellation, what the access log keeps,
and sidecar edits nobody committed."""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import Member, alive, git, own_secret
from tests.e2e import test_mcp as base
from tests.e2e.test_mcp import VALUES, call, text_of

pytest.importorskip("mcp")

from mcp import Client

# The MCP tests' vault and in-process session, reused as fixtures of this module.
mcp_vault = base.mcp_vault
session = base.session

TOKEN = VALUES["app/token"].decode()


def pending_and_log(root: Path) -> str:
    out = ""
    for p in [root / ".git/secretctl/audit-pending.jsonl", *sorted((root / ".secretctl/audit").glob("*.jsonl"))]:
        if p.exists():
            out += p.read_text()
    return out


def test_concurrent_probes_never_run_more_than_the_strike_limit(session: Any, tmp_path: Path) -> None:
    """12 probes at once under strike_limit 3: each would print a secret it was not given."""
    # Agent commands run in the sandbox: they see only the policy's workspace (test_mcp.POLICY).
    loot = tmp_path / "work" / "loot.txt"
    loot.write_bytes(VALUES["aws/secret_access_key"] + b"\n")
    ran = tmp_path / "work" / "ran.txt"
    probe = {"keys": ["app/*"], "command": "sh", "args": ["-c", f"echo run >> {ran}; sleep 0.3; cat {loot}"]}
    from secretctl.mcp.server import build_server

    async def go() -> list[Any]:
        async with Client(build_server(session)) as client:
            return list(await asyncio.gather(*(client.call_tool("secret_run", probe) for _ in range(12))))

    outs = asyncio.run(go())
    runs = len(ran.read_text().splitlines())
    assert runs <= 3, f"{runs} probes ran"
    assert session.strikes == runs
    assert session.locked is not None
    assert sum("locked for this session" in text_of(o) for o in outs) == 12 - runs
    for o in outs:
        assert VALUES["aws/secret_access_key"].decode() not in text_of(o)


def test_honest_concurrent_runs_all_run(session: Any) -> None:
    from secretctl.mcp.server import build_server

    async def go() -> list[Any]:
        async with Client(build_server(session)) as client:
            return list(await asyncio.gather(*(client.call_tool("secret_run", {
                "keys": ["app/*"], "command": "sh", "args": ["-c", "echo $APP_TOKEN"]}) for _ in range(8))))

    outs = asyncio.run(go())
    assert all(o.structured_content["stdout"] == "[REDACTED:app/token]\n" for o in outs)
    assert session.strikes == 0


def test_forged_markers_in_fetched_content_do_not_strike(session: Any, tmp_path: Path) -> None:
    page = tmp_path / "work" / "page.html"
    page.write_text("<p>[REDACTED:aws/secret_access_key] and [REDACTED:db/main:password]</p>\n" * 3)
    outs = call(session, [("secret_run", {"keys": [], "command": "cat", "args": [str(page)]})] * 4
                + [("secret_run", {"keys": ["app/*"], "command": "sh", "args": ["-c", "echo ok"]})])
    assert session.strikes == 0
    assert not outs[-1].is_error
    assert outs[0].structured_content["stdout"] == page.read_text()


def test_read_tool_guesses_count_as_strikes(session: Any) -> None:
    outs = call(session, [
        ("secret_exists", {"key": f"app/{TOKEN}"}),
        ("secret_get_masked", {"key": TOKEN}),
        ("secret_get_field", {"key": "db/main", "field": "x" + TOKEN[2:14]}),
        ("secret_run", {"keys": ["app/*"], "command": "sh", "args": ["-c", "echo harmless"]}),
        ("secret_list", {"prefix": TOKEN}),  # locked or not, a guess is refused
        ("secret_exists", {"key": "app/token"}),  # an existing key is never a probe
    ])
    for o in outs[:3]:
        assert o.is_error
        assert "argument contains secret material" in text_of(o)
        assert TOKEN not in text_of(o) and "REDACTED" not in text_of(o)
    assert "locked for this session" in text_of(outs[3])
    assert "argument contains secret material" in text_of(outs[4])
    assert outs[5].structured_content["exists"] is True


def test_access_log_keeps_a_keyed_hash_of_a_guess_not_its_text(session: Any) -> None:
    guess = "x" + TOKEN[3:14] + "-tail"
    call(session, [("secret_run", {"keys": ["app/*"], "command": "echo", "args": [guess]}),
                   ("secret_run", {"keys": ["app/*"], "command": "echo", "args": [guess]})])
    log = pending_and_log(session.vault.root)
    assert TOKEN[3:14] not in log and "-tail" not in log and "REDACTED" not in log
    digests = [json.loads(line).get("argument", "") for line in log.splitlines()]
    digests = [d for d in digests if d.startswith("[hmac-sha256:")]
    assert len(digests) == 2 and digests[0] == digests[1]


def test_an_agent_runs_record_is_chained_before_the_result_returns(session: Any, alice: Member) -> None:
    root = session.vault.root
    (out,) = call(session, [("secret_run", {"keys": ["app/*"], "command": "sh", "args": ["-c", "echo $APP_TOKEN"]})])
    assert not out.is_error
    member_log = (root / ".secretctl/audit/alice.jsonl").read_text()
    assert '"action":"run"' in member_log and "app/token" in member_log
    assert not (root / ".git/secretctl/audit-pending.jsonl").read_text().strip()
    alice.run("set", "app/other", input=b"other-Value-Chained-1")  # the next commit carries the log
    assert "audit/alice.jsonl" in git(root, "show", "--name-only", "--format=", "HEAD")
    verify = alice.run("audit", "verify", check=False)
    assert "alice.jsonl" not in verify.stdout.decode() + verify.stderr.decode()  # the chain holds


def test_duration_comes_in_100_ms_steps(session: Any) -> None:
    outs = call(session, [("secret_run", {"keys": ["app/*"], "command": "true"})] * 3)
    for o in outs:
        assert o.structured_content["duration_ms"] % 100 == 0


async def cancelled_once_running(client: Any, args: dict[str, Any], pids: Path, tries: int = 300) -> asyncio.Task[Any]:
    """A secret_run call, cancelled once its command tree has written its three pids to ``pids``
    (or after ``tries`` looks, 50 ms apart)."""
    task = asyncio.create_task(client.call_tool("secret_run", args))
    for _ in range(tries):
        if pids.exists() and len(pids.read_text().split()) == 3:
            break
        await asyncio.sleep(0.05)
    task.cancel()
    return task


def holding(value: bytes) -> list[int]:
    """Processes (not zombies) whose environment holds ``value``."""
    out = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if alive(int(pid)) and value in Path(f"/proc/{pid}/environ").read_bytes():
                out.append(int(pid))
        except OSError:
            continue
    return out


def holders_after(value: bytes, wait: float = 5.0) -> list[int]:
    """Who still holds ``value`` after ``wait`` seconds; they are killed, so a failure leaves
    nothing behind."""
    deadline = time.monotonic() + wait
    while holding(value) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = holding(value)
    for p in left:
        os.kill(p, 9)
    return left


def _assert_no_process_holds(value: bytes) -> None:
    """Within 5 s no live process has ``value`` in its environment."""
    left = holders_after(value)
    assert not left, f"still running with the secret: {left}"


def test_a_cancelled_call_kills_the_whole_tree(session: Any, tmp_path: Path, alice: Member) -> None:
    # The pids the command writes are its sandbox's own: they are counted, never signalled from here.
    value = own_secret(alice, "app/cancel", b"cancel-Canary-")
    pids = tmp_path / "work" / "pids"
    script = f"sleep 60 & echo $! >> {pids}; setsid sleep 61 & echo $! >> {pids}; echo $$ >> {pids}; wait"
    from secretctl.mcp.server import build_server

    async def go() -> None:
        async with Client(build_server(session)) as client:
            task = await cancelled_once_running(client, {"keys": ["app/cancel"], "command": "sh",
                                                         "args": ["-c", script]}, pids, tries=200)
            with pytest.raises(asyncio.CancelledError):
                await task
            await client.call_tool("policy_show", {})  # the server is still serving

    started = time.monotonic()
    asyncio.run(go())
    assert len(pids.read_text().split()) == 3
    _assert_no_process_holds(value)
    assert time.monotonic() - started < 30


def test_uncommitted_sidecar_edits_never_steer_an_agent_run(session: Any, tmp_path: Path) -> None:
    root = session.vault.root
    sidecar = root / "db/main.meta.yaml"
    doc = yaml.safe_load(sidecar.read_text())
    for f in doc["fields"]:
        if f["name"] == "password":
            f["sensitive"] = False  # flipped: the agent would be handed the field
            f["value"] = "planted"
    doc["fields"].append({"name": "cfg", "sensitive": False, "value": str(tmp_path / "evil-kubeconfig")})
    doc["bindings"]["PGSERVICEFILE"] = "cfg"
    doc["bindings"]["EVIL_TARGET"] = "cfg"
    sidecar.write_text(yaml.safe_dump(doc, sort_keys=False))
    run, fields, field = call(session, [
        ("secret_run_with_bindings", {"key": "db/main", "command": "sh",
                                      "args": ["-c", "echo [$EVIL_TARGET] [$PGSERVICEFILE] $PGPASSWORD"]}),
        ("secret_list_fields", {"key": "db/main"}),
        ("secret_get_field", {"key": "db/main", "field": "password"}),
    ])
    assert not run.is_error, text_of(run)
    assert "evil-kubeconfig" not in text_of(run)
    assert run.structured_content["stdout"] == "[] [] [REDACTED:db/main:password]\n"
    assert {f["name"]: f["sensitive"] for f in fields.structured_content["fields"]}["password"] is True
    assert "EVIL_TARGET" not in fields.structured_content["bindings"]
    assert field.is_error and "sensitive" in text_of(field)


@pytest.mark.parametrize("how", ["cancel", "timeout"])
def test_over_stdio_a_cancelled_or_timed_out_call_kills_the_tree(alice: Member, mcp_vault: Path, tmp_path: Path,
                                                                 how: str) -> None:
    """The real `secretctl mcp-server` over stdio: the client cancels the call, or gives up on
    its own read timeout (and sends notifications/cancelled); the command and what it forked
    (one child left the group with setsid) are gone."""
    from mcp.client.stdio import StdioServerParameters
    from mcp.shared.exceptions import MCPError

    from tests.conftest import SECRETCTL

    # The command runs in the sandbox: it writes into the policy's workspace, and the pids it
    # writes are its own namespace's, so they are counted, never signalled from here.
    value = own_secret(alice, "app/cancel", b"cancel-Canary-")
    pids = tmp_path / "work" / "pids"
    script = f"sleep 60 & echo $! >> {pids}; setsid sleep 61 & echo $! >> {pids}; echo $$ >> {pids}; wait"
    params = StdioServerParameters(command=SECRETCTL, args=["mcp-server", "--vault", str(mcp_vault)],
                                   env=alice.env, cwd=str(mcp_vault))
    call_args = {"keys": ["app/cancel"], "command": "sh", "args": ["-c", script]}

    async def go() -> None:
        async with Client(params) as client:
            if how == "timeout":
                with pytest.raises(MCPError, match="timed out"):
                    await client.call_tool("secret_run", call_args, read_timeout_seconds=3)
            else:
                task = await cancelled_once_running(client, call_args, pids)
                with pytest.raises(asyncio.CancelledError):
                    await task
            assert not (await client.call_tool("policy_show", {})).is_error  # still serving

    asyncio.run(go())
    assert len(pids.read_text().split()) == 3
    _assert_no_process_holds(value)
