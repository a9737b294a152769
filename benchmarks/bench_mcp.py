"""MCP figures (issues 4 and 12), through a real `secretctl mcp-server` spawned over stdio:
tools/list after spawn, the first secret_run after spawn (it waits for the all-values redactor,
built on a thread) and the server's peak RSS on a VAULT_SIZE-secret vault, against the same
figures for a vault holding one secret (the floor: Python, the mcp SDK, the handshake), spawned in
turn, medians of SPAWNS; then secret_list (its first page, and every page in turn) and secret_run of
`true` against a bare subprocess spawn.

The same spawn figures are taken in three set-ups, interleaved: cold (SECRETCTL_PASSWORD in the
server's environment, no unlock agent: what the figures always measured), with the unlock agent
but SECRETCTL_WARM=0 (a cold start through the agent), and with the agent and its warm server
(`secretctl mcp-server` hands its stdio to a fork of a process that has imported the SDK). CPU is
that of the processes serving the session (the server, the launcher, their reaped children, and
what the unlock agent and the warm process spent meanwhile), read from /proc when the answer
arrives. A warm server goes stale when an installed file changes: do not edit the checkout while
this runs (the warm rows would quietly measure cold starts)."""

from __future__ import annotations

import asyncio
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import SECRETCTL, SMOKE, Env, fill, median_of, ms
from mcpprocs import Helpers, agent_pid, cpu_seconds, peak_rss_mb, serving, warm_pid

QUICK = "--quick" in sys.argv
VAULT_SIZE = (10 if SMOKE else 40) if QUICK else 10_000
RUNS = 2 if QUICK else 20
SPAWNS = 1 if QUICK else 3
KEY = "svc0/key0"


def _policy(env: Env, root: Path) -> None:
    (root / ".secretctl/policy.yaml").write_text('version: 1\nallowed_commands: ["true"]\n')
    subprocess.run(["git", "add", "-A"], cwd=root, check=True, env=env.env)
    subprocess.run(["git", "commit", "-qm", "policy"], cwd=root, check=True, env=env.env)


# set-up -> the server's environment on top of the bench's
SETUPS = {"cold": {"SECRETCTL_PASSWORD": "unused"}, "agent": {"SECRETCTL_WARM": "0"}, "warm": {}}


def _params(env: dict[str, str], root: Path) -> Any:
    from mcp.client.stdio import StdioServerParameters

    return StdioServerParameters(command=SECRETCTL, args=["mcp-server", "--vault", str(root)], env=env,
                                 cwd=str(root))


async def _spawn(params: Any, steady: bool, warm: int | None, helpers: list[int]) -> dict[str, float]:
    from mcp import Client

    spent = Helpers(helpers)

    def cpu() -> float:
        return sum(cpu_seconds(p) for p in serving(warm)) + spent.spent()

    start = time.perf_counter()
    out: dict[str, float] = {}
    async with Client(params) as client:
        await client.list_tools()
        out["tools"] = time.perf_counter() - start
        out["tools_cpu"] = cpu()
        await client.call_tool("secret_list", {})
        out["list"] = time.perf_counter() - start
        r = await client.call_tool("secret_run", {"keys": [KEY], "command": "true"})
        assert not r.is_error, r
        out["run"] = time.perf_counter() - start
        out["run_cpu"] = cpu()
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
            walks, pages = [], 0
            for _ in range(3):
                s, pages, cursor = time.perf_counter(), 0, None
                while True:
                    page = await client.call_tool("secret_list", {"cursor": cursor} if cursor else {})
                    pages += 1
                    cursor = (page.structured_content or {}).get("next_cursor")
                    if not cursor:
                        break
                walks.append(time.perf_counter() - s)
            out["walk_median"], out["pages"] = statistics.median(walks), pages
            out["run_median"] = statistics.median(runs)
        out["rss"] = peak_rss_mb(serving(warm))
    return out


