"""Program lookup, trust, identification and the held copy (infra/programs.py), on real files."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest

from secretctl.infra import programs

SYSTEM = programs.DEFAULT_PATH


def test_lookup_uses_the_given_path_only(tmp_path: Path) -> None:
    (tmp_path / "mytool").write_text("#!/bin/sh\necho hi\n")
    (tmp_path / "mytool").chmod(0o755)
    with pytest.raises(programs.CommandNotFound):
        programs.open_program("mytool", SYSTEM, tmp_path)
    with programs.open_program("mytool", [str(tmp_path), *SYSTEM], tmp_path) as p:
        assert p.realpath == str(tmp_path / "mytool")


def test_held_copy_is_exactly_the_hashed_bytes(tmp_path: Path) -> None:
    script = tmp_path / "t.sh"
    script.write_text("#!/bin/sh\necho one\n")
    script.chmod(0o755)
    with programs.open_program("./t.sh", SYSTEM, tmp_path) as p:
        script.write_text("#!/bin/sh\necho two, swapped\n")
        held = os.pread(p.fd, 1 << 16, 0)
        assert held == b"#!/bin/sh\necho one\n"
        assert p.sha256 == hashlib.sha256(held).hexdigest()
        with pytest.raises(OSError):
            os.pwrite(p.fd, b"x", 0)  # sealed


def test_trust_follows_the_folders(tmp_path: Path) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "t").write_text("#!/bin/sh\n")
    (bindir / "t").chmod(0o755)
    with programs.open_program("true", SYSTEM, tmp_path) as p:
        assert p.trusted
    root_owned = os.stat(bindir).st_uid == 0
    with programs.open_program("t", [str(bindir)], tmp_path) as p:
        assert p.trusted is root_owned
    bindir.chmod(0o777)
    with programs.open_program("t", [str(bindir)], tmp_path) as p:
        assert not p.trusted
    bindir.chmod(0o755)
    (bindir / "t").chmod(0o775)  # group-writable file
    with programs.open_program("t", [str(bindir)], tmp_path) as p:
        assert not p.trusted


def test_identified_by_inode_content_and_appended_bytes(tmp_path: Path) -> None:
    sed = os.path.realpath(shutil.which("sed", path="/usr/bin:/bin") or "/bin/sed")
    (tmp_path / "kubectl").symlink_to(sed)
    shutil.copy(sed, tmp_path / "aws")
    (tmp_path / "gcloud").write_bytes(Path(sed).read_bytes() + b"\0\0appended")
    (tmp_path / "gcloud").chmod(0o755)
    for name in ("kubectl", "aws", "gcloud"):
        with programs.open_program(name, [str(tmp_path)], tmp_path) as p:
            assert p.identity == "sed", name
    with programs.open_program("true", SYSTEM, tmp_path) as p:
        assert p.identity is None


def test_elf_extent_is_the_file_size_of_a_clean_binary() -> None:
    true = os.path.realpath("/bin/true")
    fd = os.open(true, os.O_RDONLY)
    try:
        head = os.pread(fd, 64, 0)
        assert programs.elf_extent(head, fd) == os.fstat(fd).st_size
    finally:
        os.close(fd)
    assert programs.elf_extent(b"#!/bin/sh\n" + bytes(60), -1) is None


def test_not_executable_and_missing(tmp_path: Path) -> None:
    (tmp_path / "data").write_text("x")
    with pytest.raises(programs.CommandNotFound):
        programs.open_program("data", [str(tmp_path)], tmp_path)
    with pytest.raises(programs.CommandNotExecutable):
        programs.open_program("./data", SYSTEM, tmp_path)
    with pytest.raises(programs.CommandNotFound):
        programs.open_program("", SYSTEM, tmp_path)
