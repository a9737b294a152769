"""Hooks never block a good push, and always block a bad one.

Two members (two clones of a bare remote) push and `secretctl sync` with the hooks installed,
three ways: `secretctl hook install`, the scripts shipped in hooks/, and the pre-commit framework
with the vault template's .pre-commit-config.yaml (`repo: local`, `language: system`: no
network). A hook that rejects everything fails these tests; a hook that accepts everything fails
the ones that push a bad commit made with `--no-verify`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, SECRETCTL, Member, git, make_member, protect_identity

PRE_COMMIT = Path(sys.executable).parent / "pre-commit"
ZERO = "0" * 40
# Shaped like AWS's documented example pair; the hook must refuse it and never print it.
AWS_ID = "AKIAQ3EGUYKT7EXAMPLE"
AWS_SECRET = "tR9xJ2mVqL5nW8bK3pZ7yH4cF6dG1sA0eU2iO9oE"


def push(root: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["git", "push", *args], cwd=root, env=env, capture_output=True, check=False, timeout=120)


def hook_path(root: Path, name: str, env: dict[str, str]) -> Path:
    p = Path(git(root, "rev-parse", "--git-path", f"hooks/{name}", env=env).strip())
    return p if p.is_absolute() else root / p


def install(how: str, m: Member, root: Path) -> None:
    if how == "secretctl":
        m.run("hook", "install", cwd=root)
    elif how == "scripts":
        for name in ("pre-commit", "pre-push"):
            shutil.copy(REPO / "hooks" / name, hook_path(root, name, m.env))
    else:
        if not PRE_COMMIT.exists():
            pytest.skip("pre-commit is not installed")
        m.env["PRE_COMMIT_HOME"] = str(m.home / "pc-cache")
        subprocess.run([str(PRE_COMMIT), "install"], cwd=root, env=m.env, check=True, capture_output=True)
    for name in ("pre-commit", "pre-push"):
        assert os.access(hook_path(root, name, m.env), os.X_OK), name


@pytest.fixture(params=["secretctl", "scripts", "pre-commit"])
def team(request: pytest.FixtureRequest, tmp_path: Path, alice: Member) -> tuple[Member, Member, Path, Path, Path]:
    """alice's vault on a bare remote, hooks installed before her first push; bob a member with
    his own clone and hooks."""
    how = request.param
    bob = make_member(tmp_path, "bob")
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(remote)], check=True)
    a_root = tmp_path / "alice-vault"
    alice.run("init", str(a_root), "--name", "alice")
    alice.env["SECRETCTL_VAULT"] = str(a_root)
    install(how, alice, a_root)
    alice.run("member", "add", "bob", bob.recipient)
    alice.run("set", "shared/one", input=b"first-Value-111")
    git(a_root, "remote", "add", "origin", str(remote))
    first = push(a_root, alice.env, "-q", "-u", "origin", "main")
    assert first.returncode == 0, first.stderr.decode(errors="replace")
    b_root = tmp_path / "bob-vault"
    bob.run("clone", str(remote), str(b_root))
    bob.env["SECRETCTL_VAULT"] = str(b_root)
    git(b_root, "branch", "-q", "--set-upstream-to=origin/main")
    install(how, bob, b_root)
    return alice, bob, a_root, b_root, remote


def test_two_members_push_and_sync_with_hooks(team: tuple[Member, Member, Path, Path, Path]) -> None:
    alice, bob, a_root, b_root, remote = team
    alice.run("set", "a/only", input=b"alice-Value-1")
    bob.run("set", "b/only", input=b"bob-Value-22")
    out = push(a_root, alice.env, "-q")
    assert out.returncode == 0, out.stderr.decode(errors="replace")
    bob.run("sync")  # rebase onto alice's commit, then push through bob's pre-push hook
    alice.run("sync")
    for m in (alice, bob):
        assert m.run("get", "a/only").stdout == b"alice-Value-1"
        assert m.run("get", "b/only").stdout == b"bob-Value-22"
    assert git(remote, "rev-parse", "main") == git(a_root, "rev-parse", "HEAD") == git(b_root, "rev-parse", "HEAD")
    # A new branch sends only its own commits; deleting it sends nothing, and both pass.
    git(b_root, "checkout", "-q", "-b", "feature", env=bob.env)
    bob.run("set", "b/feature", input=b"feature-Value-3")
    assert push(b_root, bob.env, "-q", "origin", "feature").returncode == 0
    assert push(b_root, bob.env, "-q", "origin", ":feature").returncode == 0
    assert "feature" not in git(remote, "branch", "--list")


def sneak(root: Path, m: Member, rel: str, data: bytes) -> str:
    """A commit the pre-commit hook would refuse, made with --no-verify."""
    (root / rel).parent.mkdir(parents=True, exist_ok=True)
    (root / rel).write_bytes(data)
    git(root, "add", rel, env=m.env)
    git(root, "commit", "-qm", f"sneak {rel}", "--no-verify", env=m.env)
    return git(root, "rev-parse", "HEAD", env=m.env).strip()


def test_pre_push_refuses_what_no_verify_let_in(team: tuple[Member, Member, Path, Path, Path]) -> None:
    alice, _, a_root, _, remote = team
    before = git(remote, "rev-parse", "main")
    bad = sneak(a_root, alice, "notes.txt", b"the password is hunter2\n")
    out = push(a_root, alice.env, "-q")
    assert out.returncode != 0
    text = (out.stdout + out.stderr).decode(errors="replace")
    assert f"{bad[:12]}:notes.txt" in text, text
    assert "not a vault file" in text
    assert git(remote, "rev-parse", "main") == before
    # Taking the file out again does not launder it: its commit is still in what would be sent.
    git(a_root, "rm", "-q", "notes.txt", env=alice.env)
    git(a_root, "commit", "-qm", "remove it", "--no-verify", env=alice.env)
    assert push(a_root, alice.env, "-q").returncode != 0
    assert git(remote, "rev-parse", "main") == before
    # Rewriting the history (what a member would do) makes the push good again.
    git(a_root, "reset", "-q", "--hard", before.strip(), env=alice.env)
    assert push(a_root, alice.env, "-q").returncode == 0


def test_only_the_pushed_commits_are_checked(tmp_path: Path, alice: Member) -> None:
    """A bad commit already on the remote (pushed before the hooks) does not block later pushes:
    the hook checks what this push sends, as git's contract describes it."""
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(remote)], check=True)
    root = tmp_path / "v"
    alice.run("init", str(root), "--name", "alice")
    alice.env["SECRETCTL_VAULT"] = str(root)
    git(root, "remote", "add", "origin", str(remote))
    sneak(root, alice, "old.txt", b"left over\n")
    assert push(root, alice.env, "-q", "-u", "origin", "main").returncode == 0  # no hooks yet
    alice.run("hook", "install", cwd=root)
    alice.run("set", "k/one", input=b"good-Value-123")
    out = push(root, alice.env, "-q")
    assert out.returncode == 0, out.stderr.decode(errors="replace")
    # By hand on a terminal-less stdin with nothing piped, and with explicit lines, it agrees.
    head = git(root, "rev-parse", "HEAD").strip()
    ok = alice.run("hook", "pre-push", "origin", str(remote), input=f"refs/heads/main {head} refs/heads/main "
                   f"{head}\n".encode(), cwd=root, check=False)
    assert ok.returncode == 0, ok.stderr
    everything = alice.run("hook", "pre-push", "origin", str(remote), cwd=root, check=False,
                           input=f"refs/heads/x {head} refs/heads/x {ZERO}\n".encode())
    assert everything.returncode == 0  # every commit of HEAD is on a remote already
    garbage = alice.run("hook", "pre-push", "origin", str(remote), input=b"not four fields\n", cwd=root,
                        check=False)
    assert garbage.returncode == 2
    assert b"expected 4 fields" in garbage.stderr


