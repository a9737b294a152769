"""`list`'s folder cache (service/keywalk.walk_cached) against the plain walk, on real folders."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from secretctl.service import keywalk
from tests.hyp import examples

FOLDERS = ["", "aws", "aws/prod", "db", "x.age", ".hidden", "con", "deep/a/b"]
FILES = ["k.age", "k.meta.yaml", "token.age", ".x.age", "con.age", "notes.txt", "a.meta.yaml.age", "k2.age"]
OLD = 1_600_000_000 * 10**9  # 2020: far from the racy window


class Tree:
    """A vault-like folder whose changed folders get a new, old enough time (a distinct one per
    change), as the kernel's clock would give them a moment later."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.tick = 0
        root.mkdir()
        self.touched(root)

    def touched(self, folder: Path) -> None:
        self.tick += 1
        os.utime(folder, ns=(OLD + self.tick, OLD + self.tick))

    def apply(self, op: str, folder: str, name: str) -> None:
        where = self.root / folder if folder else self.root
        if op == "mkdir":
            parts = Path(folder).parts if folder else ()
            cur = self.root
            for part in parts:
                if not (cur / part).exists():
                    (cur / part).mkdir()
                    self.touched(cur)
                cur = cur / part
            return
        if not where.is_dir():
            return
        target = where / name
        if op == "add" and not target.exists():
            target.write_bytes(b"x")
        elif op == "remove" and target.is_file():
            target.unlink()
        elif op == "rename" and target.is_file() and not (where / f"r{name}").exists():
            target.rename(where / f"r{name}")
        elif op == "rmtree" and folder and where.exists():
            shutil.rmtree(where)
            where = where.parent
        elif op == "symlink" and not target.exists() and not target.is_symlink():
            target.symlink_to(self.root / "aws" if (self.root / "aws").is_dir() else self.root)
        else:
            return
        self.touched(where)


OPS = st.tuples(st.sampled_from(["mkdir", "add", "add", "remove", "rename", "rmtree", "symlink"]),
                st.sampled_from(FOLDERS), st.sampled_from(FILES))


@settings(max_examples=examples(60), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(OPS, min_size=1, max_size=25))
def test_the_cached_walk_lists_what_the_walk_lists_after_every_change(tmp_path_factory: pytest.TempPathFactory,
                                                                      ops: list[tuple[str, str, str]]) -> None:
    base = tmp_path_factory.mktemp("kw")
    tree = Tree(base / "vault")
    cache = str(base / "cache")
    for op in ops:
        tree.apply(*op)
        assert keywalk.walk_cached(str(tree.root), cache) == keywalk.walk(str(tree.root), "")


def _counting_scans(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    scanned: list[str] = []
    real = keywalk._scan

    def scan(root: str, folder: str) -> tuple[list[str], list[str]]:
        scanned.append(folder)
        return real(root, folder)

    monkeypatch.setattr(keywalk, "_scan", scan)
    return scanned


def test_only_changed_folders_are_read_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tree = Tree(tmp_path / "vault")
    for folder in ("aws", "db", "gcp"):
        tree.apply("mkdir", folder, "")
        tree.apply("add", folder, "k.age")
    cache = str(tmp_path / "cache")
    scanned = _counting_scans(monkeypatch)
    assert keywalk.walk_cached(str(tree.root), cache) == ["aws/k", "db/k", "gcp/k"]
    assert sorted(scanned) == ["", "aws", "db", "gcp"]
    scanned.clear()
    assert keywalk.walk_cached(str(tree.root), cache) == ["aws/k", "db/k", "gcp/k"]
    assert scanned == []
    tree.apply("add", "db", "token.age")
    assert keywalk.walk_cached(str(tree.root), cache) == ["aws/k", "db/k", "db/token", "gcp/k"]
    assert scanned == ["db"]


def test_a_folder_changed_in_the_tick_the_cache_was_written_is_read_again(tmp_path: Path) -> None:
    """A coarse clock gives a folder the same time before and after a change made within one
    tick: a folder not older than the cache file is never trusted from it (git's racy rule)."""
    tree = Tree(tmp_path / "vault")
    tree.apply("mkdir", "aws", "")
    tree.apply("add", "aws", "k.age")
    cache = tmp_path / "cache"
    assert keywalk.walk_cached(str(tree.root), str(cache)) == ["aws/k"]
    tick = (tree.root / "aws").stat().st_mtime_ns
    os.utime(cache, ns=(tick, tick))  # the cache was written in the folder's last tick
    (tree.root / "aws" / "new.age").write_bytes(b"x")
    os.utime(tree.root / "aws", ns=(tick, tick))  # and the change kept the folder's time
    assert keywalk.walk_cached(str(tree.root), str(cache)) == ["aws/k", "aws/new"]


def test_a_folder_replaced_under_the_same_name_is_read_again(tmp_path: Path) -> None:
    tree = Tree(tmp_path / "vault")
    tree.apply("mkdir", "aws", "")
    tree.apply("add", "aws", "k.age")
    cache = str(tmp_path / "cache")
    assert keywalk.walk_cached(str(tree.root), cache) == ["aws/k"]
    stamp = (tree.root / "aws").stat().st_mtime_ns
    root_stamp = tree.root.stat().st_mtime_ns
    (tree.root / "aws").rename(tmp_path / "old-aws")
    (tree.root / "aws").mkdir()
    (tree.root / "aws" / "other.age").write_bytes(b"x")
    # Same times as before, for the folder and its parent: only the inode tells them apart.
    os.utime(tree.root / "aws", ns=(stamp, stamp))
    os.utime(tree.root, ns=(root_stamp, root_stamp))
    assert keywalk.walk_cached(str(tree.root), cache) == ["aws/other"]


@pytest.mark.parametrize("content", [b"", b"not ours\n", b"secretctl key-name cache 1\naws\t1\t2\n",
                                     b"\xff\xfe", b"secretctl key-name cache 1\n\tx\ty\tz\t1\t0\n",
                                     b"cut"])
def test_a_damaged_cache_is_walked_past_and_rewritten(tmp_path: Path, content: bytes) -> None:
    tree = Tree(tmp_path / "vault")
    tree.apply("mkdir", "aws", "")
    tree.apply("add", "aws", "k.age")
    cache = tmp_path / "cache"
    if content == b"cut":  # a real cache whose last folder claims more names than the file holds
        keywalk.walk_cached(str(tree.root), str(cache))
        stamp = cache.stat().st_mtime_ns
        text = cache.read_text().replace("\t1\t0\n", "\t2\t0\n")
        cache.write_text(text.rstrip("\n").rsplit("\n", 1)[0] + "\n")
        os.utime(cache, ns=(stamp, stamp))
    else:
        cache.write_bytes(content)
    assert keywalk.walk_cached(str(tree.root), str(cache)) == ["aws/k"]
    assert cache.read_text().startswith(keywalk.CACHE_HEADER)


def test_a_cache_that_cannot_be_written_costs_only_speed(tmp_path: Path) -> None:
    tree = Tree(tmp_path / "vault")
    tree.apply("mkdir", "aws", "")
    tree.apply("add", "aws", "k.age")
    cache = tmp_path / "cache"
    cache.mkdir()  # os.replace onto a folder fails, as on a full disk
    assert keywalk.walk_cached(str(tree.root), str(cache)) == ["aws/k"]
    assert list(tmp_path.glob("cache.*.tmp")) == []
