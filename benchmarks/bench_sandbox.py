"""The agent sandbox's cost (issue 11): `secret_run` of `true` through the in-process MCP client,
inside bubblewrap and with `sandbox: none`, measured in the same run, interleaved in blocks so
drift on a shared machine hits both alike. Target: at most 10 ms more per call (median)."""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import time

from common import SMOKE, Env, fill, ms

QUICK = "--quick" in sys.argv
CALLS = (2 if SMOKE else 20) if QUICK else 200
BLOCK = (1 if SMOKE else 10) if QUICK else 20
POLICY = 'version: 1\nallowed_commands: ["true"]\n'


def main() -> None:
    env = Env()
    try:
        root = env.vault()
        v = env.open(root)
        fill(v, 20)
        (root / ".secretctl/policy.yaml").write_text(POLICY)
        subprocess.run(["git", "add", "-A"], cwd=root, check=True, env=env.env)
        subprocess.run(["git", "commit", "-qm", "policy"], cwd=root, check=True, env=env.env)
        os.chdir(root)
        from mcp import Client

        from secretctl.core.policy import load_policy
        from secretctl.infra import sandbox
        from secretctl.mcp.server import build_server
        from secretctl.service.session import AgentSession

        eng = sandbox.engine()
        if eng is None:
            print("no sandbox engine on this machine: nothing to measure (target: n/a)")
            return
        boxed = AgentSession(v, policy=load_policy(POLICY, "p"), base_env=dict(os.environ))
        bare = AgentSession(v, policy=load_policy(POLICY + "sandbox: none\n", "p"), base_env=dict(os.environ))
        key = "svc1/key1"

        async def go() -> dict[str, list[float]]:
            times: dict[str, list[float]] = {"sandboxed": [], "unsandboxed": []}
            async with Client(build_server(boxed)) as cb, Client(build_server(bare)) as cn:
                clients = {"sandboxed": cb, "unsandboxed": cn}
                for c in clients.values():  # warm up: imports, caches, the program index
                    await c.call_tool("secret_run", {"keys": [key], "command": "true"})
                while len(times["sandboxed"]) < CALLS:
                    for name, c in clients.items():
                        for _ in range(BLOCK):
                            s = time.perf_counter()
                            r = await c.call_tool("secret_run", {"keys": [key], "command": "true"})
                            times[name].append(time.perf_counter() - s)
                            assert not r.is_error, r
                            expected = eng.name if name == "sandboxed" else "none"
                            assert r.structured_content["sandbox"] == expected, r
            return times

        times = asyncio.run(go())
        med = {k: statistics.median(v) for k, v in times.items()}
        diff = med["sandboxed"] - med["unsandboxed"]
        print(f"secret_run `true`, {CALLS} calls each via mcp.Client in-process ({eng.name}):")
        print(f"  unsandboxed (sandbox: none): median {ms(med['unsandboxed'])}")
        print(f"  sandboxed:                   median {ms(med['sandboxed'])}")
        print(f"  difference {diff * 1000:.1f} ms, ratio {med['sandboxed'] / med['unsandboxed']:.2f}x "
              f"(target: at most 10 ms more)")
    finally:
        env.close()


if __name__ == "__main__":
    main()