def test_pre_commit_rejects_a_readme_holding_aws_keys(alice: Member, vault_dir: Path) -> None:
    alice.run("hook", "install", cwd=vault_dir)
    readme = (vault_dir / "README.md").read_bytes() + (
        f"\nDeploy with:\n\n    aws_access_key_id = {AWS_ID}\n    aws_secret_access_key = {AWS_SECRET}\n").encode()
    (vault_dir / "README.md").write_bytes(readme)
    git(vault_dir, "add", "README.md", env=alice.env)
    before = git(vault_dir, "rev-parse", "HEAD")
    out = subprocess.run(["git", "commit", "-qm", "docs"], cwd=vault_dir, env=alice.env, capture_output=True,
                         check=False)
    assert out.returncode != 0
    text = (out.stdout + out.stderr).decode(errors="replace")
    line = readme.decode().splitlines().index(f"    aws_access_key_id = {AWS_ID}") + 1
    assert f"README.md: line {line}:" in text, text
    assert "AWS" in text
    assert AWS_ID not in text and AWS_SECRET not in text
    assert AWS_ID[4:12] not in text and AWS_SECRET[8:20] not in text
    assert git(vault_dir, "rev-parse", "HEAD") == before
    checked = alice.run("check", "--staged", cwd=vault_dir, check=False)
    assert checked.returncode == 1
    assert b"README.md: line" in checked.stderr
    assert AWS_SECRET.encode() not in checked.stderr + checked.stdout


