"""Writes the file system refuses become one ReadOnlyError naming what is read-only; other
failures keep their own message. Injected here at the system call; tests/e2e/test_odd_places.py
makes real read-only mounts and permissions."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

import pytest

from secretctl.errors import ReadOnlyError, SecretctlError
from secretctl.infra import store


def refuse(code: int) -> Any:
    real = os.open

    def fake(path: Any, flags: int, *args: Any) -> int:
        if flags & (os.O_WRONLY | os.O_RDWR):
            raise OSError(code, os.strerror(code), str(path))
        return real(path, flags, *args)

    return fake


@pytest.mark.parametrize("code", [errno.EROFS, errno.EACCES, errno.EPERM])
def test_refused_writes_are_read_only_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int) -> None:
    monkeypatch.setattr(store.os, "open", refuse(code))
    with (pytest.raises(ReadOnlyError, match=r"the vault at /v is read-only \(.*\); nothing was changed") as err,
          store.locked(tmp_path / "lock", what="the vault at /v")):
        pass
    assert err.value.exit_code == 7
    assert err.value.hint
    with pytest.raises(ReadOnlyError, match="read-only"):
        store.atomic_write(tmp_path / "f", b"data")
    with pytest.raises(ReadOnlyError, match="read-only"):
        store.append_locked(tmp_path / "log.jsonl", b"{}\n")
    assert not (tmp_path / "f").exists()


def test_a_full_disk_is_not_called_read_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store.os, "open", refuse(errno.ENOSPC))
    with pytest.raises(SecretctlError) as err:
        store.atomic_write(tmp_path / "f", b"data")
    assert not isinstance(err.value, ReadOnlyError)
    assert "No space left" in err.value.message
