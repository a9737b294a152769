"""Whole-user flows of the vault core through the installed `secretctl` (real git, real age)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import threading
from pathlib import Path

import pytest

from tests.conftest import AGE, Member, all_bytes_under, expire_by_hand, git, make_member, needs_age, snapshot


def set_value(m: Member, key: str, value: bytes, *extra: str) -> None:
    m.run("set", key, *extra, input=value)


def commits(root: Path) -> list[str]:
    return git(root, "log", "--format=%H").split()


def assert_clean(root: Path) -> None:
    assert git(root, "status", "--porcelain") == ""


# ---------------------------------------------------------------- round trips
def test_text_value_round_trip_drops_one_trailing_newline(alice: Member, vault_dir: Path) -> None:
    set_value(alice, "app/token", b"s3cret-value\n\n")
    assert alice.run("get", "app/token").stdout == b"s3cret-value\n"
    set_value(alice, "app/plain", b"no-newline")
    assert alice.run("get", "app/plain").stdout == b"no-newline"
    assert_clean(vault_dir)


def test_binary_and_large_values_round_trip_exactly(alice: Member, vault_dir: Path, tmp_path: Path) -> None:
    blob = os.urandom(1024 * 1024) + b"\n"
    f = tmp_path / "blob.bin"
    f.write_bytes(blob)
    alice.run("set", "files/blob", "--from-file", str(f))
    assert alice.run("get", "files/blob").stdout == blob
    raw = bytes(range(256)) * 3
    f.write_bytes(raw)
    alice.run("set", "files/raw", "--from-file", str(f))
    assert alice.run("get", "files/raw").stdout == raw


@needs_age
def test_age_cli_reads_what_we_write_and_we_read_what_it_writes(alice: Member, vault_dir: Path) -> None:
    set_value(alice, "interop/ours", b"written-by-secretctl")
    out = subprocess.run([AGE, "-d", "-i", str(alice.identity), str(vault_dir / "interop/ours.age")],
                         capture_output=True, check=True)
    assert out.stdout == b"written-by-secretctl"
    (vault_dir / "interop").mkdir(exist_ok=True)
    subprocess.run([AGE, "-e", "-R", str(vault_dir / ".age-recipients"), "-o", str(vault_dir / "interop/theirs.age")],
                   input=b"written-by-age", check=True)
    git(vault_dir, "add", "-A")
    git(vault_dir, "commit", "-qm", "by hand", env={**alice.env})
    assert alice.run("get", "interop/theirs").stdout == b"written-by-age"
    # No sidecar: valid, simply no metadata.
    meta = json.loads(alice.run("get", "interop/theirs", "--show-metadata", "--json").stdout)
    assert meta["created_at"] is None


@needs_age
def test_init_adopts_a_passage_store(tmp_path: Path, alice: Member) -> None:
    store = tmp_path / "passage"
    store.mkdir()
    git(store, "init", "-q")
    (store / ".age-recipients").write_text(alice.recipient + "\n")
    (store / "web").mkdir()
    subprocess.run([AGE, "-e", "-R", str(store / ".age-recipients"), "-o", str(store / "web/login.age")],
                   input=b"passage-made", check=True)
    git(store, "add", "-A")
    git(store, "commit", "-qm", "passage", env=alice.env)
    alice.run("init", str(store), "--name", "alice")
    alice.env["SECRETCTL_VAULT"] = str(store)
    assert alice.run("get", "web/login").stdout == b"passage-made"
    assert alice.run("list").stdout.decode().split() == ["web/login"]
    assert (store / ".secretctl/config.yaml").exists()
    assert_clean(store)


# --------------------------------------------------------------- recipients
def test_subtree_recipients_and_member_changes_touch_exactly_the_affected_files(
        tmp_path: Path, alice: Member, vault_dir: Path) -> None:
    bob = make_member(tmp_path, "bob")
    bob.env["SECRETCTL_VAULT"] = str(vault_dir)
    set_value(alice, "dev/api", b"dev-api-value-1")
    set_value(alice, "prod/db", b"prod-db-value-1")
    set_value(alice, "prod/deep/cache", b"prod-cache-value")
    before = snapshot(vault_dir)
    n = len(commits(vault_dir))
    alice.run("member", "add", "bob", bob.recipient, "--path", "prod")
    after = snapshot(vault_dir)
    changed = {p for p in after if not p.startswith(".git/") and before.get(p) != after[p]}
    assert changed == {"prod/.age-recipients", "prod/db.age", "prod/db.meta.yaml", "prod/deep/cache.age",
                       "prod/deep/cache.meta.yaml"}
    assert len(commits(vault_dir)) == n + 1
    assert bob.run("get", "prod/db").stdout == b"prod-db-value-1"
    assert bob.run("get", "prod/deep/cache").stdout == b"prod-cache-value"
    denied = bob.run("get", "dev/api", check=False)
    assert denied.returncode == 4
    assert b"not a recipient" in denied.stderr
    # reencrypt now has nothing to do and leaves every file byte-identical.
    before = snapshot(vault_dir)
    alice.run("reencrypt")
    assert snapshot(vault_dir) == before
    # Removing bob re-encrypts exactly what he could read and says so.
    out = alice.run("member", "remove", "bob", "-y")
    assert b"prod/db" in out.stderr and b"rotate" in out.stderr
    set_value(alice, "prod/db", b"rotated-after-removal")
    assert bob.run("get", "prod/db", check=False).returncode == 4
    assert_clean(vault_dir)


@needs_age
def test_member_add_that_cannot_re_encrypt_changes_nothing(tmp_path: Path, alice: Member, vault_dir: Path) -> None:
    """A folder alice cannot read: adding a member there must fail before any file changes."""
    bob = make_member(tmp_path, "bob")
    carol = make_member(tmp_path, "carol")
    set_value(alice, "ops/token", b"ops-token-value-1")
    (vault_dir / "private").mkdir()
    (vault_dir / "private/.age-recipients").write_text(f"# bob\n{bob.recipient}\n")
    subprocess.run([AGE, "-e", "-r", bob.recipient, "-o", str(vault_dir / "private/key.age")],
                   input=b"bobs-own-value", check=True)
    git(vault_dir, "add", "private")
    git(vault_dir, "commit", "-qm", "bob's folder", env={**alice.env, "GIT_DIR": str(vault_dir / ".git")})
    before, n = snapshot(vault_dir), len(commits(vault_dir))
    out = alice.run("member", "add", "carol", carol.recipient, check=False)
    assert out.returncode == 4
    err = out.stderr.decode()
    assert "cannot re-encrypt 1 secrets you are not a recipient of, e.g. private/key" in err
    assert len(err.strip().splitlines()) == 2
    assert snapshot(vault_dir) == before
    assert len(commits(vault_dir)) == n
    assert_clean(vault_dir)


def test_reencrypt_dry_run_changes_nothing(alice: Member, vault_dir: Path) -> None:
    set_value(alice, "a/one", b"value-one-1")
    rec = vault_dir / ".age-recipients"
    rec.write_text(rec.read_text() + "# extra\n" + make_member(vault_dir.parent, "carol").recipient + "\n")
    git(vault_dir, "commit", "-qam", "add carol by hand", env=alice.env)
    before = snapshot(vault_dir)
    out = alice.run("reencrypt", "--dry-run")
    assert out.stdout.decode().split() == ["a/one"]
    assert snapshot(vault_dir) == before
    alice.run("reencrypt")
    assert snapshot(vault_dir)["a/one.age"] != before["a/one.age"]


# ------------------------------------------------------------- bad input
BAD_KEYS = ["", "/a", "a/", "a//b", "..", "a/../b", ".hidden", "a/.x", "has space", "ünïcode", "x" * 300,
            "con", "a/nul.txt", "x.age", "y.meta.yaml", "a\nb"]


@pytest.mark.parametrize("key", BAD_KEYS, ids=[repr(k)[:20] for k in BAD_KEYS])
def test_bad_key_names_are_refused_with_one_line_and_no_change(alice: Member, vault_dir: Path, key: str) -> None:
    before = snapshot(vault_dir)
    out = alice.run("set", key, input=b"value-value", check=False)
    assert out.returncode == 2
    lines = out.stderr.decode().strip().splitlines()
    assert lines[0].startswith("secretctl: error: invalid key name")
    assert "Traceback" not in out.stderr.decode()
    assert snapshot(vault_dir) == before


def test_case_collision_is_refused(alice: Member, vault_dir: Path) -> None:
    set_value(alice, "AWS/Key", b"value-value")
    before = snapshot(vault_dir)
    out = alice.run("set", "aws/key", input=b"other-value", check=False)
    assert out.returncode == 2
    assert b"only by case" in out.stderr
    assert snapshot(vault_dir) == before


def test_wrong_password_and_missing_identity(tmp_path: Path) -> None:
    carol = make_member(tmp_path, "carol", password="correct horse")
    root = tmp_path / "v"
    carol.run("init", str(root), "--name", "carol")
    carol.env["SECRETCTL_VAULT"] = str(root)
    set_value(carol, "k", b"protected-value")
    assert carol.run("get", "k").stdout == b"protected-value"
    bad = carol.run("get", "k", check=False, env={"SECRETCTL_PASSWORD": "wrong"})
    assert bad.returncode == 4
    assert b"wrong password" in bad.stderr
    env = dict(carol.env)
    env.pop("SECRETCTL_PASSWORD")
    no_pw = subprocess.run([str(Path(os.sys.executable).parent / "secretctl"), "get", "k"], env=env,
                           capture_output=True, input=b"")
    assert no_pw.returncode == 4
    assert b"SECRETCTL_PASSWORD" in no_pw.stderr
    missing = carol.run("get", "k", check=False, env={"SECRETCTL_IDENTITY": str(tmp_path / "nope.age")})
    assert missing.returncode == 4
    assert b"no identity" in missing.stderr


@pytest.mark.parametrize("damage", ["truncate", "garbage", "flip"])
def test_corrupt_age_file_is_a_clear_error(alice: Member, vault_dir: Path, damage: str) -> None:
    set_value(alice, "c/k", b"some-value-123")
    path = vault_dir / "c/k.age"
    data = path.read_bytes()
    path.write_bytes({"truncate": data[:40], "garbage": b"not an age file at all",
                      "flip": data[:-5] + bytes([data[-5] ^ 1]) + data[-4:]}[damage])
    before = snapshot(vault_dir)
    out = alice.run("get", "c/k", check=False)
    assert out.returncode == 6
    assert out.stderr.decode().count("\n") <= 2 and b"c/k.age" in out.stderr
    assert snapshot(vault_dir) == before
    assert alice.run("check", check=False).returncode == 1


@pytest.mark.parametrize("content", [b"created: [unclosed\n", b"created: '2026-01-01T00:00:00Z'\nupdated: "
                                     b"'2026-01-01T00:00:00Z'\nsurprise: 1\n", b"created: 5\nupdated: 6\n",
                                     b"created: '2026-01-01T00:00:00Z'\nupdated: '2026-01-01T00:00:00Z'\nfields:\n"
                                     b"- {name: pw, sensitive: true, value: leaked}\n"])
def test_malformed_sidecar_is_a_clear_error(alice: Member, vault_dir: Path, content: bytes) -> None:
    set_value(alice, "m/k", b"some-value-123")
    (vault_dir / "m/k.meta.yaml").write_bytes(content)
    out = alice.run("get", "m/k", "--show-metadata", check=False)
    assert out.returncode == 6
    assert b"m/k.meta.yaml" in out.stderr
    assert b"Traceback" not in out.stderr


def test_malformed_recipients_line_names_file_and_line(alice: Member, vault_dir: Path) -> None:
    rec = vault_dir / ".age-recipients"
    rec.write_text(rec.read_text() + "# mallory\nnot-a-key\n")
    before = snapshot(vault_dir)
    out = alice.run("set", "x/y", input=b"value-value", check=False)
    assert out.returncode == 6
    assert b".age-recipients:4" in out.stderr
    assert snapshot(vault_dir) == before


# ------------------------------------------------------------ everyday use
def test_list_patterns_tags_expiry_and_json(alice: Member, vault_dir: Path) -> None:
    set_value(alice, "aws/key", b"value-one-1", "--tags", "cloud,prod")
    set_value(alice, "aws/sub/deep", b"value-two-2", "--expires", "3d")
    set_value(alice, "db/pw", b"value-three", "--expires", "2099-01-01")
    assert alice.run("list", "aws/*").stdout.decode().split() == ["aws/key"]
    assert alice.run("list", "aws/**").stdout.decode().split() == ["aws/key", "aws/sub/deep"]
    assert alice.run("list", "--tag", "prod").stdout.decode().split() == ["aws/key"]
    assert alice.run("list", "--expiring", "7d").stdout.decode().split() == ["aws/sub/deep"]
    data = json.loads(alice.run("list", "--json").stdout)
    assert [d["key"] for d in data] == ["aws/key", "aws/sub/deep", "db/pw"]
    assert data[0]["tags"] == ["cloud", "prod"]
    warned = alice.run("get", "aws/sub/deep")
    assert b"warning: aws/sub/deep expires" in warned.stderr


def test_exists_delete_mv_generate(alice: Member, vault_dir: Path) -> None:
    set_value(alice, "k/one", b"value-one-1")
    assert alice.run("exists", "k/one").returncode == 0
    assert alice.run("exists", "k/two", check=False).returncode == 1
    refused = alice.run("delete", "k/one", check=False)
    assert refused.returncode == 2 and b"--yes" in refused.stderr
    alice.run("mv", "k/one", "k/two")
    assert alice.run("get", "k/two").stdout == b"value-one-1"
    alice.run("delete", "k/two", "-y")
    assert alice.run("exists", "k/two", check=False).returncode == 1
    out = alice.run("generate", "-l", "20", "-n", "3", "--no-symbols").stdout.decode().split()
    assert len(out) == 3 and all(len(x) == 20 and x.isalnum() for x in out)
    assert_clean(vault_dir)


def test_import_export_one_commit(alice: Member, vault_dir: Path, tmp_path: Path) -> None:
    env_file = tmp_path / "app.env"
    env_file.write_text('# comment\nexport API_KEY="abc\\"def"\nDB_URL=\'postgres://u:p@h/db\'\nPLAIN=xyz123\n')
    dry = alice.run("import", str(env_file), "--prefix", "app", "--dry-run")
    assert dry.stdout.decode().split() == ["app/API_KEY", "app/DB_URL", "app/PLAIN"]
    n = len(commits(vault_dir))
    alice.run("import", str(env_file), "--prefix", "app")
    assert len(commits(vault_dir)) == n + 1
    assert alice.run("get", "app/API_KEY").stdout == b'abc"def'
    conflict = alice.run("import", str(env_file), "--prefix", "app", check=False)
    assert conflict.returncode == 2
    alice.run("import", str(env_file), "--prefix", "app", "--on-conflict", "skip")
    js = tmp_path / "x.json"
    js.write_text(json.dumps({"svc": {"token": "tok-123456"}, "n": 5}))
    alice.run("import", str(js))
    assert alice.run("get", "svc/token").stdout == b"tok-123456"
    out = alice.run("export", "-k", "app/*").stdout.decode()
    assert "APP_API_KEY=" in out and "APP_PLAIN=xyz123" in out
    target = tmp_path / "out.json"
    alice.run("export", "-k", "svc/*", "--format", "json", "-o", str(target))
    assert json.loads(target.read_text()) == {"svc/token": "tok-123456"}
    assert (target.stat().st_mode & 0o777) == 0o600
    assert_clean(vault_dir)


def test_multi_field_secret(alice: Member, vault_dir: Path) -> None:
    alice.run("set", "db/main", "--field", "host=db.internal", "--field", "user=app", "--field", "password",
              "--public", "host", "--public", "user",
              "--binding", "PGHOST=host", "--binding", "PGPASSWORD=password", input=b"pg-Secret-123\n")
    assert alice.run("get", "db/main", "--field", "host").stdout == b"db.internal"
    assert alice.run("get", "db/main", "--field", "password").stdout == b"pg-Secret-123"
    sidecar = (vault_dir / "db/main.meta.yaml").read_bytes()
    assert b"db.internal" not in sidecar and b"pg-Secret-123" not in sidecar  # every value is encrypted
    meta = json.loads(alice.run("get", "db/main", "--show-metadata", "--json").stdout)
    assert meta["bindings"] == {"PGHOST": "host", "PGPASSWORD": "password"}


def test_masked_values(alice: Member, vault_dir: Path) -> None:
    set_value(alice, "m/long", b"abcdefgWXYZ")
    set_value(alice, "m/short", b"abcdefg")
    assert alice.run("get", "m/long", "--masked").stdout == b"****WXYZ\n"
    assert alice.run("get", "m/short", "--masked").stdout == b"*******\n"


def test_every_mutation_is_one_commit_with_trailers(alice: Member, vault_dir: Path) -> None:
    set_value(alice, "t/k", b"value-one-1")
    msg = git(vault_dir, "log", "-1", "--format=%B")
    assert "Secretctl-Action: set" in msg
    assert "Secretctl-Key: t/k" in msg
    assert "Secretctl-Actor: alice <age1" in msg
    alice.run("mv", "t/k", "t/j")
    assert "Secretctl-Action: move" in git(vault_dir, "log", "-1", "--format=%B")
    assert_clean(vault_dir)


def test_concurrent_writers_are_serialized(alice: Member, vault_dir: Path) -> None:
    n = len(commits(vault_dir))
    errors: list[bytes] = []

    def writer(i: int) -> None:
        out = alice.run("set", f"c/k{i}", input=f"value-{i}-xyz".encode(), check=False)
        if out.returncode:
            errors.append(out.stderr)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(commits(vault_dir)) == n + 8
    for i in range(8):
        assert alice.run("get", f"c/k{i}").stdout == f"value-{i}-xyz".encode()
    subprocess.run(["git", "fsck", "--strict"], cwd=vault_dir, check=True, capture_output=True)
    assert_clean(vault_dir)


def test_check_passes_on_a_healthy_vault_and_fails_on_expiry(alice: Member, vault_dir: Path) -> None:
    set_value(alice, "h/k", b"value-one-1")
    assert alice.run("check").returncode == 0
    set_value(alice, "h/old", b"value-two-2")
    expire_by_hand(vault_dir, "h/old", alice.env, "2000-01-01T00:00:00Z")
    out = alice.run("check", "--json", check=False)
    assert out.returncode == 1
    assert any(p["severity"] == "expired" for p in json.loads(out.stdout)["problems"])


# -------------------------------------------------------------------- leaks
def test_no_value_leaks_anywhere(alice: Member, vault_dir: Path, tmp_path: Path) -> None:
    secrets = [b"LeakCanary-Alpha-93817", b"LeakCanary-Bravo-57204", b"LeakCanary-Charlie-11111"]
    stderr = b""

    def run(*args: str, input: bytes | None = None, check: bool = True) -> subprocess.CompletedProcess[bytes]:
        nonlocal stderr
        out = alice.run(*args, input=input, check=check)
        stderr += out.stderr
        return out

    run("set", "leak/a", input=secrets[0])
    run("set", "leak/b", input=secrets[1], check=False)
    env_file = tmp_path / "i.env"
    env_file.write_text(f"C={secrets[2].decode()}\n")
    run("import", str(env_file), "--prefix", "leak")
    run("get", "leak/a")
    run("list", "--json")
    run("mv", "leak/a", "leak/a2")
    run("export", "-k", "leak/*", "-o", str(tmp_path / "exported.env"))
    run("member", "add", "bob", make_member(tmp_path, "bob").recipient)
    run("member", "remove", "bob", "-y")
    run("reencrypt")
    run("check")
    run("delete", "leak/a2", "-y")
    run("get", "leak/nope", check=False)
    run("set", "bad key", input=secrets[0], check=False)
    blob = all_bytes_under(vault_dir)
    for s in secrets:
        for form in (s, base64.b64encode(s), s.hex().encode()):
            assert form not in blob, "a value reached the vault repository or its history"
            assert form not in stderr, "a value reached stderr"


def test_identity_new_and_init_through_the_cli(tmp_path: Path) -> None:
    """The fixtures make identities and vaults in-process; this is the same through the CLI."""
    from tests.conftest import Member, _base_env

    home = tmp_path / "dana"
    home.mkdir()
    (home / ".gitconfig").write_text("[user]\n\tname = dana\n\temail = dana@example.com\n")
    dana = Member("dana", home, _base_env(home))
    recipient = dana.run("identity", "new", "--no-passphrase").stdout.decode().strip()
    assert recipient.startswith("age1")
    assert (dana.identity.stat().st_mode & 0o777) == 0o600
    assert dana.run("identity", "show").stdout.decode().strip() == recipient
    dana.run("init", str(tmp_path / "v"), "--name", "dana")
    assert (tmp_path / "v" / ".age-recipients").read_text().count(recipient) == 1