def test_the_shallow_hook_keeps_the_compiled_detectors(alice: Member, vault_dir: Path) -> None:
    """Without a cheap unlock (a protected identity, no password, no agent) the hook checks for
    credentials only; the detector set it compiles is kept (public patterns only), as `run`
    keeps it, and the next hook loads it and refuses the same lines (compiling was 0.7 s of
    every such hook)."""
    protect_identity(alice, "a-password-123")
    (vault_dir / "README.md").write_text(f"aws_access_key_id = {AWS_ID}\naws_secret_access_key = {AWS_SECRET}\n")
    git(vault_dir, "add", "README.md", env=alice.env)
    cache = alice.home / "data" / "cache"
    shutil.rmtree(cache)  # the suite seeds every home (tests/conftest.py): start as a new user does
    for run in ("compiles", "loads"):
        # Two processes, as git starts them (in-process runs would share the compiled set in memory).
        out = subprocess.run([SECRETCTL, "hook", "pre-commit"], cwd=vault_dir, env=alice.env, capture_output=True,
                             stdin=subprocess.DEVNULL, timeout=120)
        assert out.returncode == 1, (run, out.stderr)
        assert b"README.md: line 1:" in out.stderr and AWS_ID.encode() not in out.stderr + out.stdout
        cached = list(cache.glob("detectors-*.hs")) if cache.is_dir() else []
        assert len(cached) == 1, (run, cached)
        assert AWS_ID.encode() not in cached[0].read_bytes() and AWS_SECRET.encode() not in cached[0].read_bytes()


def test_template_hooks_cover_both_stages() -> None:
    import yaml

    config = yaml.safe_load((REPO / "secretctl/data/vault-template/.pre-commit-config.yaml").read_text())
    assert set(config["default_install_hook_types"]) == {"pre-commit", "pre-push"}
    hooks = {h["id"]: h for h in config["repos"][0]["hooks"]}
    assert hooks["secretctl-vault"]["stages"] == ["pre-commit"]
    assert hooks["secretctl-vault-push"]["stages"] == ["pre-push"]
    manifest = {h["id"]: h for h in yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())}
    assert manifest["secretctl-vault-push"]["entry"] == "secretctl hook pre-push"
    assert manifest["secretctl-vault-push"]["stages"] == ["pre-push"]
