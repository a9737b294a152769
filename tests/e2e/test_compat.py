"""Spellings users of secretctl's Go CLI and MCP schema type: accepted, and meaning the same."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Member, expire_by_hand, git, stock_once


def test_format_env_is_dotenv(alice: Member, vault_dir: Path, tmp_path: Path) -> None:
    env_file = tmp_path / "app.txt"
    env_file.write_text("API_TOKEN=env-Value-123\nDB_URL=postgres://u@h/db\n")
    alice.run("import", str(env_file), "--format", "env", "--prefix", "app")
    assert alice.run("get", "app/API_TOKEN").stdout == b"env-Value-123"
    as_env = alice.run("export", "-k", "app/*", "--format", "env").stdout
    assert as_env == alice.run("export", "-k", "app/*", "--format", "dotenv").stdout
    assert b"APP_API_TOKEN=" in as_env


@pytest.mark.parametrize("flag", ["--conflict", "--on-conflict"])
def test_import_conflict(alice: Member, vault_dir: Path, tmp_path: Path, flag: str) -> None:
    alice.run("set", "K1", input=b"old-Value-111")
    f = tmp_path / "x.env"
    f.write_text("K1=new-Value-222\nK2=new-Value-333\n")
    refused = alice.run("import", str(f), flag, "error", check=False)
    assert refused.returncode == 2
    assert alice.run("get", "K1").stdout == b"old-Value-111"
    alice.run("import", str(f), flag, "skip")
    assert alice.run("get", "K1").stdout == b"old-Value-111"
    assert alice.run("get", "K2").stdout == b"new-Value-333"
    alice.run("import", str(f), flag, "overwrite")
    assert alice.run("get", "K1").stdout == b"new-Value-222"
    bad = alice.run("import", str(f), flag, "merge", check=False)
    assert bad.returncode == 2
    assert b"skip, overwrite or error" in bad.stderr


@pytest.mark.parametrize("argv", [["-t", "1s"], ["-t1s"], ["--timeout", "1s"]])
def test_run_t_is_the_timeout(alice: Member, vault_dir: Path, argv: list[str]) -> None:
    alice.run("set", "app/k", input=b"timeout-Value-1")
    start = time.monotonic()
    out = alice.run("run", "-k", "app/k", *argv, "--", "sleep", "30", check=False)
    assert out.returncode == 124, out.stderr
    assert time.monotonic() - start < 15


def test_run_refuses_an_expired_secret_unless_allowed(alice: Member, vault_dir: Path) -> None:
    alice.run("set", "app/old", input=b"expired-Value-1")
    alice.run("set", "app/fresh", input=b"fresh-Value-22")
    expire_by_hand(vault_dir, "app/old", alice.env)
    for argv in (["-k", "app/old"], ["-k", "app/*"]):
        out = alice.run("run", *argv, "--", "sh", "-c", "echo ran", check=False)
        assert out.returncode == 5, out.stderr
        assert b"ran" not in out.stdout
        assert b"app/old expired" in out.stderr
        assert b"--allow-expired" in out.stderr
    ok = alice.run("run", "-k", "app/*", "--allow-expired", "--", "sh", "-c", "echo ran $APP_OLD")
    assert ok.stdout == b"ran [REDACTED:app/old]\n"
    assert b"expired" in ok.stderr  # still warned
    assert alice.run("run", "-k", "app/fresh", "--", "true").returncode == 0


# ------------------------------------------------------------------- MCP
POLICY = """\
version: 1
default_action: deny
allowed_commands: [sleep, sh]
commands:
  sleep: {keys: ["app/*"]}
  sh: {keys: ["app/*"]}
limits: {timeout: 20s, max_output_bytes: 65536}
"""


@pytest.fixture
def session(alice: Member, vault_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    def stock() -> None:
        alice.run("set", "app/k", input=b"mcp-Value-12345")
        alice.run("set", "app/old", input=b"mcp-Old-Value-1")
        expire_by_hand(vault_dir, "app/old", alice.env)
        (vault_dir / ".secretctl/policy.yaml").write_text(POLICY)
        git(vault_dir, "add", ".secretctl/policy.yaml")
        git(vault_dir, "commit", "-qm", "policy", env=alice.env)
    stock_once("test_compat.session", alice, vault_dir, stock)
    for k, v in alice.env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.chdir(vault_dir)
    from secretctl.infra import settings
    from secretctl.service.session import AgentSession
    from secretctl.service.vault import Vault

    v = Vault(vault_dir, identity_path=settings.identity_path(), password=lambda: "", actor="alice")
    yield AgentSession(v, base_env=dict(os.environ))


def call(session: Any, name: str, args: dict[str, Any]) -> Any:
    from mcp import Client

    from secretctl.mcp.server import build_server

    async def go() -> Any:
        async with Client(build_server(session)) as client:
            return await client.call_tool(name, args)

    return asyncio.run(go())


@pytest.mark.parametrize("timeout", ["1s", 1, 1.0, "1"])
def test_mcp_timeout_as_duration_or_number(session: Any, timeout: object) -> None:
    start = time.monotonic()
    res = call(session, "secret_run", {"keys": ["app/k"], "command": "sleep", "args": ["30"], "timeout": timeout})
    assert not res.is_error, res.content
    assert res.structured_content["timed_out"] is True
    assert time.monotonic() - start < 15


@pytest.mark.parametrize("timeout", ["soon", "-5s", "", -1])
def test_mcp_bad_timeout_is_a_clear_tool_error(session: Any, timeout: object) -> None:
    res = call(session, "secret_run", {"keys": ["app/k"], "command": "sleep", "args": ["1"], "timeout": timeout})
    assert res.is_error
    text = " ".join(getattr(c, "text", "") for c in res.content)
    assert "timeout" in text and "internal error" not in text


def test_mcp_run_refuses_an_expired_secret(session: Any) -> None:
    res = call(session, "secret_run", {"keys": ["app/*"], "command": "sh", "args": ["-c", "echo ran"]})
    assert res.is_error
    text = " ".join(getattr(c, "text", "") for c in res.content)
    assert "app/old expired" in text
    assert "mcp-Old-Value-1" not in json.dumps(res.structured_content or {}) + text
