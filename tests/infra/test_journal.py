"""The intent journal file: created once, appended, read back, refused while one is pending."""

from __future__ import annotations

from pathlib import Path

import pytest

from secretctl.core import intent
from secretctl.errors import ConflictError, SecretctlError, VaultCorruptError
from secretctl.infra import journal


def test_begin_append_read_clear(tmp_path: Path) -> None:
    path = journal.journal_path(tmp_path / ".git")
    assert journal.read(path) == (False, None)
    journal.begin(path, intent.header_line("set", None, 7, "t") + intent.paths_line(["k.age"]))
    journal.append(path, intent.paths_line(["k.meta.yaml"]))
    assert journal.pending(tmp_path / ".git")
    found, got = journal.read(path)
    assert found and got is not None
    assert (got.op, got.pid, got.paths) == ("set", 7, ("k.age", "k.meta.yaml"))
    assert path.stat().st_mode & 0o777 == 0o600
    journal.clear(path)
    assert not journal.pending(tmp_path / ".git")


def test_a_pending_journal_is_never_overwritten(tmp_path: Path) -> None:
    path = journal.journal_path(tmp_path)
    journal.begin(path, intent.header_line("set", None, 1, "t"))
    with pytest.raises(ConflictError) as err:
        journal.begin(path, intent.header_line("import", None, 2, "t"))
    assert "pending" in err.value.message
    assert journal.read(path)[1] is not None and journal.read(path)[1].op == "set"  # type: ignore[union-attr]


def test_a_journal_that_cannot_be_created_is_a_clean_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(SecretctlError) as err:
        journal.begin(tmp_path / "file" / "secretctl" / "journal", b"x\n")
    assert "intent journal" in err.value.message and "\n" not in err.value.message


def test_a_damaged_journal_is_an_error_not_a_guess(tmp_path: Path) -> None:
    path = journal.journal_path(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_bytes(intent.header_line("set", None, 1, "t") + b"garbage\n" + intent.paths_line(["a.age"]))
    with pytest.raises(VaultCorruptError):
        journal.read(path)
