"""MCP figures (issues 4 and 12), through a real `secretctl mcp-server` spawned over stdio:
tools/list after spawn, the first secret_run after spawn (it waits for the all-values redactor,
built on a thread) and the server's peak RSS on a VAULT_SIZE-secret vault, against the same
figures for a vault holding one secret (the floor: Python, the mcp SDK, the handshake), spawned in
turn, medians of SPAWNS; then secret_list and secret_run of `true` against a bare subprocess spawn."""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from common import SECRETCTL, SMOKE, Env, fill, median_of, ms

QUICK = "--quick" in sys.argv
VAULT_SIZE = (10 if SMOKE else 40) if QUICK else 10_000
RUNS = 2 if QUICK else 20
SPAWNS = 1 if QUICK else 3
KEY = "svc0/key0"


def _children() -> list[int]:
    me = str(os.getpid())
    out = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/stat") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[1] == me:
                out.append(int(pid))
    return out


def _peak_rss_mb() -> float:
    peak = 0.0
    for pid in _children():
        try:
            with open(f"/proc/{pid}/status") as fh:
                for line in fh:
                    if line.startswith("VmHWM:"):
                        peak = max(peak, int(line.split()[1]) / 1024)
        except OSError:
            continue
    return peak


def _policy(env: Env, root: Path) -> None:
    (root / ".secretctl/policy.yaml").write_text('version: 1\nallowed_commands: ["true"]\n')
    subprocess.run(["git", "add", "-A"], cwd=root, check=True, env=env.env)
    subprocess.run(["git", "commit", "-qm", "policy"], cwd=root, check=True, env=env.env)


def _params(env: Env, root: Path) -> Any:
    from mcp.client.stdio import StdioServerParameters

    return StdioServerParameters(command=SECRETCTL, args=["mcp-server", "--vault", str(root)],
                                 env={**env.env, "SECRETCTL_PASSWORD": "unused"}, cwd=str(root))


async def _spawn(params: Any, steady: bool) -> dict[str, float]:
    from mcp import Client

    start = time.perf_counter()
    out: dict[str, float] = {}
    async with Client(params) as client:
        await client.list_tools()
        out["tools"] = time.perf_counter() - start
        await client.call_tool("secret_list", {})
        out["list"] = time.perf_counter() - start
        r = await client.call_tool("secret_run", {"keys": [KEY], "command": "true"})
        assert not r.is_error, r
        out["run"] = time.perf_counter() - start
        if steady:
            lst, runs = [], []
            for _ in range(RUNS):
                s = time.perf_counter()
                await client.call_tool("secret_list", {})
                lst.append(time.perf_counter() - s)
                s = time.perf_counter()
                await client.call_tool("secret_run", {"keys": [KEY], "command": "true"})
                runs.append(time.perf_counter() - s)
            out["list_median"] = statistics.median(lst)
            out["run_median"] = statistics.median(runs)
        out["rss"] = _peak_rss_mb()
    return out


def main() -> None:
    env = Env()
    try:
        big = env.vault()
        fill(env.open(big), VAULT_SIZE)
        _policy(env, big)
        small = env.vault("small")
        fill(env.open(small), 1)
        _policy(env, small)
        figures: dict[str, list[dict[str, float]]] = {"big": [], "small": []}
        for i in range(SPAWNS):
            for name, root in (("small", small), ("big", big)):
                figures[name].append(asyncio.run(_spawn(_params(env, root), steady=name == "big" and i == 0)))

        def med(name: str, field: str) -> float:
            return statistics.median(f[field] for f in figures[name])

        print(f"{VAULT_SIZE} secrets, from spawn (medians of {SPAWNS}, spawned in turn with a 1-secret vault): "
              f"tools/list after {med('big', 'tools'):.2f} s (1 secret: {med('small', 'tools'):.2f} s; "
              f"target <= 0.7 s); first secret_list after {med('big', 'list'):.2f} s "
              f"(1 secret: {med('small', 'list'):.2f} s); first secret_run after {med('big', 'run'):.2f} s "
              f"(1 secret: {med('small', 'run'):.2f} s; target <= 3 s)")
        print(f"peak RSS of the server: {med('big', 'rss'):.0f} MB (1 secret: {med('small', 'rss'):.0f} MB; "
              f"target <= 300 MB)")
        steady = figures["big"][0]
        bare = median_of(lambda: subprocess.run(["true"], check=True), RUNS)
        print(f"secret_list, {VAULT_SIZE} secrets: median {ms(steady['list_median'])} (target < 200 ms)")
        print(f"secret_run of true: median {ms(steady['run_median'])}; bare subprocess spawn {ms(bare)}; "
              f"overhead {ms(steady['run_median'] - bare)} (target < 25 ms)")
    finally:
        env.close()


if __name__ == "__main__":
    main()
