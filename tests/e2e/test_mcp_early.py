"""A cold `secretctl mcp-server` answers `initialize` and `tools/list` before the SDK is imported
(secretctl/mcp/early.py), with exactly what the SDK answers, and then hands the session over
without a second answer to anything. Real servers over real pipes; SECRETCTL_MCP_EARLY=0 makes
the SDK answer everything (the reference)."""

from __future__ import annotations

import importlib.util
import json
import select
import subprocess
import time
from pathlib import Path
from typing import Any

from tests.conftest import SECRETCTL, Member

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("gen_mcp_answers", ROOT / "scripts" / "gen_mcp_answers.py")
assert _spec is not None and _spec.loader is not None
gen = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gen)

# Imported first by the server's Python (PYTHONPATH): `import mcp` waits until the gate file
# exists, so an answer that arrives meanwhile was written without the SDK.
GATE_HOOK = """
import os, sys, time
class _Gate:
    def find_spec(self, name, path=None, target=None):
        if name == "mcp":
            gate = os.environ["TEST_MCP_GATE"]
            open(gate + ".waiting", "w").close()
            while not os.path.exists(gate):
                time.sleep(0.01)
        return None
sys.meta_path.insert(0, _Gate())
"""


class Wire:
    def __init__(self, env: dict[str, str], vault: Path) -> None:
        self.proc = subprocess.Popen([SECRETCTL, "mcp-server", "--vault", str(vault)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=vault)

    def send(self, msg: Any) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(msg).encode() + b"\n")
        self.proc.stdin.flush()

    def answer(self, timeout: float = 30) -> Any:
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        assert ready, f"no answer within {timeout} s"
        return json.loads(self.proc.stdout.readline())

    def close(self) -> list[Any]:
        """Close stdin; the answers left (none, when each was read), and the server's exit."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.close()
        rest = [json.loads(x) for x in self.proc.stdout.read().splitlines() if x.strip()]
        assert self.proc.wait(timeout=30) == 0, self.proc.stderr.read() if self.proc.stderr else ""
        return rest


def env_of(alice: Member, **extra: str) -> dict[str, str]:
    return {**alice.env, "SECRETCTL_WARM": "0", **extra}


def test_the_recorded_answers_are_what_the_sdk_answers(alice: Member, vault_dir: Path) -> None:
    home = gen.Home.__new__(gen.Home)  # the test's own member and vault, not a second home
    home.env, home.vault = env_of(alice), vault_dir
    recorded = json.loads((ROOT / "secretctl" / "data" / "mcp-answers.json").read_text())
    assert gen.sdk_answers(home) == recorded, "run `make grammar` (scripts/gen_mcp_answers.py)"


def test_tools_list_is_answered_while_the_sdk_is_still_being_imported(alice: Member, vault_dir: Path,
                                                                      tmp_path: Path) -> None:
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(GATE_HOOK)
    gate = tmp_path / "gate"
    wire = Wire(env_of(alice, PYTHONPATH=str(hook), TEST_MCP_GATE=str(gate)), vault_dir)
    try:
        wire.send(gen.handshake_messages("2025-06-18")[0])
        init = wire.answer()
        wire.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        wire.send({"jsonrpc": "2.0", "id": 2, "method": "tools/list"})
        tools = wire.answer()
        assert not gate.exists()  # so no SDK was imported when those answers were written
        waiting = Path(str(gate) + ".waiting")
        deadline = time.monotonic() + 30
        while not waiting.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert waiting.exists()  # the SDK's import runs meanwhile, held at the gate
        assert init["result"]["protocolVersion"] == "2025-06-18"
        assert "secret_run" in {t["name"] for t in tools["result"]["tools"]}
        wire.send({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
                   "params": {"name": "secret_list", "arguments": {}}})
        gate.touch()  # the SDK may load now, and answers the call
        call = wire.answer()
        assert call["id"] == 3
        assert call["result"]["structuredContent"] == {"secrets": [], "total": 0, "next_cursor": None}
        assert wire.close() == []  # nothing answered twice (the SDK's own initialize answer dropped)
    finally:
        gate.touch()
        wire.proc.kill()
        wire.proc.wait()


def session(env: dict[str, str], vault: Path) -> list[Any]:
    msgs: list[Any] = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize",
         "params": {"protocolVersion": "1999-01-01", "capabilities": {"roots": {}}, "clientInfo": gen.CLIENT}},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": "two", "method": "tools/list"},
        {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "policy_show", "arguments": {}}},
        {"jsonrpc": "2.0", "id": 4, "method": "tools/list"},
        {"jsonrpc": "2.0", "id": 5, "method": "ping"},
        {"jsonrpc": "2.0", "id": 6, "method": "tools/call",
         "params": {"name": "secret_list", "arguments": {"limit": 0}}},
    ]
    wire = Wire(env, vault)
    out = []
    for m in msgs:
        wire.send(m)
        if "id" in m:
            out.append(wire.answer())
    return out + wire.close()


def test_a_session_reads_the_same_with_early_answers_as_from_the_sdk_alone(alice: Member, vault_dir: Path) -> None:
    early = session(env_of(alice), vault_dir)
    sdk = session(env_of(alice, SECRETCTL_MCP_EARLY="0"), vault_dir)
    assert [a["id"] for a in early] == [1, "two", 3, 4, 5, 6]
    assert early == sdk
    assert early[-1]["result"]["isError"] is True


def test_a_call_reusing_the_id_of_an_initialize_the_sdk_refused_is_still_answered(alice: Member,
                                                                                 vault_dir: Path) -> None:
    wire = Wire(env_of(alice), vault_dir)
    try:
        wire.send({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                   "params": {"protocolVersion": "2025-06-18", "capabilities": {"roots": 5}, "clientInfo": gen.CLIENT}})
        assert "result" in wire.answer()  # the early answer: the loop does not judge capabilities
        wire.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        wire.send({"jsonrpc": "2.0", "id": 1, "method": "ping"})  # the SDK refuses the replayed initialize
        answer = wire.answer()
        assert answer["id"] == 1
        assert answer.get("result") == {}, answer  # the ping's answer, not dropped for the handshake's
        assert wire.close() == []
    finally:
        wire.proc.kill()
        wire.proc.wait()


def test_the_mcp_client_reads_the_same_session_with_early_answers(alice: Member, vault_dir: Path,
                                                                  tmp_path: Path) -> None:
    """The mcp 2.x client opens in the 2026-07 era (server/discover, then requests in the
    envelope): the wire, recorded on both sides of a real server, is the same with early answers
    as from the SDK alone."""
    import asyncio

    from mcp import Client
    from mcp.client.stdio import StdioServerParameters

    def wire(early: str) -> list[Any]:
        log = tmp_path / f"out-{early}.log"
        cmd = f'"{SECRETCTL}" mcp-server --vault "{vault_dir}" | tee "{log}"'
        params = StdioServerParameters(command="sh", args=["-c", cmd], cwd=str(vault_dir),
                                       env=env_of(alice, SECRETCTL_MCP_EARLY=early))

        async def go() -> None:
            async with Client(params) as client:
                await client.list_tools()
                await client.call_tool("secret_list", {"limit": 5})
                await client.list_tools()

        asyncio.run(go())
        return [json.loads(x) for x in log.read_text().splitlines() if x.strip()]

    early, sdk = wire("1"), wire("0")
    assert [a.get("id") for a in early] == [1, 2, 3, 4]
    assert early == sdk
