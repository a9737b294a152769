"""Atomic writes, single and in bulk: the files land whole, with the asked-for mode, and a failure
leaves no temp file and no half-written target."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from secretctl.errors import SecretctlError
from secretctl.infra import store


@pytest.mark.parametrize("count", [50, 300])  # one thread, and a batch big enough for several
def test_write_many_writes_every_file_exactly(tmp_path: Path, count: int) -> None:
    files = [(tmp_path / f"d{i % 3}" / "sub" / f"f{i}.age", os.urandom(i * 37)) for i in range(count)]
    old = tmp_path / "d0" / "sub" / "f0.age"
    old.parent.mkdir(parents=True)
    old.write_bytes(b"old content")
    os.umask(0o077)
    try:
        store.write_many(files)
    finally:
        os.umask(0o022)
    for path, data in files:
        assert path.read_bytes() == data
        assert path.stat().st_mode & 0o777 == 0o644  # the umask does not change what was asked for
    assert sorted(p.name for p in tmp_path.rglob("*") if "tmp-" in p.name) == []


@pytest.mark.parametrize("count", [1, 299])
def test_write_many_failure_leaves_targets_untouched_and_no_temp_files(tmp_path: Path, count: int) -> None:
    goods = [tmp_path / "a" / f"k{i}.age" for i in range(count)]
    goods[0].parent.mkdir()
    for g in goods:
        g.write_bytes(b"before")
    (tmp_path / "blocked").write_text("a file, not a folder")
    batch = [(g, b"after") for g in goods]
    batch.insert(count // 2, (tmp_path / "blocked" / "k.age", b"x"))
    with pytest.raises(SecretctlError) as info:
        store.write_many(batch)
    assert "cannot write" in info.value.message and "blocked" in info.value.message
    assert info.value.hint
    assert all(g.read_bytes() == b"before" for g in goods)
    assert [p.name for p in tmp_path.rglob("*tmp-*")] == []


def test_atomic_write_replaces_whole_and_translates_errors(tmp_path: Path) -> None:
    target = tmp_path / "f"
    store.atomic_write(target, b"one", mode=0o600)
    store.atomic_write(target, b"two", mode=0o600)
    assert target.read_bytes() == b"two"
    assert target.stat().st_mode & 0o777 == 0o600
    (tmp_path / "file").write_text("x")
    with pytest.raises(SecretctlError, match="cannot write"):
        store.atomic_write(tmp_path / "file" / "child", b"v")
    assert [p.name for p in tmp_path.rglob("*tmp-*")] == []


def test_write_many_refuses_a_path_twice_and_writes_nothing(tmp_path: Path) -> None:
    target = tmp_path / "k.age"
    with pytest.raises(ValueError, match="twice"):
        store.write_many([(target, b"one"), (tmp_path / "other.age", b"x"), (target, b"two")])
    assert list(tmp_path.iterdir()) == []


def test_write_many_generator_failing_midway_leaves_targets_untouched_and_no_temp_files(tmp_path: Path) -> None:
    goods = [tmp_path / f"d{i % 4}" / f"k{i}.age" for i in range(300)]
    for g in goods:
        g.parent.mkdir(exist_ok=True)
        g.write_bytes(b"before")

    class EncryptionFailed(Exception):
        pass

    def produce() -> Iterator[tuple[Path, bytes]]:
        for i, g in enumerate(goods):
            if i == 200:  # several chunks are already on writer threads by now
                raise EncryptionFailed
            yield g, b"after"

    with pytest.raises(EncryptionFailed):
        store.write_many(produce())
    assert all(g.read_bytes() == b"before" for g in goods)
    assert [p.name for p in tmp_path.rglob("*tmp-*")] == []


def test_write_many_in_place_rewrites_each_file_in_its_own_inode(tmp_path: Path) -> None:
    """In place (bulk writes under the intent journal): no inode allocated or freed for a file that
    exists, longer and shorter contents exact, the asked-for mode, new files under their own name."""
    grown, shrunk, loose = tmp_path / "a" / "grown.age", tmp_path / "a" / "shrunk.age", tmp_path / "a" / "loose.age"
    grown.parent.mkdir()
    grown.write_bytes(b"short")
    shrunk.write_bytes(b"a much longer old content")
    loose.write_bytes(b"old")
    loose.chmod(0o600)
    inodes = {p: p.stat().st_ino for p in (grown, shrunk, loose)}
    files = [(grown, b"grown to a longer content"), (shrunk, b"short"), (loose, b"new"),
             *((tmp_path / "b" / f"new{i}.age", os.urandom(i)) for i in range(100))]
    store.write_many(files, in_place=True)
    for path, data in files:
        assert path.read_bytes() == data
        assert path.stat().st_mode & 0o777 == 0o644
    assert {p: p.stat().st_ino for p in inodes} == inodes
    assert [p.name for p in tmp_path.rglob("*tmp-*")] == []


def test_write_many_in_place_never_writes_through_a_link_or_into_a_fifo(tmp_path: Path) -> None:
    """A committed symbolic link could point out of the vault, a hard link would see the write and a
    FIFO would block the open: each is replaced by a new file, as without ``in_place``."""
    outside, linked = tmp_path / "outside", tmp_path / "linked"
    outside.write_bytes(b"not the vault's")
    linked.write_bytes(b"not the vault's")
    vault = tmp_path / "vault"
    vault.mkdir()
    (vault / "sym.age").symlink_to(outside)
    (vault / "dangling.age").symlink_to(tmp_path / "nowhere")
    os.link(linked, vault / "hard.age")
    os.mkfifo(vault / "fifo.age")
    names = ["sym.age", "dangling.age", "hard.age", "fifo.age"]
    store.write_many([(vault / n, n.encode()) for n in names], in_place=True)
    for n in names:
        assert not (vault / n).is_symlink() and (vault / n).is_file()
        assert (vault / n).read_bytes() == n.encode()
    assert outside.read_bytes() == linked.read_bytes() == b"not the vault's"
    assert not (tmp_path / "nowhere").exists()
    assert [p.name for p in tmp_path.rglob("*tmp-*")] == []


def test_chunks_all_run_and_the_first_error_in_order_is_raised() -> None:
    """The writer threads: every chunk runs even after one fails (a clean-up must see every file
    touched), and the error raised is the earliest chunk's, whichever thread finished first."""
    import threading
    import time

    done: list[int] = []
    lock = threading.Lock()

    def work(chunk: list[int]) -> None:
        if chunk and chunk[0] == 2 * store._CHUNK:
            time.sleep(0.05)  # the earlier failure finishes last
            raise ValueError("chunk 2")
        with lock:
            done.extend(chunk)
        if chunk and chunk[0] == 5 * store._CHUNK:
            raise ValueError("chunk 5")

    items = list(range(8 * store._CHUNK + 3))
    with pytest.raises(ValueError, match="chunk 2"):
        store._in_chunks(items, work, workers=2)
    assert sorted(done) == [i for i in items if not 2 * store._CHUNK <= i < 3 * store._CHUNK]
    assert not [t for t in threading.enumerate() if t.name == "secretctl-writer"]


def test_bulk_writes_import_no_logging(tmp_path: Path) -> None:
    """concurrent.futures brought logging (and traceback, string...) into every bulk command."""
    import subprocess
    import sys

    code = ("import sys; from secretctl.infra import store; "
            f"store.write_many([({str(tmp_path)!r} + f'/f{{i}}', b'x') for i in range(200)], in_place=True); "
            "print(sorted(m for m in ('logging', 'concurrent.futures') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    assert len(list(tmp_path.iterdir())) == 200
