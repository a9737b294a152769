"""Two members sharing a vault through a bare remote: hooks, sync, merges, audit, backup."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import AGE, Member, git, make_member, needs_age, snapshot


@pytest.fixture
def team(tmp_path: Path, alice: Member) -> tuple[Member, Member, Path, Path]:
    """alice's vault pushed to a bare remote; bob added as a member and cloned."""
    bob = make_member(tmp_path, "bob")
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(remote)], check=True)
    a_root = tmp_path / "alice-vault"
    alice.run("init", str(a_root), "--name", "alice")
    alice.env["SECRETCTL_VAULT"] = str(a_root)
    alice.run("member", "add", "bob", bob.recipient)
    alice.run("set", "shared/one", input=b"first-Value-111")
    git(a_root, "remote", "add", "origin", str(remote))
    git(a_root, "push", "-q", "-u", "origin", "main", env=alice.env)
    b_root = tmp_path / "bob-vault"
    bob.run("clone", str(remote), str(b_root))
    bob.env["SECRETCTL_VAULT"] = str(b_root)
    git(b_root, "branch", "-q", "--set-upstream-to=origin/main")
    return alice, bob, a_root, b_root


def test_clone_configures_git_and_textconv_shows_plaintext(team: tuple[Member, Member, Path, Path]) -> None:
    alice, bob, a_root, b_root = team
    assert git(b_root, "config", "--get", "merge.secretctl-age.driver").startswith("secretctl merge-driver age")
    assert bob.run("get", "shared/one").stdout == b"first-Value-111"
    alice.run("set", "shared/one", input=b"second-Value-222")
    diff = subprocess.run(["git", "log", "-p", "-1", "--", "shared/one.age"], cwd=a_root, capture_output=True,
                          env=alice.env, check=True).stdout
    assert b"+second-Value-222" in diff
    assert b"-first-Value-111" in diff


def test_different_keys_sync_cleanly(team: tuple[Member, Member, Path, Path]) -> None:
    alice, bob, a_root, b_root = team
    alice.run("set", "a/only", input=b"alice-Value-1")
    bob.run("set", "b/only", input=b"bob-Value-22")
    alice.run("sync")
    out = bob.run("sync", "--json")
    report = json.loads(out.stdout)
    assert "a/only" in report["added"]
    assert report["added"]["a/only"] == "alice"
    alice.run("sync")
    for m in (alice, bob):
        assert m.run("get", "a/only").stdout == b"alice-Value-1"
        assert m.run("get", "b/only").stdout == b"bob-Value-22"
    assert git(a_root, "status", "--porcelain") == ""
    assert git(b_root, "status", "--porcelain") == ""


@pytest.mark.parametrize("side", ["ours", "theirs"])
def test_same_key_both_sides_is_a_named_conflict(team: tuple[Member, Member, Path, Path], side: str) -> None:
    alice, bob, _a_root, b_root = team
    alice.run("set", "shared/one", input=b"alice-Changed-1")
    alice.run("sync")
    bob.run("set", "shared/one", input=b"bob-Changed-22")
    out = bob.run("sync", check=False)
    assert out.returncode == 7
    assert b"shared/one" in out.stderr
    # Never plaintext nor conflict markers in the tree.
    data = (b_root / "shared/one.age").read_bytes()
    assert data.startswith(b"age-encryption.org/v1\n")
    assert b"<<<<<<<" not in data
    for p in b_root.rglob("*"):
        if p.is_file() and ".git" not in p.parts:
            assert b"Changed-" not in p.read_bytes()
    bob.run("resolve", "shared/one", f"--{side}")
    bob.run("sync")
    expected = b"bob-Changed-22" if side == "ours" else b"alice-Changed-1"
    assert bob.run("get", "shared/one").stdout == expected
    alice.run("sync")
    assert alice.run("get", "shared/one").stdout == expected


def test_reencrypt_for_new_member_while_other_changes_value(team: tuple[Member, Member, Path, Path],
                                                            tmp_path: Path) -> None:
    alice, bob, a_root, _b_root = team
    carol = make_member(tmp_path, "carol")
    alice.run("member", "add", "carol", carol.recipient)
    alice.run("sync")
    bob.run("set", "shared/one", input=b"bob-Newer-Value")
    bob.run("sync")
    alice.run("sync")
    assert alice.run("get", "shared/one").stdout == b"bob-Newer-Value"
    carol.env["SECRETCTL_VAULT"] = str(a_root)
    assert carol.run("get", "shared/one").stdout == b"bob-Newer-Value"


