"""The MCP server with the real client: in-process (`Client(server)`) and over stdio against the
installed `secretctl mcp-server`."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SECRETCTL, Member, expire_by_hand, git, stock_once

pytest.importorskip("mcp")

from mcp import Client
from mcp.client.stdio import StdioServerParameters

VALUES = {
    "aws/access_key_id": b"AKIAZZZ-Mcp-Canary-01",
    "aws/secret_access_key": b"mcp/Canary+Secret=Key_0987654321xyzABC",
    "app/token": b"tok-MCP-Canary-Value-55",
    "svc/pin": b"9Zq4!",
}
DB_PASSWORD = b"pg-MCP-Canary-Pass-77"
POLICY = """\
version: 1
default_action: deny
allowed_commands: [echo, sh, cat, "true", python3]
commands:
  echo: {keys: ["app/*", "aws/**"], expand: true}
  sh: {keys: ["aws/**", "app/*", "db/*", "svc/*"], workspace: [WORK]}
  cat: {keys: ["app/*"], read: [WORK]}
  python3: {keys: ["app/*"]}
limits: {timeout: 20s, max_output_bytes: 65536}
mcp: {allow_generate: true, strike_limit: 3}
"""


@pytest.fixture
def mcp_vault(alice: Member, vault_dir: Path) -> Path:
    def stock() -> None:  # the secrets: the same for every test, so made once per worker
        for key, value in VALUES.items():
            alice.run("set", key, input=value)
        alice.run("set", "db/main", "--field", "host=db.internal", "--field", "user=app", "--field", "password",
                  "--public", "host", "--public", "user",
                  "--binding", "PGHOST=host", "--binding", "PGUSER=user", "--binding", "PGPASSWORD=password",
                  input=DB_PASSWORD + b"\n")
        alice.run("set", "old/expired", input=b"expired-Value-123")
        expire_by_hand(vault_dir, "old/expired", alice.env)
    stock_once("test_mcp.mcp_vault", alice, vault_dir, stock)
    # Agent commands run in the sandbox: they see only the folder the policy names.
    work = vault_dir.parent / "work"
    work.mkdir()
    (vault_dir / ".secretctl/policy.yaml").write_text(POLICY.replace("WORK", str(work)))
    git(vault_dir, "add", ".secretctl/policy.yaml")
    git(vault_dir, "commit", "-qm", "policy", env=alice.env)
    return vault_dir


def all_forms() -> list[bytes]:
    out = []
    for v in [*VALUES.values(), DB_PASSWORD]:
        if len(v) < 8:
            continue
        out += [v, base64.b64encode(v), base64.b64encode(v).rstrip(b"="), v.hex().encode(), v[::-1], v[2:12]]
    return out


def text_of(result: Any) -> str:
    parts = [json.dumps(result.structured_content)] if result.structured_content else []
    parts += [getattr(c, "text", "") for c in result.content]
    return "\n".join(parts)


@pytest.fixture
def session(alice: Member, mcp_vault: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for k, v in alice.env.items():
        monkeypatch.setenv(k, v)
    for k in [k for k in os.environ if k.startswith("SECRETCTL_") and k not in alice.env]:
        monkeypatch.delenv(k)
    monkeypatch.chdir(mcp_vault)
    from secretctl.infra import settings
    from secretctl.service.session import AgentSession
    from secretctl.service.vault import Vault

    v = Vault(mcp_vault, identity_path=settings.identity_path(), password=lambda: "", actor="alice")
    yield AgentSession(v, base_env=dict(os.environ))


def call(session: Any, calls: list[tuple[str, dict[str, Any]]]) -> list[Any]:
    from secretctl.mcp.server import build_server

    async def go() -> list[Any]:
        out = []
        async with Client(build_server(session)) as client:
            for name, args in calls:
                out.append(await client.call_tool(name, args))
        return out

    return asyncio.run(go())


def test_tool_list_schemas_and_annotations(session: Any) -> None:
    from secretctl.mcp.server import build_server

    async def go() -> Any:
        async with Client(build_server(session)) as client:
            return await client.list_tools(), client.server_capabilities

    tools, _ = asyncio.run(go())
    by_name = {t.name: t for t in tools.tools}
    assert set(by_name) == {"secret_list", "secret_exists", "secret_get_masked", "secret_run", "secret_list_fields",
                            "secret_get_field", "secret_run_with_bindings", "policy_show", "secret_generate"}
    assert by_name["secret_run"].input_schema["required"] == ["keys", "command"]
    assert set(by_name["secret_run"].input_schema["properties"]) == {"keys", "command", "args", "timeout",
                                                                     "env_prefix", "env"}
    for name in ("secret_list", "secret_exists", "secret_get_masked", "secret_list_fields", "secret_get_field",
                 "policy_show"):
        assert by_name[name].annotations.read_only_hint is True
    assert by_name["secret_run"].annotations.open_world_hint is True
    assert "$ENV_NAME" in (by_name["secret_run"].description or "")


def test_read_tools(session: Any) -> None:
    lst, exists, missing, masked, fields, host, pw = call(session, [
        ("secret_list", {}), ("secret_exists", {"key": "app/token"}), ("secret_exists", {"key": "app/nope"}),
        ("secret_get_masked", {"key": "app/token"}), ("secret_list_fields", {"key": "db/main"}),
        ("secret_get_field", {"key": "db/main", "field": "host"}),
        ("secret_get_field", {"key": "db/main", "field": "password"}),
    ])
    keys = [s["key"] for s in lst.structured_content["secrets"]]
    assert "app/token" in keys
    assert "db/main" in keys
    expired = next(s for s in lst.structured_content["secrets"] if s["key"] == "old/expired")
    assert expired["expired"] is True
    assert exists.structured_content["exists"] is True
    assert missing.structured_content["exists"] is False
    assert masked.structured_content == {"key": "app/token", "masked_value": "****e-55", "value_length": 23}
    names = {f["name"]: f["sensitive"] for f in fields.structured_content["fields"]}
    assert names == {"host": False, "user": False, "password": True}
    assert host.structured_content["value"] == "db.internal"
    assert pw.is_error
    assert "sensitive" in text_of(pw)


def test_secret_list_pages_through_the_client(session: Any) -> None:
    whole, first, second, bad = call(session, [
        ("secret_list", {}), ("secret_list", {"limit": 4}),
        ("secret_list", {"limit": 4, "cursor": "db/main"}), ("secret_list", {"limit": 0})])
    keys = [s["key"] for s in whole.structured_content["secrets"]]
    assert keys == sorted(keys) and len(keys) == 6
    assert (whole.structured_content["total"], whole.structured_content["next_cursor"]) == (6, None)
    assert [s["key"] for s in first.structured_content["secrets"]] == keys[:4]
    assert first.structured_content["next_cursor"] == keys[3] == "db/main"
    assert [s["key"] for s in second.structured_content["secrets"]] == keys[4:]
    assert bad.is_error
    assert "limit must be between 1 and 1000" in text_of(bad)


def test_secret_run_injects_and_redacts(session: Any) -> None:
    r, b, = call(session, [
        ("secret_run", {"keys": ["app/token"], "command": "echo", "args": ["token=$APP_TOKEN"]}),
        ("secret_run_with_bindings", {"key": "db/main", "command": "sh",
                                      "args": ["-c", 'echo "$PGHOST $PGUSER $PGPASSWORD"']}),
    ])
    assert not r.is_error
    assert r.structured_content["stdout"] == "token=[REDACTED:app/token]\n"
    assert r.structured_content["sanitized"] is True
    assert b.structured_content["stdout"] == "db.internal app [REDACTED:db/main:password]\n"


def test_denials(session: Any) -> None:
    outs = call(session, [
        ("secret_run", {"keys": ["app/token"], "command": "printenv"}),
        ("secret_run", {"keys": ["app/token"], "command": "ls"}),
        ("secret_run", {"keys": ["aws/*"], "command": "cat", "args": ["/etc/hostname"]}),
        ("secret_run", {"keys": ["nope/*"], "command": "echo"}),
        ("secret_get_masked", {"key": "../../etc/passwd"}),
    ])
    texts = [text_of(o) for o in outs]
    assert all(o.is_error for o in outs)
    assert "command not allowed: printenv (always blocked" in texts[0]
    assert "command not allowed: ls" in texts[1]
    assert "keys not allowed for cat" in texts[2]
    assert "no secret matches nope/*" in texts[3]
    assert "invalid key name" in texts[4]
    for t in texts:
        assert "Traceback" not in t


def test_leak_hunt(session: Any, tmp_path: Path) -> None:
    dump = tmp_path / "work" / "dump.txt"
    attempts: list[tuple[str, dict[str, Any]]] = [
        ("secret_run", {"keys": ["aws/**"], "command": "sh", "args": ["-c", "echo $AWS_SECRET_ACCESS_KEY"]}),
        ("secret_run", {"keys": ["aws/**"], "command": "sh",
                        "args": ["-c", "printf %s $AWS_SECRET_ACCESS_KEY | base64"]}),
        ("secret_run", {"keys": ["aws/**"], "command": "sh",
                        "args": ["-c", "printf %s $AWS_SECRET_ACCESS_KEY | od -An -tx1"]}),
        ("secret_run", {"keys": ["aws/**"], "command": "sh",
                        "args": ["-c", "printf %s $AWS_SECRET_ACCESS_KEY | fold -w 5"]}),
        ("secret_run", {"keys": ["aws/**"], "command": "sh", "args": ["-c", "printf %s $AWS_ACCESS_KEY_ID | rev"]}),
        ("secret_run", {"keys": ["aws/**"], "command": "sh",
                        "args": ["-c", "echo $AWS_SECRET_ACCESS_KEY | base64 | base64"]}),
        ("secret_run", {"keys": ["aws/**"], "command": "sh",
                        "args": ["-c", "echo $AWS_SECRET_ACCESS_KEY | gzip | base64"]}),
        ("secret_run", {"keys": ["app/*"], "command": "python3",
                        "args": ["-c", "import os; t = os.environ['APP_TOKEN']; print(' '.join(t)); "
                                 "print(t.encode().hex())"]}),
        ("secret_run", {"keys": ["aws/**"], "command": "sh",
                        "args": ["-c", f"echo $AWS_ACCESS_KEY_ID > {dump}; echo written"]}),
        # A later call with no keys reads the file back: the session knows every value.
        ("secret_run", {"keys": [], "command": "cat", "args": [str(dump)]}),
        ("secret_run", {"keys": ["svc/*"], "command": "sh", "args": ["-c", "echo $SVC_PIN"]}),
        ("secret_run_with_bindings", {"key": "db/main", "command": "sh",
                                      "args": ["-c", "echo $PGPASSWORD; echo $PGPASSWORD | base64 >&2"]}),
        ("secret_get_masked", {"key": "aws/secret_access_key"}),
        ("secret_exists", {"key": "tok-MCP-Canary-Value-55"}),
        ("secret_get_field", {"key": "db/main", "field": "password"}),
        ("secret_list", {"prefix": "app/"}),
        ("policy_show", {}),
    ]
    results = call(session, attempts)
    # The access log (committed with the next change) must not hold what the agent typed either.
    blob = "\n".join(text_of(r) for r in results).encode()
    blob += (session.vault.root / ".git/secretctl/audit-pending.jsonl").read_bytes()
    for form in all_forms():
        assert form not in blob, form
    assert b"[REDACTED:aws/access_key_id]" in blob


def test_oracle_defence_locks_secret_run(session: Any) -> None:
    guesses = [("secret_run", {"keys": ["app/*"], "command": "echo", "args": [VALUES["app/token"].decode()]}),
               ("secret_run", {"keys": ["app/*"], "command": "echo",
                               "args": ["x" + VALUES["app/token"][3:14].decode()]}),
               ("secret_run", {"keys": ["app/*"], "command": "echo",
                               "args": [base64.b64encode(VALUES["app/token"]).decode()]}),
               ("secret_run", {"keys": ["app/*"], "command": "echo", "args": ["harmless"]})]
    outs = call(session, guesses)
    for o in outs[:3]:
        assert o.is_error
        assert "argument contains secret material" in text_of(o)
    assert outs[3].is_error
    assert "locked for this session" in text_of(outs[3])
    pending = (session.vault.root / ".git/secretctl/audit-pending.jsonl").read_text()
    assert "locked" in pending
    assert VALUES["app/token"].decode() not in pending


def test_generate_stores_a_value_nobody_sees(session: Any, alice: Member) -> None:
    (gen,) = call(session, [("secret_generate", {"key": "agent/new", "length": 40})])
    assert gen.structured_content == {"key": "agent/new", "stored": True, "length": 40}
    value = alice.run("get", "agent/new").stdout
    assert len(value) == 40
    assert value.decode() not in text_of(gen)
    assert "Secretctl-Action: set" in git(session.vault.root, "log", "-1", "--format=%B")


# ------------------------------------------------------------------- stdio
def stdio_calls(alice: Member, root: Path, calls: list[tuple[str, dict[str, Any]]],
                env: dict[str, str] | None = None) -> list[Any]:
    params = StdioServerParameters(command=SECRETCTL, args=["mcp-server", "--vault", str(root)],
                                   env={**alice.env, **(env or {})}, cwd=str(root))

    async def go() -> list[Any]:
        out = []
        async with Client(params) as client:
            tools = await client.list_tools()
            out.append(tools)
            for name, args in calls:
                out.append(await client.call_tool(name, args))
        return out

    return asyncio.run(go())


def test_stdio_server(alice: Member, mcp_vault: Path) -> None:
    tools, run, masked = stdio_calls(alice, mcp_vault, [
        ("secret_run", {"keys": ["aws/**"], "command": "sh", "args": ["-c", "echo $AWS_SECRET_ACCESS_KEY"]}),
        ("secret_get_masked", {"key": "app/token"}),
    ])
    assert len(tools.tools) == 9
    assert run.structured_content["stdout"] == "[REDACTED:aws/secret_access_key]\n"
    assert masked.structured_content["masked_value"] == "****e-55"


def test_stdio_server_refuses_to_start_with_a_wrong_password(tmp_path: Path) -> None:
    """Without any password it serves "vault locked" answers instead: tests/e2e/test_unlock_mcp.py."""
    import subprocess

    from tests.conftest import make_member

    carol = make_member(tmp_path, "carol", password="pw-for-carol")
    root = tmp_path / "v"
    carol.run("init", str(root), "--name", "carol")
    env = {k: v for k, v in carol.env.items() if k != "SECRETCTL_PASSWORD"}
    wrong = subprocess.run([SECRETCTL, "mcp-server", "--vault", str(root)], env={**env, "SECRETCTL_PASSWORD": "no"},
                           input=b"", capture_output=True, timeout=60)
    assert wrong.returncode == 4
    assert b"wrong password" in wrong.stderr


def test_cli_does_not_import_mcp(alice: Member, vault_dir: Path) -> None:
    import subprocess
    import sys

    code = ("import sys; from secretctl.cli import main; sys.argv=['secretctl','list'];\n"
            "try:\n    main.main()\nexcept SystemExit: pass\nprint('mcp' in sys.modules, file=sys.stderr)")
    out = subprocess.run([sys.executable, "-c", code], env=alice.env, capture_output=True, cwd=vault_dir)
    assert out.stderr.strip().endswith(b"False")


def test_value_written_in_one_call_is_redacted_when_read_back_with_no_keys(session: Any, tmp_path: Path) -> None:
    dump = tmp_path / "work" / "carry.txt"
    write, read = call(session, [
        ("secret_run", {"keys": ["aws/**"], "command": "sh", "args": ["-c", f"echo $AWS_ACCESS_KEY_ID > {dump}"]}),
        ("secret_run", {"keys": [], "command": "cat", "args": [str(dump)]}),
    ])
    assert not write.is_error
    assert dump.read_bytes() == VALUES["aws/access_key_id"] + b"\n"
    # The marker does not name a secret this run did not inject.
    assert read.structured_content["stdout"] == "[REDACTED]\n"


def test_a_fragment_in_another_case_or_inside_an_escape_sequence_is_redacted(session: Any) -> None:
    # Issue 12, through the real server and sandbox: `cut -c2- | tr a-z A-Z` of the token (a
    # fragment in upper case), and the token in upper case inside an OSC title (a terminal hides
    # it; the agent reads the bytes). Both passed before.
    frag, osc = call(session, [
        ("secret_run", {"keys": ["app/token"], "command": "sh",
                        "args": ["-c", "printenv APP_TOKEN | cut -c2- | tr a-z A-Z"]}),
        ("secret_run", {"keys": ["app/token"], "command": "sh",
                        "args": ["-c", "printf '\\033]0;%s\\007\\n' \"$(printenv APP_TOKEN | tr a-z A-Z)\""]}),
    ])
    assert frag.structured_content["stdout"] == "[REDACTED:app/token]\n", text_of(frag)
    shown = osc.structured_content["stdout"]
    assert "CANARY" not in shown and "[REDACTED:app/token]" in shown, shown


def test_read_tools_answer_while_the_redactor_builds(session: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    from secretctl.service.session import AgentSession

    slow = AgentSession.values_redactor

    def built_slowly(*args: Any, **kwargs: Any) -> Any:
        time.sleep(3)  # a 10,000-secret vault takes seconds to decrypt and compile
        return slow(*args, **kwargs)

    monkeypatch.setattr(AgentSession, "values_redactor", staticmethod(built_slowly))
    session.start_redactor()
    start = time.monotonic()
    listed, run = call(session, [
        ("secret_list", {"prefix": "app/"}),
        ("secret_run", {"keys": ["app/*"], "command": "sh", "args": ["-c", "echo $APP_TOKEN"]}),
    ])
    assert [s["key"] for s in listed.structured_content["secrets"]] == ["app/token"]
    assert run.structured_content["stdout"] == "[REDACTED:app/token]\n"  # the run waited for the redactor
    assert time.monotonic() - start >= 2.5


def test_public_fields_are_never_partly_redacted(alice: Member, session: Any) -> None:
    # The URL holds the host and user fields of db/main: printing them must not show a fragment
    # marker, nor name a secret the run was not given.
    alice.run("set", "app/database_url", input=b"postgres://app:" + DB_PASSWORD + b"@db.internal:5432/app")
    (out,) = call(session, [("secret_run_with_bindings", {
        "key": "db/main", "command": "sh", "args": ["-c", "echo $PGHOST:5432/app $PGUSER; echo $PGPASSWORD"]})])
    assert not out.is_error, text_of(out)
    assert out.structured_content["stdout"] == "db.internal:5432/app app\n[REDACTED:db/main:password]\n"


def test_cli_agent_mode_never_partly_redacts_a_public_field(alice: Member, mcp_vault: Path) -> None:
    # The same all-values redactor as the MCP server's (service/allvalues): it knows db/main's
    # public fields, so the host inside app/database_url's value is not a fragment of it.
    alice.run("set", "app/database_url", input=b"postgres://app:" + DB_PASSWORD + b"@db.internal:5432/app")
    out = alice.run("run", "-k", "db/main", "--", "sh", "-c", "echo $PGHOST:5432/app $PGUSER; echo $PGPASSWORD",
                    env={"SECRETCTL_AGENT": "1", "SECRETCTL_PASSWORD": ""}, cwd=mcp_vault)
    assert out.stdout == b"db.internal:5432/app app\n[REDACTED:db/main:password]\n", out.stderr


def test_an_uncommitted_sidecar_edit_cannot_unredact_an_injected_field(alice: Member, mcp_vault: Path,
                                                                         session: Any) -> None:
    # Attack: the work tree's sidecar calls a sensitive field public (uncommitted). A run injects
    # it as HEAD says (sensitive); the all-values redactor, built from the work tree, leaves it
    # out, so the run itself must cover what it injects.
    alice.run("set", "svc/conn", "--field", "region=eu-west-1", "--public", "region", "--field", "dsn",
              "--binding", "DSN=dsn", input=b"dsn-MCP-Canary-Conn-4521\n")
    sidecar = mcp_vault / "svc/conn.meta.yaml"
    text = sidecar.read_text()
    assert text.count("sensitive: true") == 1  # dsn
    sidecar.write_text(text.replace("sensitive: true", "sensitive: false"))
    (out,) = call(session, [("secret_run_with_bindings", {"key": "svc/conn", "command": "sh",
                                                          "args": ["-c", "echo $DSN"]})])
    assert out.structured_content["stdout"] == "[REDACTED:svc/conn:dsn]\n", text_of(out)


def test_the_detector_cache_holds_no_value(alice: Member, session: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from secretctl.core.redact.shapes import Shapes

    monkeypatch.setattr(Shapes, "_instance", None)  # as in a fresh server process
    from secretctl.infra import settings

    shutil.rmtree(settings.data_dir() / "cache")  # the suite seeds every home (tests/conftest.py)
    call(session, [("secret_run", {"keys": ["app/*"], "command": "sh", "args": ["-c", "echo $APP_TOKEN"]})])
    cached = list((settings.data_dir() / "cache").glob("*"))
    assert cached, "the compiled detector set is cached"
    blob = b"".join(p.read_bytes() for p in cached)
    for form in all_forms():
        assert form not in blob


def test_a_big_vault_still_redacts_every_form_of_what_a_run_injects(session: Any, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    # Past FRAGMENTS_ALL_MAX values the all-values redactor is lean (no fragments, no base64
    # literals); the run adds every form of the values it injects.
    from secretctl.service import allvalues

    monkeypatch.setattr(allvalues, "FRAGMENTS_ALL_MAX", 0)
    token = VALUES["app/token"].decode()
    other = tmp_path / "work" / "other.txt"  # a value the run was not given, read from the workspace
    other.write_bytes(VALUES["aws/secret_access_key"] + b"\n")
    (out,) = call(session, [("secret_run", {"keys": ["app/*"], "command": "sh", "args": [
        "-c", f"printf '%s\\n' \"$APP_TOKEN\" | base64 | tr -d '=' | fold -w4 | paste -sd-; "
              f"echo \"$APP_TOKEN\" | cut -c3-14; cat {other}"]})])
    assert not out.is_error, text_of(out)
    assert session.redactor.lean
    lines = out.structured_content["stdout"].splitlines()
    # The base64 line keeps at most its last group (which encodes the newline after the value).
    assert lines[0].startswith("[REDACTED:app/token]") and len(lines[0]) <= len("[REDACTED:app/token]") + 4
    assert lines[1:] == ["[REDACTED:app/token]", "[REDACTED]"]
    assert token not in out.structured_content["stdout"]
