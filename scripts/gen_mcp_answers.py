"""Write secretctl/data/mcp-answers.json: what the SDK itself answers to `initialize` and `tools/list`,
per handshake revision it speaks, read off a real `secretctl mcp-server` started with
SECRETCTL_MCP_EARLY=0 (the SDK answers everything) on a throwaway vault. A cold server answers
those two requests from this file while it imports the SDK (secretctl/mcp/early.py).

    python scripts/gen_mcp_answers.py            # rewrite the file
    python scripts/gen_mcp_answers.py --check    # exit 1 if it differs from the SDK's answers

Run it after changing a tool (name, description, parameters, annotations), the server's
instructions, or the mcp SDK's version: tests/e2e/test_mcp_early.py fails until you do."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "secretctl" / "data" / "mcp-answers.json"
SECRETCTL = str(Path(sys.executable).with_name("secretctl"))
CLIENT = {"name": "gen-mcp-answers", "version": "1"}


def handshake_messages(version: str) -> list[dict[str, Any]]:
    """initialize (asking for ``version``), initialized, tools/list."""
    return [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize",
         "params": {"protocolVersion": version, "capabilities": {}, "clientInfo": CLIENT}},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
    ]


def modern_messages(version: str) -> list[dict[str, Any]]:
    """server/discover and tools/list in the 2026-07 envelope (what the mcp 2.x client sends)."""
    meta = {"_meta": {"io.modelcontextprotocol/protocolVersion": version,
                      "io.modelcontextprotocol/clientInfo": CLIENT,
                      "io.modelcontextprotocol/clientCapabilities": {}}}
    return [{"jsonrpc": "2.0", "id": 1, "method": "server/discover", "params": meta},
            {"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": meta}]


def handshake(env: dict[str, str], vault: Path, version: str, *, modern: bool = False) -> list[Any]:
    """The server's answers, in order, to the handshake and tools/list (``modern``: to their
    2026-07 forms), over a real stdio pipe."""
    msgs = modern_messages(version) if modern else handshake_messages(version)
    wanted = sum(1 for m in msgs if "id" in m)
    proc = subprocess.Popen([SECRETCTL, "mcp-server", "--vault", str(vault)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, cwd=vault)
    stdin, stdout = proc.stdin, proc.stdout
    if stdin is None or stdout is None:
        raise RuntimeError("no pipes")  # Popen with PIPE always gives both
    answers: list[Any] = []
    try:
        for m in msgs:
            stdin.write(json.dumps(m).encode() + b"\n")
            stdin.flush()
            if "id" in m:  # one at a time, as a client waits for each answer
                answers.append(json.loads(stdout.readline()))
        stdin.close()
        rest = stdout.read()  # nothing more: no answer twice
        answers += [json.loads(line) for line in rest.splitlines() if line.strip()]
    finally:
        proc.kill()
        proc.wait()
    if len(answers) < wanted:
        raise RuntimeError(f"the server answered {len(answers)} of {wanted} requests")
    return answers


class Home:
    """A throwaway home: an unprotected identity and an empty vault."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="secretctl-gen-"))
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("SECRETCTL_", "GIT_"))}
        self.env.update(HOME=str(self.root), SECRETCTL_CONFIG_DIR=str(self.root / "config"),
                        SECRETCTL_DATA_DIR=str(self.root / "data"), SECRETCTL_WARM="0",
                        GIT_CONFIG_GLOBAL=str(self.root / "gitconfig"), SECRETCTL_ACTOR="gen")
        (self.root / "gitconfig").write_text("[user]\n\tname = gen\n\temail = gen@example.com\n")
        self.vault = self.root / "vault"
        for args in (["identity", "new", "--no-passphrase"], ["init", str(self.vault), "--name", "gen"]):
            subprocess.run([SECRETCTL, *args], env=self.env, check=True, capture_output=True, cwd=self.root)

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def sdk_answers(home: Home) -> dict[str, Any]:
    from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS, LATEST_HANDSHAKE_VERSION, MODERN_PROTOCOL_VERSIONS

    env = {**home.env, "SECRETCTL_MCP_EARLY": "0"}
    runs = [(v, False) for v in HANDSHAKE_PROTOCOL_VERSIONS] + [(v, True) for v in MODERN_PROTOCOL_VERSIONS]
    # One server per revision, side by side (each mostly waits on its own SDK import).
    with ThreadPoolExecutor(len(runs)) as pool:
        got = list(pool.map(lambda r: handshake(env, home.vault, r[0], modern=r[1])[:2], runs))
    versions: dict[str, Any] = {}
    modern: dict[str, Any] = {}
    for (v, is_modern), (first, tools) in zip(runs, got, strict=True):
        opening = "server/discover" if is_modern else "initialize"
        (modern if is_modern else versions)[v] = {opening: first["result"], "tools/list": tools["result"]}
    # The SDK release they come from: a server with another one installed lets its SDK answer.
    sdk = {"mcp": metadata.version("mcp"), "mcp_types": metadata.version("mcp-types")}
    return {"latest": LATEST_HANDSHAKE_VERSION, "sdk": sdk, "versions": versions, "modern": modern}


def main() -> int:
    home = Home()
    try:
        answers = sdk_answers(home)
    finally:
        home.close()
    text = json.dumps(answers, indent=1, sort_keys=True) + "\n"
    if "--check" in sys.argv:
        if OUT.read_text() != text:
            print(f"{OUT.relative_to(ROOT)} differs from the SDK's answers: run scripts/gen_mcp_answers.py")
            return 1
        return 0
    OUT.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