def main() -> None:
    env = Env()
    runtime = Path(tempfile.mkdtemp(prefix="sc-bench-"))
    env.env["SECRETCTL_RUNTIME_DIR"] = str(runtime / "run")
    try:
        big = env.vault()
        fill(env.open(big), VAULT_SIZE)
        _policy(env, big)
        small = env.vault("small")
        fill(env.open(small), 1)
        _policy(env, small)
        env.run("unlock", "--timeout", "1h", "--idle", "1h")  # the identity is unprotected: no passphrase
        warm, agent = warm_pid(SECRETCTL, env.env), agent_pid(SECRETCTL, env.env)
        assert warm is not None, "unlock started no warm MCP server"
        assert agent is not None, "no unlock agent"
        figures: dict[str, list[dict[str, float]]] = {}
        # The suite's smoke run only checks that the script works: the small vault's spawns run the
        # same code as the big one's, and each costs a server start (about a second of CPU).
        vaults = (("big", big),) if SMOKE else (("small", small), ("big", big))
        for i in range(SPAWNS):
            for setup, extra in SETUPS.items():
                for name, root in vaults:
                    steady = name == "big" and i == 0 and setup == "cold"
                    got = asyncio.run(_spawn(_params({**env.env, **extra}, root), steady,
                                             warm if setup == "warm" else None,
                                             {"cold": [], "agent": [agent], "warm": [agent, warm]}[setup]))
                    figures.setdefault(f"{setup}/{name}", []).append(got)

        if SMOKE:
            figures.update({f"{setup}/small": figures[f"{setup}/big"] for setup in SETUPS})

        def med(key: str, field: str) -> float:
            return statistics.median(f[field] for f in figures[key])

        big_c, small_c = "cold/big", "cold/small"
        print(f"{VAULT_SIZE} secrets, from spawn (medians of {SPAWNS}, spawned in turn with a 1-secret vault): "
              f"tools/list after {med(big_c, 'tools'):.2f} s (1 secret: {med(small_c, 'tools'):.2f} s; "
              f"target <= 0.7 s); first secret_list after {med(big_c, 'list'):.2f} s "
              f"(1 secret: {med(small_c, 'list'):.2f} s); first secret_run after {med(big_c, 'run'):.2f} s "
              f"(1 secret: {med(small_c, 'run'):.2f} s; target <= 3 s)")
        print(f"peak RSS of the server: {med(big_c, 'rss'):.0f} MB (1 secret: {med(small_c, 'rss'):.0f} MB; "
              f"target <= 300 MB)")
        print("the same spawns by set-up, wall (CPU of the serving processes) medians, interleaved:")
        labels = {"cold": "cold, SECRETCTL_PASSWORD, no agent", "agent": "unlock agent, no warm server",
                  "warm": "with unlock agent and warm server"}
        for setup, label in labels.items():
            b, one = f"{setup}/big", f"{setup}/small"
            print(f"  {label}:")
            print(f"    tools/list after spawn, {VAULT_SIZE} secrets: {med(b, 'tools'):.2f} s "
                  f"(CPU {med(b, 'tools_cpu'):.2f} s; 1 secret {med(one, 'tools'):.2f} s); "
                  f"cold / this = {med(big_c, 'tools') / med(b, 'tools'):.1f}x (target <= 0.7 s)")
            print(f"    first secret_run, {VAULT_SIZE} secrets: {med(b, 'run'):.2f} s "
                  f"(CPU {med(b, 'run_cpu'):.2f} s; 1 secret {med(one, 'run'):.2f} s); "
                  f"cold / this = {med(big_c, 'run') / med(b, 'run'):.2f}x (target <= 3 s); "
                  f"peak RSS {med(b, 'rss'):.0f} MB")
        steady = figures[big_c][0]
        bare = median_of(lambda: subprocess.run(["true"], check=True), RUNS)
        print(f"secret_list, {VAULT_SIZE} secrets: median {ms(steady['list_median'])} for the first page "
              f"(target < 200 ms); every page ({steady['pages']:.0f} calls) median {ms(steady['walk_median'])}")
        print(f"secret_run of true: median {ms(steady['run_median'])}; bare subprocess spawn {ms(bare)}; "
              f"overhead {ms(steady['run_median'] - bare)} (target < 25 ms)")
    finally:
        subprocess.run([SECRETCTL, "lock"], env=env.env, capture_output=True, check=False)
        shutil.rmtree(runtime, ignore_errors=True)
        env.close()


if __name__ == "__main__":
    main()
