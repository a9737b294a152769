"""The bulk write path: files staged into git as one pack, committed by plumbing (real git, real age)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from secretctl.infra import gitcommit, gitpack
from tests.conftest import AGE, Member, git, needs_age, snapshot

BULK = gitpack.PACK_THRESHOLD  # enough files for the pack path


def dotenv(tmp_path: Path, n: int, tag: str = "") -> tuple[Path, dict[str, str]]:
    values = {f"K{i}": f"bulk-{tag}-{os.urandom(12).hex()}" for i in range(n)}
    path = tmp_path / f"bulk{tag}.env"
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    return path, values


def test_pack_matches_what_git_hash_object_computes(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    blobs = [b"", b"x", os.urandom(70_000), b"line\n" * 30_000]  # empty, tiny, and over one stored block
    pack = gitpack.build_pack(blobs)
    out = subprocess.run(["git", "index-pack", "--stdin"], input=pack, cwd=tmp_path, capture_output=True)
    assert out.returncode == 0, out.stderr
    for data in blobs:
        oid = gitpack.blob_id(data)
        hashed = subprocess.run(["git", "hash-object", "--stdin"], input=data, capture_output=True, check=True)
        assert hashed.stdout.decode().strip() == oid
        stored = subprocess.run(["git", "cat-file", "blob", oid], cwd=tmp_path, capture_output=True, check=True)
        assert stored.stdout == data


@needs_age
def test_bulk_import_is_one_verified_commit_that_age_reads(alice: Member, vault_dir: Path, tmp_path: Path) -> None:
    path, values = dotenv(tmp_path, BULK + 5)
    before = git(vault_dir, "rev-parse", "HEAD").strip()
    alice.run("import", str(path), "--prefix", "bulk")
    assert git(vault_dir, "rev-parse", "HEAD~1").strip() == before
    assert git(vault_dir, "status", "--porcelain", "--untracked-files=all") == ""
    fsck = subprocess.run(["git", "fsck", "--strict", "--no-dangling"], cwd=vault_dir, capture_output=True, text=True)
    assert fsck.returncode == 0 and fsck.stderr == "", fsck.stderr
    # The committed bytes are the bytes on disk, and the plain age CLI decrypts them.
    committed = subprocess.run(["git", "show", "HEAD:bulk/K3.age"], cwd=vault_dir, capture_output=True, check=True)
    assert committed.stdout == (vault_dir / "bulk/K3.age").read_bytes()
    dec = subprocess.run([AGE, "-d", "-i", str(alice.identity)], input=committed.stdout, capture_output=True)
    assert dec.stdout.decode() == values["K3"]
    assert "Secretctl-Action: import" in git(vault_dir, "log", "-1", "--format=%B")
    assert "commit: secretctl: import" in git(vault_dir, "reflog", "-1")
    # No temp file or loose blob per secret was left behind.
    assert not [p for p in vault_dir.rglob(".*tmp-*")]
    loose = git(vault_dir, "count-objects", "-v").splitlines()[0]
    assert int(loose.split()[1]) < BULK


@needs_age
def test_member_add_re_encrypts_through_the_pack_path(alice: Member, bob: Member, vault_dir: Path,
                                                       tmp_path: Path) -> None:
    path, values = dotenv(tmp_path, BULK)
    alice.run("import", str(path), "--prefix", "team")
    alice.run("member", "add", "bob", bob.recipient)
    assert git(vault_dir, "status", "--porcelain") == ""
    data = subprocess.run(["git", "show", "HEAD:team/K7.age"], cwd=vault_dir, capture_output=True, check=True).stdout
    dec = subprocess.run([AGE, "-d", "-i", str(bob.identity)], input=data, capture_output=True)
    assert dec.stdout.decode() == values["K7"]


def test_a_commit_hook_still_runs_for_secretctl_commits(alice: Member, vault_dir: Path, tmp_path: Path) -> None:
    """With a commit hook installed, secretctl commits through `git commit`, so the hook decides."""
    hook = vault_dir / ".git" / "hooks" / "pre-commit"
    hook.write_text("#!/bin/sh\necho 'hook said no' >&2\nexit 1\n")
    hook.chmod(0o755)
    before = git(vault_dir, "rev-parse", "HEAD")
    out = alice.run("set", "x/k", input=b"hooked-Value-1", check=False)
    assert out.returncode != 0
    assert b"hook said no" in out.stderr or b"git commit failed" in out.stderr
    assert git(vault_dir, "rev-parse", "HEAD") == before


def test_a_failed_bulk_write_leaves_no_trace(alice: Member, vault_dir: Path, tmp_path: Path) -> None:
    path, values = dotenv(tmp_path, BULK)
    (vault_dir / "blocked").write_text("a file where the import needs a folder\n")
    before = snapshot(vault_dir)
    index_before = git(vault_dir, "ls-files", "-s")
    out = alice.run("import", str(path), "--prefix", "blocked", check=False)
    assert out.returncode == 1
    err = out.stderr.decode()
    assert err.startswith("secretctl: error: cannot write ") and "blocked" in err
    assert len(err.strip().splitlines()) == 2  # the error and its hint
    assert not any(v in err for v in values.values())
    assert snapshot(vault_dir) == before
    assert git(vault_dir, "ls-files", "-s") == index_before


@pytest.mark.parametrize("fmt", ["sha256"])
def test_a_sha256_repository_stages_from_disk(tmp_path: Path, fmt: str) -> None:
    root = tmp_path / "r"
    if subprocess.run(["git", "init", "-q", f"--object-format={fmt}", str(root)], capture_output=True).returncode:
        pytest.skip("this git cannot create SHA-256 repositories")
    blobs = {f"d/f{i}": os.urandom(40) for i in range(BULK)}
    for rel, data in blobs.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    staged = gitpack.start_staging(root, blobs)
    assert staged is not None and staged.wait() is False
    commit = gitcommit.commit_paths(root, list(blobs), "bulk\n", actor="t", staged=staged)
    assert commit is not None and len(commit) == 64
    assert git(root, "status", "--porcelain") == ""


def test_undo_puts_the_index_and_the_object_store_back(alice: Member, vault_dir: Path) -> None:
    """What a failed bulk write calls once git has staged the bytes it was about to write."""
    index_before = git(vault_dir, "ls-files", "-s")
    packs_before = sorted(p.name for p in (vault_dir / ".git/objects/pack").iterdir())
    blobs = {f"new/k{i}.age": os.urandom(50) for i in range(BULK)}
    staged = gitpack.start_staging(vault_dir, blobs)
    assert staged is not None and staged.wait() is True
    assert "new/k1.age" in git(vault_dir, "ls-files", "-s")
    staged.undo()
    assert git(vault_dir, "ls-files", "-s") == index_before
    assert sorted(p.name for p in (vault_dir / ".git/objects/pack").iterdir()) == packs_before
