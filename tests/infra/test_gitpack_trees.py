"""The trees a bulk write puts into its pack (core/gittree, gitpack.head_trees) are git's own:
`git write-tree` finds each of them stored and writes no loose tree (one new file per folder)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from secretctl.core import gittree
from secretctl.core.secret import Secret
from secretctl.infra import gitpack
from secretctl.service.vault import Vault
from tests.conftest import AGE, git, needs_age
from tests.infra.test_gitrepo import BULK


def _repo(root: Path) -> None:
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    files = {"top.txt": b"t", "a/x.age": b"1", "a/x.meta.yaml": b"m", "a/b/deep.age": b"2", "a-b/y": b"3",
             "a.c/z": b"4", "other/keep": b"5", "tool.sh": b"#!/bin/sh\n"}
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    (root / "tool.sh").chmod(0o755)
    os.symlink("top.txt", root / "a" / "link")
    git(root, "add", "-A")
    git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init")


def test_trees_match_what_git_write_tree_computes(tmp_path: Path) -> None:
    """Changed, added and new-folder files among executables, links, and names whose order
    differs between files and folders (``a``, ``a-b``, ``a.c``: git sorts a folder as ``a/``)."""
    root = tmp_path / "r"
    _repo(root)
    blobs = {"a/x.age": b"new x", "a/b/deep.age": b"new deep", "a/b/c/new.age": b"brand new", "a-b/y2": b"y2",
             "a.age": b"file beside folder a", "fresh/k.age": b"k"}
    ids = {p: gitpack.blob_id(d) for p, d in blobs.items()}
    trees = gitpack.head_trees(root, ids)
    # git's answer: the same blobs written and staged, then write-tree.
    for rel, data in blobs.items():
        oid = subprocess.run(["git", "hash-object", "-w", "--stdin"], cwd=root, input=data, capture_output=True,
                             check=True).stdout.decode().strip()
        assert oid == ids[rel]
    info = "".join(f"100644 {ids[p]}\t{p}\0" for p in blobs)
    subprocess.run(["git", "update-index", "-z", "--index-info"], cwd=root, input=info.encode(), check=True)
    top = git(root, "write-tree").strip()
    listing = git(root, "ls-tree", "-r", "-t", "--full-tree", top).splitlines()
    theirs = {top} | {line.split()[2] for line in listing if line.split()[1] == "tree"}
    head = git(root, "ls-tree", "-r", "-t", "--full-tree", "HEAD").splitlines()
    unchanged = {"HEAD^{tree}"} | {line.split()[2] for line in head if line.split()[1] == "tree"}
    unchanged = {git(root, "rev-parse", t).strip() for t in unchanged}
    ours = {gittree.tree_id(body).hex(): body for body in trees}
    assert set(ours) == theirs - unchanged  # every new tree, and only the new ones
    for oid, body in ours.items():
        stored = subprocess.run(["git", "cat-file", "tree", oid], cwd=root, capture_output=True, check=True).stdout
        assert stored == body


def test_no_head_or_a_bad_listing_means_no_trees(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path / "empty")], check=True)
    assert gitpack.head_trees(tmp_path / "empty", {"a/b": gitpack.blob_id(b"x")}) == []
    try:
        gittree.folder_entries(b"100644 blob nothex\ta/b\0", ["a"])
    except ValueError:
        pass
    else:
        raise AssertionError("a malformed listing must raise")


@needs_age
def test_member_add_writes_no_loose_tree_per_folder(inproc: Vault, tmp_path: Path) -> None:
    """Re-keying files in 40 folders: write-tree used to write 40 loose trees (a file each)."""
    from secretctl.core.secret import Secret

    values = {f"team{i % 40}/k{i}": f"value-{i}-{os.urandom(6).hex()}" for i in range(BULK + 16)}
    inproc.import_entries([(k, Secret(v.encode())) for k, v in values.items()])
    root = inproc.root
    git(root, "gc", "-q")
    bob = tmp_path / "bob.key"
    subprocess.run(["age-keygen", "-o", str(bob)], capture_output=True, check=True)
    recipient = next(ln.split(": ")[1] for ln in bob.read_text().splitlines() if "public key" in ln)
    inproc.member_add("bob", recipient)
    loose = int(git(root, "count-objects", "-v").splitlines()[0].split()[1])
    assert loose == 1  # the commit: every tree (the top one too: .age-recipients is in the pack) is packed
    fsck = subprocess.run(["git", "fsck", "--strict", "--no-dangling"], cwd=root, capture_output=True, text=True)
    assert fsck.returncode == 0 and fsck.stderr == "", fsck.stderr
    assert git(root, "status", "--porcelain") == ""
    data = subprocess.run(["git", "show", "HEAD:team7/k7.age"], cwd=root, capture_output=True, check=True).stdout
    dec = subprocess.run([AGE, "-d", "-i", str(bob)], input=data, capture_output=True)
    assert dec.stdout.decode() == values["team7/k7"]


def test_few_folders_in_a_big_tree_are_left_to_write_tree(tmp_path: Path) -> None:
    """Reading HEAD's whole listing costs per entry; a batch changing two folders of a big vault
    (an import into a new folder) leaves those two trees to write-tree, as before."""
    root = tmp_path / "r"
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    for f in range(10):
        (root / f"svc{f}").mkdir()
        for i in range(150):
            (root / f"svc{f}" / f"k{i}.age").write_bytes(b"%d-%d" % (f, i))
    git(root, "add", "-A")
    git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init")
    new = {f"imp/k{i}.age": gitpack.blob_id(b"new %d" % i) for i in range(100)}
    assert gitpack.head_trees(root, new) == []
    spread = {f"svc{f}/k{i}.age": gitpack.blob_id(b"re %d %d" % (f, i)) for f in range(10) for i in range(0, 150, 10)}
    assert len(gitpack.head_trees(root, spread)) == 11  # ten folders and the top one: worth computing


def test_an_import_into_one_folder_reads_no_listing() -> None:
    """Two trees are not worth a `git ls-tree` of the whole vault: no listing is started."""
    one_folder = [f"imp/K{i}{ext}" for i in range(1000) for ext in (".age", ".meta.yaml")]
    assert not gitpack.trees_may_pay(one_folder)
    spread = [f"team{i % 100}/k{i}{ext}" for i in range(1000) for ext in (".age", ".meta.yaml")]
    assert gitpack.trees_may_pay(spread)
    assert not gitpack.trees_may_pay(spread[: gitpack.PACK_THRESHOLD - 1])  # no pack at all


def test_an_import_into_one_folder_runs_no_ls_tree(inproc: Vault, monkeypatch: pytest.MonkeyPatch) -> None:
    """Nor does its staging read HEAD's listing itself once the files are written (it did, on
    the commit's path, when no listing had been started)."""
    inproc.import_entries([(f"old{i % 30}/k{i}", Secret(b"old-value-%d" % i)) for i in range(60)])
    calls: list[tuple[str, ...]] = []
    real = gitpack.git

    def spy(root: Path, *args: str, **kwargs: object) -> object:
        calls.append(args)
        return real(root, *args, **kwargs)  # type: ignore[arg-type]  # the same call, passed on

    monkeypatch.setattr(gitpack, "git", spy)
    inproc.import_entries([(f"imp/K{i}", Secret(b"new-value-%d" % i)) for i in range(gitpack.PACK_THRESHOLD)])
    assert any("index-pack" in c for c in calls)  # staged as a pack
    assert not any("ls-tree" in c for c in calls)