def test_removed_member_cannot_read_new_values(team: tuple[Member, Member, Path, Path]) -> None:
    alice, bob, _a_root, _b_root = team
    alice.run("member", "remove", "bob", "-y")
    alice.run("set", "shared/one", input=b"after-Removal-9")
    alice.run("sync")
    report = json.loads(bob.run("sync", "--json", "--no-push").stdout)
    assert "shared/one" in report["rotate"]
    assert bob.run("get", "shared/one", check=False).returncode == 4


# -------------------------------------------------------------------- hooks
def stage(root: Path, rel: str, data: bytes, env: dict[str, str]) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    git(root, "add", rel, env=env)


@pytest.fixture
def hooked(alice: Member, vault_dir: Path) -> Path:
    alice.run("hook", "install")
    alice.run("set", "ok/k", input=b"fine-Value-123")
    return vault_dir


def commit(root: Path, env: dict[str, str]) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["git", "commit", "-qm", "test"], cwd=root, env=env, capture_output=True, check=False)


@needs_age
@pytest.mark.parametrize("case", ["plaintext", "not-age", "scrypt", "wrong-count", "bad-sidecar", "value-sidecar",
                                  "bad-recipients", "symlink"])
def test_pre_commit_hook_rejects(alice: Member, hooked: Path, case: str, tmp_path: Path) -> None:
    root = hooked
    env = alice.env
    if case == "plaintext":
        stage(root, "notes.txt", b"the password is hunter2", env)
    elif case == "not-age":
        stage(root, "x/k.age", b"plaintext pretending", env)
    elif case == "scrypt":
        # A passphrase file (age -p needs a terminal); its work factor does not matter to the hook,
        # which refuses the scrypt stanza itself (a full one cost ~3 s of CPU here).
        from tests.weak_scrypt import encrypt_with_passphrase

        stage(root, "x/p.age", encrypt_with_passphrase(b"v", "pw"), env)
    elif case == "wrong-count":
        other = make_member(tmp_path, "mallory")
        data = subprocess.run([AGE, "-e", "-r", other.recipient, "-r", alice.recipient], input=b"v",
                              capture_output=True, check=True).stdout
        stage(root, "x/two.age", data, env)
    elif case == "bad-sidecar":
        stage(root, "ok/k.meta.yaml", b"created: x\nsurprise: 1\n", env)
    elif case == "value-sidecar":
        side = (root / "ok/k.meta.yaml").read_text() + 'notes: "token Xy9$kQ2!mZ7#pL4@wR8&vT3"\n'
        stage(root, "ok/k.meta.yaml", side.encode(), env)
    elif case == "bad-recipients":
        stage(root, ".age-recipients", b"garbage line\n", env)
    elif case == "symlink":
        (root / "link.age").symlink_to("ok/k.age")
        git(root, "add", "link.age", env=env)
    before = git(root, "rev-parse", "HEAD")
    out = commit(root, env)
    assert out.returncode != 0, case
    # Each problem is a "rejected:" line; a sidecar the parser refuses outright is one error line
    # naming the file (either way the commit is refused and nothing changed).
    assert b"rejected" in out.stderr or (case == "bad-sidecar" and b"ok/k.meta.yaml" in out.stderr)
    assert git(root, "rev-parse", "HEAD") == before
    # --no-verify skips the hook; pre-push and check --all still catch it.
    assert commit(root, {**env, "GIT_DIR": str(root / ".git")}).returncode != 0
    subprocess.run(["git", "commit", "-qm", "sneak", "--no-verify"], cwd=root, env=env, check=True)
    assert alice.run("check", "--all", check=False, cwd=root).returncode == 1


def test_pre_commit_hook_accepts_a_good_commit_and_secretctl_commits(alice: Member, hooked: Path) -> None:
    alice.run("set", "ok/second", input=b"second-Value-12")
    alice.run("member", "add", "bob", make_member(hooked.parent, "bob").recipient)
    assert alice.run("check", "--all").returncode == 0


def test_deep_check_finds_a_value_in_plaintext(alice: Member, hooked: Path) -> None:
    stage(hooked, "README.md", b"# notes\nthe value: fine-Value-123\n", alice.env)
    out = alice.run("hook", "pre-commit", "--deep", check=False, cwd=hooked)
    assert out.returncode == 1
    assert b"contains the value of ok/k" in out.stderr
    assert b"fine-Value-123" not in out.stderr


