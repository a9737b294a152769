"""The MCP server on a vault of allvalues.FEED_MIN secrets, over stdio, as an agent meets it: the
server forks one collector at start (it reads and decrypts every value for the first all-values
build), and that child is gone before the first secret_run's command starts; the redactor it fed
knows every value, also one the run was not given and finds in its workspace."""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SECRETCTL, Member
from tests.e2e.test_run_cli import commit_policy

pytest.importorskip("mcp")

from mcp import Client
from mcp.client.stdio import StdioServerParameters

from secretctl.service import allvalues

POLICY = """\
version: 1
default_action: deny
allowed_commands: [sh]
commands:
  sh: {keys: ["svc/*"], read: [WORK]}
limits: {timeout: 20s}
"""


def _kids(pid: int) -> set[int]:
    """The children of every thread of ``pid`` (Linux's /proc/PID/task/TID/children)."""
    out: set[int] = set()
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as fh:
                out.update(int(c) for c in fh.read().split())
    except OSError:
        pass
    return out


def _comm(pid: int) -> str:
    """The process's name (readable for a non-dumpable process too); "" once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split("(", 1)[1].rsplit(")", 1)[0]
    except (OSError, IndexError):
        return ""


@pytest.fixture
def big_vault(alice: Member, vault_dir: Path, tmp_path: Path) -> tuple[Path, dict[str, str], Path]:
    values = {f"svc/k{i:04d}": f"svc-{i}-{os.urandom(9).hex()}" for i in range(allvalues.FEED_MIN)}
    src = tmp_path / "values.json"
    src.write_text(json.dumps(values))
    alice.run("import", str(src))
    src.unlink()
    work = tmp_path / "work"
    work.mkdir()
    commit_policy(vault_dir, alice, POLICY.replace("WORK", str(work)))
    return vault_dir, values, work


@pytest.mark.skipif(not os.path.exists(f"/proc/{os.getpid()}/task/{os.getpid()}/children"),
                    reason="watches the server's children in /proc")
def test_the_collector_is_gone_before_the_first_run_and_its_redactor_knows_every_value(
        alice: Member, big_vault: tuple[Path, dict[str, str], Path]) -> None:
    root, values, work = big_vault
    planted = values["svc/k0777"]  # a value the run is not given, met in a file of its workspace
    (work / "found.txt").write_text(f"left by an earlier run: {planted}\n")
    params = StdioServerParameters(command=SECRETCTL, args=["mcp-server", "--vault", str(root)],
                                   env={**alice.env, "SECRETCTL_WARM": "0"}, cwd=str(root))
    seen: dict[int, list[float]] = {}  # pid -> [first seen, last seen]
    stop = threading.Event()

    def watch() -> None:
        # The server is a child of this process; what it forks runs under its name (git, bwrap
        # and the command do too, but only for the instant between their fork and exec).
        while not stop.is_set():
            now = time.monotonic()
            for server in _kids(os.getpid()):
                name = _comm(server)
                for p in _kids(server):
                    if name and _comm(p) == name:
                        seen.setdefault(p, [now, now])[1] = now
            time.sleep(0.005)

    async def go() -> tuple[Any, set[int], set[int]]:
        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        async with Client(params) as client:
            await client.list_tools()
            run = await client.call_tool("secret_run", {"keys": ["svc/k0001"], "command": "sh", "args": [
                "-c", f'echo "$SVC_K0001" | rev; cat {work / "found.txt"}']})
            # Every process the server had forked before the run answered, bar the command's own
            # (started and reaped inside the call), is gone by now: the collector was reaped
            # before the command started, since runs wait for the build that reads it.
            collectors = {p for p, (first, last) in seen.items() if last - first > 0.05}
            return run, collectors, {p for p in collectors if os.path.exists(f"/proc/{p}")}

    try:
        run, collectors, alive = asyncio.run(go())
    finally:
        stop.set()
    assert not run.is_error, run
    out = run.structured_content["stdout"]
    # A value the run was not given is redacted without its name (the agent was not given it).
    assert out == "[REDACTED:svc/k0001]\nleft by an earlier run: [REDACTED]\n"
    assert planted not in out and values["svc/k0001"][::-1] not in out
    assert len(collectors) == 1, seen
    assert alive == set()
