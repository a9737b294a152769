"""A single-secret commit by plumbing (real git): the split index, the parent's tree read from
disk, changes staged by hand, and `git maintenance` started only when git would do something."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from secretctl.infra import gitcommit, gitobjects
from tests.conftest import Member, git


def _shared(vault: Path) -> list[str]:
    return sorted(p.name for p in (vault / ".git").iterdir() if p.name.startswith("sharedindex."))


def test_a_vault_keeps_a_split_index_and_a_set_writes_only_its_small_part(alice: Member, vault_dir: Path,
                                                                           tmp_path: Path) -> None:
    assert git(vault_dir, "config", "core.splitIndex").strip() == "true"
    env = tmp_path / "many.env"
    env.write_text("".join(f"K{i}=many-Value-{i}\n" for i in range(200)))
    alice.run("import", str(env), "--prefix", "many")
    shared = _shared(vault_dir)
    assert shared
    alice.run("set", "a/two", input=b"second-Value-2")
    # The shared part (400 entries) stays as it was; the index written holds the few changed ones.
    assert _shared(vault_dir) == shared
    largest = max((vault_dir / ".git" / n).stat().st_size for n in shared)
    assert (vault_dir / ".git" / "index").stat().st_size * 5 < largest
    assert git(vault_dir, "status", "--porcelain") == ""
    assert "a/two.age" in git(vault_dir, "ls-files")


def _index_entries(vault: Path) -> int:
    """The entry count in the index file's header: in a split index, the split part's."""
    header = (vault / ".git" / "index").read_bytes()[:12]
    assert header[:4] == b"DIRC"
    return int.from_bytes(header[8:12], "big")


def test_a_split_part_refilled_by_a_refresh_is_folded_into_a_new_shared_index(alice: Member, vault_dir: Path,
                                                                              tmp_path: Path) -> None:
    env = tmp_path / "many.env"
    env.write_text("".join(f"K{i}=refresh-Value-{i}\n" for i in range(600)))
    alice.run("import", str(env), "--prefix", "many")
    # Files written in the second git writes its index are "racily clean" and kept in the split
    # part on purpose; a vault's files are seconds old by then.
    for f in (vault_dir / "many").iterdir():
        os.utime(f, (f.stat().st_mtime - 10,) * 2)
    # The import staged its entries without file timestamps: the next refresh (any `git status`)
    # records them, as replacements in the split part, which git's 20% rule does not count.
    git(vault_dir, "status", "--porcelain")
    assert _index_entries(vault_dir) > gitcommit.SPLIT_PART_LIMIT
    before = set(_shared(vault_dir))
    alice.run("set", "a/after", input=b"after-Value-1")
    assert _index_entries(vault_dir) < 10  # what a set changed, nothing more
    assert set(_shared(vault_dir)) - before  # a new shared part holds the rest
    assert git(vault_dir, "status", "--porcelain") == ""
    assert git(vault_dir, "ls-files") == git(vault_dir, "ls-tree", "-r", "--name-only", "HEAD")
    assert len(git(vault_dir, "ls-files", "many").split()) == 1200
    alice.run("set", "a/again", input=b"after-Value-2")  # and the next set writes only its own entries
    assert _index_entries(vault_dir) < 10
    assert git(vault_dir, "status", "--porcelain") == ""


def test_the_tree_of_a_commit_loose_or_packed(alice: Member, vault_dir: Path) -> None:
    alice.run("set", "a/k", input=b"tree-Value-1")
    head = git(vault_dir, "rev-parse", "HEAD").strip()
    want = git(vault_dir, "rev-parse", "HEAD^{tree}").strip()
    loose = vault_dir / ".git" / "objects" / head[:2] / head[2:]
    assert loose.exists()
    assert gitobjects.tree_of(vault_dir, head) == want
    subprocess.run(["git", "gc", "-q"], cwd=vault_dir, check=True, capture_output=True)
    assert not loose.exists()  # packed now
    assert gitobjects.tree_of(vault_dir, head) == want


def test_changes_staged_by_hand_go_into_the_commit_and_nothing_changed_commits_nothing(
        alice: Member, vault_dir: Path) -> None:
    alice.run("set", "a/k", input=b"hand-Value-1")
    (vault_dir / "README.md").write_text("edited and staged by hand\n")
    git(vault_dir, "add", "README.md")
    alice.run("set", "a/k2", input=b"hand-Value-2")
    assert sorted(git(vault_dir, "show", "--name-only", "--format=", "HEAD").split()) == [
        "README.md", "a/k2.age", "a/k2.meta.yaml"]
    assert git(vault_dir, "status", "--porcelain") == ""
    head = git(vault_dir, "rev-parse", "HEAD")
    assert gitcommit.commit_paths(vault_dir, ["a/k2.age"], "nothing\n", actor="alice") is None
    assert git(vault_dir, "rev-parse", "HEAD") == head


def test_maintenance_is_started_when_git_would_do_something(alice: Member, vault_dir: Path) -> None:
    config = {"gc.auto": "6700", "gc.autopacklimit": "50"}
    objects = vault_dir / ".git" / "objects"
    assert not gitcommit._maintenance_due(vault_dir, config)
    # git's rule: more than gc.auto/256 loose objects in objects/17 (here 27 of 6700)...
    (objects / "17").mkdir(exist_ok=True)
    for i in range(28):
        (objects / "17" / f"{i:038x}").write_bytes(b"")
    assert gitcommit._maintenance_due(vault_dir, config)
    assert not gitcommit._maintenance_due(vault_dir, {**config, "gc.auto": "0"})
    for p in (objects / "17").iterdir():
        if p.name.startswith("0000"):
            p.unlink()
    # ... or more packs than gc.autoPackLimit: then a set's commit repacks them, as `git commit` would.
    for i in range(3):
        alice.run("set", f"p/k{i}", input=b"pack-Value-%d" % i)
        subprocess.run(["git", "repack", "-q"], cwd=vault_dir, check=True)
    assert len(list((objects / "pack").glob("*.pack"))) >= 3
    git(vault_dir, "config", "gc.autoPackLimit", "2")
    git(vault_dir, "config", "gc.autoDetach", "false")  # gc would finish in the background otherwise
    alice.run("set", "p/last", input=b"pack-Value-last")
    assert len(list((objects / "pack").glob("*.pack"))) == 1
