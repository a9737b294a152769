"""Multi-field secrets (issue 10 §3): every field value lives in the encrypted file; the sidecar
holds only the schema. Run through the installed CLI, the real `age` CLI, real git and the MCP
client in-process, as a user and an agent would."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import AGE, Member, all_bytes_under, git, needs_age, snapshot, stock_once

PASSWORD = b"S3cret-Field-Canary-4417"
TOKEN = b"tok-Field-Canary-Value-8812"
HOST = b"db-host.internal.example"
# Low entropy on purpose: the old value-like heuristic let this one through the hook and `check`.
LEGACY_PASSWORD = b"correct horse battery staple"


def db_set(alice: Member, *extra: str, input: bytes = b"", check: bool = True) -> subprocess.CompletedProcess[bytes]:
    return alice.run("set", "db/main", *extra, input=input, check=check)


def fields_of(alice: Member, key: str) -> dict[str, bool]:
    meta = json.loads(alice.run("get", key, "--show-metadata", "--json").stdout)
    return {f["name"]: f["sensitive"] for f in meta["fields"]}


# ------------------------------------------------------------ no plaintext
def test_a_field_given_on_the_command_line_is_encrypted_never_in_git(alice: Member, vault_dir: Path) -> None:
    """The reported bug: `--field password=...` put the password into the committed sidecar."""
    out = db_set(alice, "--field", f"password={PASSWORD.decode()}", "--field", f"host={HOST.decode()}",
                 "--public", "host")
    # A value on the command line is visible to other users in `ps`: say so, and how to avoid it.
    assert b"warning" in out.stderr and b"password" in out.stderr and b"password=-" in out.stderr
    assert PASSWORD not in out.stderr
    everything = all_bytes_under(vault_dir)
    assert PASSWORD not in everything
    assert HOST not in everything  # a public field is encrypted too: "public" is about agents, not storage
    sidecar = (vault_dir / "db/main.meta.yaml").read_bytes()
    assert b"value:" not in sidecar
    assert alice.run("get", "db/main", "--field", "password").stdout == PASSWORD
    assert alice.run("get", "db/main", "--field", "host").stdout == HOST
    assert fields_of(alice, "db/main") == {"password": True, "host": False}
    assert git(vault_dir, "status", "--porcelain") == ""


@needs_age
def test_the_age_cli_decrypts_the_field_document(alice: Member, vault_dir: Path) -> None:
    db_set(alice, "--field", "host=h.example", "--public", "host", "--field", "password=-", input=PASSWORD + b"\n")
    out = subprocess.run([AGE, "-d", "-i", str(alice.identity), str(vault_dir / "db/main.age")],
                         capture_output=True, check=True)
    assert json.loads(out.stdout) == {"host": "h.example", "password": PASSWORD.decode()}


def test_fields_are_sensitive_unless_marked_public(alice: Member, vault_dir: Path) -> None:
    db_set(alice, "--field", "host=-", "--field", "port=-", "--public", "port", input=b"h.example\n5432\n")
    assert fields_of(alice, "db/main") == {"host": True, "port": False}


@pytest.mark.parametrize("name", ["password", "api_token", "secretKey", "privateKey", "passphrase", "db_pin",
                                  "client-credential", "AWS_SECRET_ACCESS_KEY", "pwd"])
def test_a_secret_looking_field_can_never_be_public(alice: Member, vault_dir: Path, name: str) -> None:
    alice.run("set", "keep/me", input=b"unchanged-value-1")
    before = snapshot(vault_dir)
    out = db_set(alice, "--field", f"{name}=-", "--public", name, input=PASSWORD + b"\n", check=False)
    assert out.returncode == 2
    lines = out.stderr.decode().strip().splitlines()
    assert lines[0].startswith("secretctl: error: ") and name in lines[0]
    assert PASSWORD not in out.stderr
    assert snapshot(vault_dir) == before


def test_public_names_an_unknown_field(alice: Member, vault_dir: Path) -> None:
    out = db_set(alice, "--field", "host=-", "--public", "hots", input=b"h\n", check=False)
    assert out.returncode == 2 and b"hots" in out.stderr


def test_stdin_fields_one_line_each_in_order(alice: Member, vault_dir: Path) -> None:
    db_set(alice, "--field", "user=-", "--field", "password", "--public", "user", input=b"app\n" + PASSWORD + b"\n")
    assert alice.run("get", "db/main", "--field", "user").stdout == b"app"
    assert alice.run("get", "db/main", "--field", "password").stdout == PASSWORD
    out = db_set(alice, "--field", "user=-", "--field", "password=-", input=b"only-one-line\n", check=False)
    assert out.returncode == 2 and b"user" in out.stderr and b"password" in out.stderr


# ------------------------------------------------------------ masking
def test_masked_shows_each_field_with_its_own_length(alice: Member, vault_dir: Path) -> None:
    db_set(alice, "--field", "host=-", "--public", "host", "--field", "password=-", "--field", "pin=-",
           input=HOST + b"\n" + PASSWORD + b"\n" + b"12345\n")
    out = alice.run("get", "db/main", "--masked").stdout.decode()
    assert out == "host: ****mple\npassword: ****4417\npin: *****\n"
    assert '"' not in out and "}" not in out  # the serialized document is never masked as one value
    data = json.loads(alice.run("get", "db/main", "--masked", "--json").stdout)
    assert data["fields"] == [
        {"name": "host", "sensitive": False, "masked_value": "****mple", "value_length": len(HOST)},
        {"name": "password", "sensitive": True, "masked_value": "****4417", "value_length": len(PASSWORD)},
        {"name": "pin", "sensitive": True, "masked_value": "*****", "value_length": 5},
    ]


# ------------------------------------------------------------ templates
def test_template_database_creates_fields_and_bindings(alice: Member, vault_dir: Path) -> None:
    db_set(alice, "--template", "database", "--field", f"host={HOST.decode()}", "--field", "username=app",
           "--field", "port=5432", input=PASSWORD + b"\n")
    meta = json.loads(alice.run("get", "db/main", "--show-metadata", "--json").stdout)
    assert {f["name"]: f["sensitive"] for f in meta["fields"]} == {
        "host": False, "port": False, "username": False, "password": True}
    assert meta["bindings"] == {"DB_HOST": "host", "DB_PORT": "port", "DB_USER": "username",
                                "DB_PASSWORD": "password"}
    assert alice.run("get", "db/main", "--field", "password").stdout == PASSWORD
    assert alice.run("get", "db/main", "--field", "user").stdout == b"app"  # the alias of username
    assert PASSWORD not in all_bytes_under(vault_dir) and HOST not in all_bytes_under(vault_dir)
    # Template fields known to be public get no argv warning; only sensitive ones do.
    out = db_set(alice, "--template", "login", "--field", "username=me", "--field", "password=pw-in-argv-123")
    assert b"warning" in out.stderr and b"password" in out.stderr and b"username" not in out.stderr


@pytest.mark.parametrize(("template", "fields"), [
    ("login", {"username": False, "password": True}),
    ("api", {"api_key": True}),
    ("ssh", {"host": False, "username": False, "private_key": True}),
])
def test_templates_read_required_fields_from_stdin(alice: Member, vault_dir: Path, template: str,
                                                   fields: dict[str, bool]) -> None:
    given = [a for n, public in fields.items() if public is False for a in ("--field", f"{n}=x-{n}")]
    key_text = b"-----BEGIN OPENSSH PRIVATE KEY-----\nabc\ndef\n-----END OPENSSH PRIVATE KEY-----\n"
    alice.run("set", "t/x", "--template", template, *given, input=key_text)
    assert fields_of(alice, "t/x") == fields
    sensitive = next(n for n, s in fields.items() if s)
    # The one field read from stdin takes all of it (a private key has many lines), minus one newline.
    assert alice.run("get", "t/x", "--field", sensitive).stdout == key_text[:-1]


def test_unknown_template(alice: Member, vault_dir: Path) -> None:
    out = db_set(alice, "--template", "mongo", check=False)
    assert out.returncode == 2 and b"database" in out.stderr


# ------------------------------------------------------------ run
def test_run_injects_fields_and_redacts_only_sensitive_ones(alice: Member, vault_dir: Path) -> None:
    db_set(alice, "--template", "database", "--field", f"host={HOST.decode()}", "--field", "username=app",
           input=PASSWORD + b"\n")
    out = alice.run("run", "-k", "db/main", "--", "sh", "-c", 'echo "$DB_HOST $DB_USER $DB_PASSWORD"')
    assert out.stdout == HOST + b" app [REDACTED:db/main:password]\n"


def test_export_writes_every_field(alice: Member, vault_dir: Path) -> None:
    db_set(alice, "--template", "database", "--field", f"host={HOST.decode()}", "--field", "username=app",
           input=PASSWORD + b"\n")
    out = json.loads(alice.run("export", "-k", "db/main", "--format", "json").stdout)
    assert out == {"db/main:host": HOST.decode(), "db/main:password": PASSWORD.decode(), "db/main:username": "app"}


# ------------------------------------------------------------ agents
@pytest.fixture
def session(alice: Member, vault_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    pytest.importorskip("mcp")
    def stock() -> None:
        db_set(alice, "--template", "database", "--field", f"host={HOST.decode()}", "--field", "username=app",
               input=PASSWORD + b"\n")
        alice.run("set", "api/x", "--field", "token=-", "--field", "region=eu-west-1", "--public", "region",
                  input=TOKEN + b"\n")
    stock_once("test_fields.session", alice, vault_dir, stock)
    for k, v in alice.env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.chdir(vault_dir)
    from secretctl.infra import settings
    from secretctl.service.session import AgentSession
    from secretctl.service.vault import Vault

    v = Vault(vault_dir, identity_path=settings.identity_path(), password=lambda: "", actor="alice")
    yield AgentSession(v, base_env=dict(os.environ))


def call(session: Any, calls: list[tuple[str, dict[str, Any]]]) -> list[Any]:
    from mcp import Client

    from secretctl.mcp.server import build_server

    async def go() -> list[Any]:
        async with Client(build_server(session)) as client:
            return [await client.call_tool(name, args) for name, args in calls]

    return asyncio.run(go())


def _text(result: Any) -> str:
    parts = [json.dumps(result.structured_content)] if result.structured_content else []
    return "\n".join(parts + [getattr(c, "text", "") for c in result.content])


def test_agent_reads_public_fields_decrypted_and_never_sensitive_ones(session: Any) -> None:
    host, region, pw, token, masked, listed = call(session, [
        ("secret_get_field", {"key": "db/main", "field": "host"}),
        ("secret_get_field", {"key": "api/x", "field": "region"}),
        ("secret_get_field", {"key": "db/main", "field": "password"}),
        ("secret_get_field", {"key": "api/x", "field": "token"}),
        ("secret_get_masked", {"key": "db/main"}),
        ("secret_list_fields", {"key": "db/main"}),
    ])
    assert host.structured_content["value"] == HOST.decode()
    assert region.structured_content["value"] == "eu-west-1"
    assert pw.is_error and token.is_error
    assert "sensitive" in _text(pw)
    fields = {f["name"]: f for f in masked.structured_content["fields"]}
    assert fields["password"]["value_length"] == len(PASSWORD)
    assert fields["password"]["masked_value"] == "****4417"
    assert fields["host"]["value_length"] == len(HOST)
    assert "value" not in json.dumps(listed.structured_content["fields"])
    for r in (host, region, pw, token, masked, listed):
        text = _text(r)
        assert PASSWORD.decode() not in text and TOKEN.decode() not in text
        assert PASSWORD.decode()[-6:] not in text  # no more than the mask's four characters


def test_agent_cannot_read_a_password_a_legacy_sidecar_calls_public(alice: Member, vault_dir: Path,
                                                                    session: Any) -> None:
    """A hand-edited (or old) sidecar cannot make a password readable: its name decides."""
    path = vault_dir / "db/main.meta.yaml"
    text = path.read_text()
    assert text.count("sensitive: true") == 1  # the password
    path.write_text(text.replace("sensitive: true", "sensitive: false"))
    git(vault_dir, "commit", "-qam", "hand edit", env=alice.env)
    (pw,) = call(session, [("secret_get_field", {"key": "db/main", "field": "password"})])
    assert pw.is_error
    assert PASSWORD.decode() not in _text(pw)


# ------------------------------------------------------------ legacy vaults
def _legacy_vault(alice: Member, vault_dir: Path) -> None:
    """A multi-field secret as secretctl wrote it before: public values (and a password given as
    `--field password=...`) in the sidecar, committed; only `token` in the encrypted document."""
    db_set(alice, "--field", "token=-", input=TOKEN + b"\n")
    sidecar = vault_dir / "db/main.meta.yaml"
    lines = sidecar.read_text().split("fields:\n")[0]
    lines += ("fields:\n"
              f'- name: "host"\n  sensitive: false\n  value: "{HOST.decode()}"\n  kind: "host"\n'
              f'- name: "password"\n  sensitive: false\n  value: "{LEGACY_PASSWORD.decode()}"\n  kind: "password"\n'
              '- name: "token"\n  sensitive: true\n  kind: "token"\n'
              "bindings:\n  PGHOST: \"host\"\n  PGPASSWORD: \"password\"\n")
    sidecar.write_text(lines)
    git(vault_dir, "commit", "-qam", "as the old secretctl wrote it", env=alice.env)


def test_check_flags_a_sidecar_holding_values_without_echoing_them(alice: Member, vault_dir: Path) -> None:
    _legacy_vault(alice, vault_dir)
    out = alice.run("check", check=False)
    assert out.returncode == 1
    assert b"db/main.meta.yaml" in out.stdout + out.stderr
    assert b"migrate fields" in out.stdout + out.stderr
    assert LEGACY_PASSWORD not in out.stdout + out.stderr and HOST not in out.stdout + out.stderr
    meta = alice.run("get", "db/main", "--show-metadata", "--json").stdout
    assert LEGACY_PASSWORD not in meta and HOST not in meta  # metadata never shows a value
    assert {f["name"]: f["sensitive"] for f in json.loads(meta)["fields"]}["password"] is True
    # Old vaults stay readable until migrated.
    assert alice.run("get", "db/main", "--field", "password").stdout == LEGACY_PASSWORD
    assert alice.run("get", "db/main", "--field", "token").stdout == TOKEN


def test_hook_rejects_a_sidecar_holding_values(alice: Member, vault_dir: Path) -> None:
    alice.run("hook", "install")
    with pytest.raises(subprocess.CalledProcessError) as refused:
        _legacy_vault(alice, vault_dir)  # `git commit -a`: the pre-commit hook checks it
    assert b"db/main.meta.yaml" in refused.value.stderr.encode()
    assert LEGACY_PASSWORD.decode() not in refused.value.stderr and HOST.decode() not in refused.value.stderr
    assert git(vault_dir, "log", "-1", "--format=%s").strip() != "as the old secretctl wrote it"


def test_ci_check_rejects_a_legacy_sidecar_committed_without_hooks(alice: Member, vault_dir: Path) -> None:
    _legacy_vault(alice, vault_dir)
    out = alice.run("check", "--all", "--no-decrypt", check=False)
    assert out.returncode == 1
    assert b"db/main.meta.yaml" in out.stdout + out.stderr
    assert LEGACY_PASSWORD not in out.stdout + out.stderr and HOST not in out.stdout + out.stderr


def test_migrate_fields_moves_every_value_into_the_encrypted_file_in_one_commit(alice: Member,
                                                                                vault_dir: Path) -> None:
    alice.run("set", "plain/one", input=b"single-value-1234")
    _legacy_vault(alice, vault_dir)
    before = git(vault_dir, "rev-list", "--count", "HEAD")
    out = alice.run("migrate", "fields")
    assert int(git(vault_dir, "rev-list", "--count", "HEAD")) == int(before) + 1
    body = git(vault_dir, "log", "-1", "--format=%B")
    assert "Secretctl-Action: migrate-fields" in body and "Secretctl-Key: db/main" in body
    assert "plain/one" not in body
    # It names what history still holds, to rotate: the password, not the public host.
    report = out.stdout + out.stderr
    assert b"rotate" in report and b"db/main" in report and b"password" in report
    assert LEGACY_PASSWORD not in report and HOST not in report
    sidecar = (vault_dir / "db/main.meta.yaml").read_text()
    assert "value:" not in sidecar and LEGACY_PASSWORD.decode() not in sidecar
    assert fields_of(alice, "db/main") == {"host": False, "password": True, "token": True}
    for field, value in (("host", HOST), ("password", LEGACY_PASSWORD), ("token", TOKEN)):
        assert alice.run("get", "db/main", "--field", field).stdout == value
    assert alice.run("check").returncode == 0
    assert git(vault_dir, "status", "--porcelain") == ""
    # Nothing left to do: a second run changes nothing.
    again = alice.run("migrate", "fields")
    assert git(vault_dir, "rev-list", "--count", "HEAD").strip() == str(int(before) + 1)
    assert b"nothing" in again.stdout + again.stderr
