"""service/precommit: the pre-commit check reads the staged changes and the index entries that
govern them (``:path``), never the whole index; `check --staged` agrees with it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from secretctl.core.hookcheck import Problem
from secretctl.core.secret import Secret
from secretctl.infra import gitrepo, identity
from secretctl.service import keywalk, precommit
from secretctl.service.vault import Vault
from tests.conftest import git


def _stage(root: Path, rel: str, data: bytes) -> None:
    (root / rel).parent.mkdir(parents=True, exist_ok=True)
    (root / rel).write_bytes(data)
    git(root, "add", rel)


def _reasons(found: list[Problem]) -> list[str]:
    return sorted(str(p) for p in found)


@pytest.fixture
def stocked(inproc: Vault) -> Vault:
    inproc.import_entries([("app/token", Secret(b"tok-Value-7c1e")), ("team/db", Secret(b"db-Value-93ab"))])
    return inproc


def test_a_recipients_file_staged_with_the_secret_governs_it(stocked: Vault, tmp_path: Path) -> None:
    root = stocked.root
    other = identity.create(tmp_path / "other.age", passphrase=None)
    mine = (root / ".age-recipients").read_text()
    _stage(root, "team/.age-recipients", (mine + other + "\n").encode())
    assert precommit.check_staged(stocked, deep=False) == []  # team/db.age itself is not staged
    # HEAD has no team/.age-recipients: only the index does, and it asks for two recipients.
    _stage(root, "team/new.age", (root / "team/db.age").read_bytes())
    found = precommit.check_staged(stocked, deep=False)
    assert [p.path for p in found] == ["team/new.age"]
    assert "its directory has 2" in found[0].reason
    # `check --staged` reads the whole index: the unchanged team/db.age as well.
    whole = _reasons(precommit.check_tree(stocked, staged=True, deep=False))
    assert whole == [r.replace("team/new.age", "team/db.age") for r in _reasons(found)] + _reasons(found)


def test_deletions_and_renames(stocked: Vault) -> None:
    root = stocked.root
    git(root, "rm", "-q", "app/token.age", "app/token.meta.yaml")
    assert precommit.check_staged(stocked, deep=True) == []
    git(root, "mv", "team/db.age", "team/plain.txt")
    found = precommit.check_staged(stocked, deep=False)
    assert [p.path for p in found] == ["team/plain.txt"]  # checked as added (no rename detection)


def test_the_check_never_lists_the_index(stocked: Vault, monkeypatch: pytest.MonkeyPatch) -> None:
    """On a 10,000-secret vault listing the index (20,000 entries) was most of a hook's time."""
    calls: list[tuple[str, ...]] = []
    real = gitrepo.git

    def recording(root: Path, *args: str, **kw: object) -> subprocess.CompletedProcess[bytes]:
        calls.append(args)
        return real(root, *args, **kw)  # type: ignore[arg-type]  # the same keywords, passed through

    monkeypatch.setattr(gitrepo, "git", recording)
    _stage(stocked.root, "README.md", b"# notes\nthe value: db-Value-93ab\n")
    found = precommit.check_staged(stocked, deep=None)  # unprotected and small: the values are read
    assert _reasons(found) == ["README.md: contains the value of team/db in plaintext"]
    assert calls[0][0] == "diff" and not any("ls-files" in c for c in calls), calls


def test_an_unmerged_path_is_checked_by_its_stages(stocked: Vault) -> None:
    root = stocked.root
    plain = subprocess.run(["git", "hash-object", "-w", "--stdin"], cwd=root, input=b"AKIAIOSFODNN7EXAMPLE\n",
                           capture_output=True, check=True).stdout.decode().strip()
    info = "".join(f"100644 {plain} {stage}\tconflicted.txt\n" for stage in (1, 2, 3))
    subprocess.run(["git", "update-index", "--index-info"], cwd=root, input=info.encode(), check=True)
    found = precommit.check_staged(stocked, deep=False)
    assert {p.path for p in found} == {"conflicted.txt"}
    assert any("AWS access key" in p.reason for p in found)


def test_a_protected_identity_without_a_password_skips_the_value_check(stocked: Vault,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(precommit, "cheap_to_decrypt", lambda vault: False)
    _stage(stocked.root, "README.md", b"# notes\nthe value: db-Value-93ab\n")
    assert precommit.check_staged(stocked, deep=None) == []
    assert _reasons(precommit.check_staged(stocked, deep=True)) == [
        "README.md: contains the value of team/db in plaintext"]


def test_small_enough_is_counted_without_reading_every_folder(stocked: Vault, monkeypatch: pytest.MonkeyPatch) -> None:
    stocked.import_entries([(f"f{i}/k{j}", Secret(b"v-%d-%d" % (i, j))) for i in range(6) for j in range(2)])
    total = len(stocked.key_names())  # 14
    assert keywalk.count_upto(str(stocked.root), total) == total
    read: list[str] = []
    real = os.listdir

    def listing(path: str) -> list[str]:
        read.append(path)
        return real(path)

    monkeypatch.setattr(keywalk.os, "listdir", listing)
    assert keywalk.count_upto(str(stocked.root), 3) > 3
    assert len(read) < 9  # of 9 folders (the root, app, team, f0..f5): it stopped early
    monkeypatch.setattr(precommit, "AUTO_DEEP_MAX", total)
    assert precommit.cheap_to_decrypt(stocked)
    monkeypatch.setattr(precommit, "AUTO_DEEP_MAX", total - 1)
    assert not precommit.cheap_to_decrypt(stocked)