def test_pre_commit_framework(alice: Member, vault_dir: Path) -> None:
    precommit = Path(os.sys.executable).parent / "pre-commit"
    if not precommit.exists():
        pytest.skip("pre-commit is not installed")
    env = {**alice.env, "PRE_COMMIT_HOME": str(vault_dir.parent / "pc-cache")}
    subprocess.run([str(precommit), "install"], cwd=vault_dir, env=env, check=True, capture_output=True)
    stage(vault_dir, "oops.txt", b"plain secret", env)
    out = commit(vault_dir, env)
    assert out.returncode != 0
    assert b"oops.txt" in out.stdout + out.stderr
    git(vault_dir, "rm", "-q", "--cached", "oops.txt", env=env)
    (vault_dir / "oops.txt").unlink()
    alice.run("set", "fine/k", input=b"framework-ok-1")
    assert git(vault_dir, "log", "-1", "--format=%s").startswith("secretctl: set fine/k")


def test_scan_finds_vault_values_in_another_repo(alice: Member, vault_dir: Path, tmp_path: Path) -> None:
    alice.run("set", "app/key", input=b"app-Scan-Value-777")
    app = tmp_path / "app"
    app.mkdir()
    (app / "config.py").write_text("DEBUG = True\nKEY = 'app-Scan-Value-777'\n")
    (app / "clean.py").write_text("print('hello')\n")
    out = alice.run("scan", str(app), check=False)
    assert out.returncode == 1
    assert out.stdout.decode().strip() == f"{app / 'config.py'}:2: app/key"
    assert b"app-Scan-Value-777" not in out.stdout + out.stderr
    assert alice.run("scan", str(app / "clean.py")).returncode == 0


# -------------------------------------------------------------------- audit
def test_audit_list_and_verify(alice: Member, vault_dir: Path) -> None:
    alice.run("set", "au/k", input=b"audit-Value-1234")
    alice.run("get", "au/k")
    alice.run("set", "au/j", input=b"audit-Value-5678")
    events = json.loads(alice.run("audit", "list", "--json").stdout)
    actions = [(e["action"], e["keys"]) for e in events]
    assert ("set", ["au/k"]) in actions
    assert ("get", ["au/k"]) in actions
    assert alice.run("audit", "verify").returncode == 0
    csv_out = alice.run("audit", "export", "--format", "csv").stdout.decode()
    assert csv_out.splitlines()[0] == "ts,actor,action,keys,source"
    # An edited log line breaks the chain.
    log = vault_dir / ".secretctl/audit/alice.jsonl"
    log.write_text(log.read_text().replace('"get"', '"list"'))
    git(vault_dir, "commit", "-qam", "tamper", "--no-verify", env=alice.env)
    out = alice.run("audit", "verify", check=False)
    assert out.returncode == 1
    assert b"hash chain broken" in out.stderr
    assert b"without secretctl" in out.stderr


def test_backup_and_restore(alice: Member, vault_dir: Path, tmp_path: Path) -> None:
    alice.run("set", "bk/k", input=b"backup-Value-42")
    out = tmp_path / "vault.backup"
    alice.run("backup", "-o", str(out))
    assert out.read_bytes().startswith(b"age-encryption.org/v1\n")
    assert b"backup-Value-42" not in out.read_bytes()
    alice.run("restore", str(out), "--verify-only")
    dest = tmp_path / "restored"
    alice.run("restore", str(out), str(dest))
    assert alice.run("--vault", str(dest), "get", "bk/k").stdout == b"backup-Value-42"
    assert snapshot(dest)


def test_plain_commit_with_an_unlocked_identity_refuses_a_value(alice: Member, hooked: Path) -> None:
    stage(hooked, "README.md", b"# notes\nthe value: fine-Value-123\n", alice.env)
    out = commit(hooked, alice.env)
    assert out.returncode != 0
    assert b"contains the value of ok/k" in out.stderr
    assert b"fine-Value-123" not in out.stderr


def test_hook_install_never_overwrites_a_hook_it_did_not_write(alice: Member, vault_dir: Path) -> None:
    hooks = vault_dir / ".git" / "hooks"
    hooks.mkdir(exist_ok=True)
    theirs = hooks / "pre-push"
    theirs.write_text("#!/bin/sh\n# the team's own checks\nexit 0\n")
    before = snapshot(vault_dir)
    out = alice.run("hook", "install", cwd=vault_dir, check=False)
    assert out.returncode == 2
    assert str(theirs).encode() in out.stderr and b"--force" in out.stderr
    assert snapshot(vault_dir) == before  # neither hook written
    forced = alice.run("hook", "install", "--force", cwd=vault_dir)
    assert b"kept the old hook as" in forced.stderr
    assert (hooks / "pre-push.before-secretctl").read_text() == "#!/bin/sh\n# the team's own checks\nexit 0\n"
    assert b"secretctl hook pre-push" in theirs.read_bytes()
    again = alice.run("hook", "install", cwd=vault_dir)  # our own hooks are replaced quietly
    assert b"kept the old hook" not in again.stderr
