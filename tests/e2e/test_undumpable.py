"""The MCP server's memory and environment are closed to other processes of the same user.

The tests run as root, and root (CAP_SYS_PTRACE) reads any process's memory whatever its
dumpable flag: so the server and the reader both run as one unprivileged uid (65534) under
`setpriv`, as an agent's shell and the server it sits next to would.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import SECRETCTL, Member, git, make_member

pytest.importorskip("mcp")

from mcp import Client
from mcp.client.stdio import StdioServerParameters

UID = 65534
PASSWORD = "undumpable-Password-4242"
SETPRIV = shutil.which("setpriv")
pytestmark = pytest.mark.skipif(os.geteuid() != 0 or SETPRIV is None or not sys.platform.startswith("linux"),
                                reason="needs root (to switch to uid 65534) and setpriv, on Linux")

READER = r"""
import re, sys
pid = int(sys.argv[1]); needle = sys.argv[2].encode()
out = []
try:
    data = open(f"/proc/{pid}/environ", "rb").read()
    out.append("environ:leaked" if needle in data else "environ:read")
except PermissionError:
    out.append("environ:denied")
try:
    found = False
    with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", 0) as mem:
        for line in maps:
            m = re.match(r"([0-9a-f]+)-([0-9a-f]+) r", line)
            if not m or not ("[stack]" in line or "[heap]" in line):
                continue
            start, end = int(m.group(1), 16), int(m.group(2), 16)
            mem.seek(start)
            found = found or needle in mem.read(end - start)
    out.append("mem:leaked" if found else "mem:read")
except (PermissionError, OSError):
    out.append("mem:denied")
print(" ".join(out))
"""


def as_uid(argv: list[str]) -> list[str]:
    return [str(SETPRIV), f"--reuid={UID}", f"--regid={UID}", "--clear-groups", *argv]


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory uid 65534 can reach (pytest's own tmp dirs are 0700 root)."""
    d = Path(tempfile.mkdtemp(prefix="secretctl-undumpable-"))
    d.chmod(0o755)
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def nobody_vault(shared_dir: Path) -> tuple[Member, Path]:
    carol = make_member(shared_dir, "carol", password=PASSWORD)
    root = shared_dir / "vault"
    carol.run("init", str(root), "--name", "carol")
    carol.env["SECRETCTL_VAULT"] = str(root)
    carol.run("set", "app/token", input=b"tok-Undumpable-Canary-01")
    (root / ".secretctl/policy.yaml").write_text("version: 1\ndefault_action: deny\nallowed_commands: [\"true\"]\n")
    git(root, "add", ".secretctl/policy.yaml")
    git(root, "commit", "-qm", "policy", env=carol.env)
    subprocess.run(["chown", "-R", f"{UID}:{UID}", str(shared_dir)], check=True)
    return carol, root


def _server_pid(root: Path) -> int:
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
            status = Path(f"/proc/{entry}/status").read_text()
        except OSError:
            continue
        uid_line = next(ln for ln in status.splitlines() if ln.startswith("Uid:"))
        if b"mcp-server" in cmdline and str(root).encode() in cmdline and uid_line.split()[1] == str(UID):
            return int(entry)
    raise AssertionError("the server process was not found")


def test_a_same_user_process_cannot_read_the_servers_memory_or_environment(nobody_vault: tuple[Member, Path]) -> None:
    carol, root = nobody_vault
    params = StdioServerParameters(command=as_uid([SECRETCTL, "mcp-server", "--vault", str(root)])[0],
                                   args=as_uid([SECRETCTL, "mcp-server", "--vault", str(root)])[1:],
                                   env=carol.env, cwd=str(root))

    async def go() -> str:
        async with Client(params) as client:
            await client.list_tools()  # serving: the identity is unlocked, the password was read
            pid = _server_pid(root)
            reader = await asyncio.to_thread(
                subprocess.run, as_uid([sys.executable, "-c", READER, str(pid), PASSWORD]),
                capture_output=True, env={"PATH": os.environ.get("PATH", "")}, timeout=60, check=False)
            return reader.stdout.decode() + reader.stderr.decode()

    report = asyncio.run(go())
    assert "environ:denied" in report, report
    assert "mem:denied" in report, report


def test_the_cli_holding_a_password_is_not_readable_either(nobody_vault: tuple[Member, Path],
                                                          shared_dir: Path) -> None:
    """A hook git runs for secretctl reads its grandparent, the secretctl process, which was
    started with SECRETCTL_PASSWORD in its environment."""
    carol, root = nobody_vault
    out = shared_dir / "stolen.txt"
    hook = root / ".git/hooks/pre-commit"
    hook.write_text("#!/bin/sh\n"
                    "gp=$(awk '{print $4}' /proc/$PPID/stat)\n"
                    f"cat /proc/$gp/environ > {out} 2>/dev/null || echo denied > {out}\n")
    hook.chmod(0o755)
    subprocess.run(["chown", f"{UID}:{UID}", str(hook)], check=True)
    proc = subprocess.run(as_uid([SECRETCTL, "set", "app/other"]), input=b"other-Undumpable-02", env=carol.env,
                          cwd=str(root), capture_output=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert out.exists()
    assert PASSWORD.encode() not in out.read_bytes()
    assert out.read_bytes().strip() == b"denied"
