"""service/gitdrivers: the merge driver for sidecars never escapes with a yaml exception (issue 14 bug 2)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from secretctl.errors import VaultCorruptError
from secretctl.service import gitdrivers
from tests.conftest import SECRETCTL, Member

GOOD = b'version: 1\ncreated: "2026-01-01T00:00:00Z"\nupdated: "2026-01-01T00:00:00Z"\n'
MALFORMED = b'version: 1\nnotes: "unterminated\n'


def _sides(tmp_path: Path, theirs: bytes) -> tuple[Path, Path, Path]:
    base, ours, other = tmp_path / "base", tmp_path / "ours", tmp_path / "theirs"
    base.write_bytes(GOOD)
    ours.write_bytes(GOOD.replace(b"version: 1\n", b"version: 1\nnotes: mine\n"))
    other.write_bytes(theirs)
    return base, ours, other


def test_a_malformed_side_is_a_vault_corrupt_error_naming_file_and_line(tmp_path: Path) -> None:
    base, ours, theirs = _sides(tmp_path, MALFORMED)
    before = ours.read_bytes()
    with pytest.raises(VaultCorruptError, match=r"^db\.meta\.yaml:\d+: not valid YAML"):
        gitdrivers.merge_meta(base, ours, theirs, "db.meta.yaml")
    assert ours.read_bytes() == before


def test_the_merge_driver_command_fails_in_one_line_not_as_an_internal_error(tmp_path: Path, alice: Member) -> None:
    base, ours, theirs = _sides(tmp_path, MALFORMED)
    proc = subprocess.run([SECRETCTL, "merge-driver", "meta", str(base), str(ours), str(theirs), "db.meta.yaml"],
                          env=alice.env, capture_output=True, timeout=60)
    assert proc.returncode == VaultCorruptError.exit_code
    err = proc.stderr.decode()
    assert err.startswith("secretctl: error: db.meta.yaml:")
    assert "internal error" not in err


def test_two_good_sides_still_merge(tmp_path: Path) -> None:
    base, ours, theirs = _sides(tmp_path, GOOD.replace(b"version: 1\n", b"version: 1\ntags: [x]\n"))
    assert gitdrivers.merge_meta(base, ours, theirs, "db.meta.yaml")
    merged = ours.read_bytes()
    assert b"mine" in merged and b"x" in merged
