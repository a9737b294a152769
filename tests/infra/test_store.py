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
