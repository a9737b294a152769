"""MCP figures (issue 4): secret_list on a large vault (in-process client), and secret_run of
`true` compared with a bare subprocess spawn in the same run."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time

from common import Env, fill, median_of, ms

QUICK = "--quick" in sys.argv
VAULT_SIZE = 40 if QUICK else 10_000
RUNS = 2 if QUICK else 30


def main() -> None:
    env = Env()
    try:
        root = env.vault()
        v = env.open(root)
        fill(v, VAULT_SIZE)
        (root / ".secretctl/policy.yaml").write_text('version: 1\nallowed_commands: ["true"]\n')
        subprocess.run(["git", "add", "-A"], cwd=root, check=True, env=env.env)
        subprocess.run(["git", "commit", "-qm", "policy"], cwd=root, check=True, env=env.env)
        os.chdir(root)
        from mcp import Client

        from secretctl.mcp.server import build_server
        from secretctl.service.session import AgentSession

        t = time.perf_counter()
        session = AgentSession(v, base_env=dict(os.environ))
        session.redactor  # noqa: B018 - built at start-up, as `secretctl mcp-server` does
        print(f"server start-up (decrypt {VAULT_SIZE} values, build the sanitizer): {time.perf_counter() - t:.1f} s")
        key = "svc1/key1"

        async def go() -> tuple[float, float, float]:
            async with Client(build_server(session)) as client:
                await client.call_tool("secret_list", {})
                lst = []
                for _ in range(RUNS):
                    s = time.perf_counter()
                    await client.call_tool("secret_list", {})
                    lst.append(time.perf_counter() - s)
                runs = []
                for _ in range(RUNS):
                    s = time.perf_counter()
                    r = await client.call_tool("secret_run", {"keys": [key], "command": "true"})
                    assert not r.is_error, r
                    runs.append(time.perf_counter() - s)
                lst.sort()
                runs.sort()
                bare = median_of(lambda: subprocess.run(["true"], check=True), RUNS)
                return lst[len(lst) // 2], runs[len(runs) // 2], bare

        lst, run, bare = asyncio.run(go())
        print(f"secret_list, {VAULT_SIZE} secrets: median {ms(lst)} (target < 200 ms)")
        print(f"secret_run of true: median {ms(run)}; bare subprocess spawn {ms(bare)}; overhead {ms(run - bare)} "
              f"(target < 25 ms)")
    finally:
        env.close()


if __name__ == "__main__":
    main()
