"""`unlock --keyring`: the passphrase kept in the OS keyring (a file-backed test backend stands in
for Keychain or the Secret Service, chosen through keyring's own PYTHON_KEYRING_BACKEND)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO, Member
from tests.e2e.test_unlock import PASSWORD, VALUE, agent_status, carol, socket_path  # noqa: F401

pytest.importorskip("keyring")


@pytest.fixture
def kr(carol: Member, tmp_path: Path) -> Iterator[Path]:  # noqa: F811
    store = tmp_path / "keyring.json"
    carol.env.update(PYTHON_KEYRING_BACKEND="tests.keyring_backend.FileKeyring", PYTHONPATH=str(REPO),
                     SECRETCTL_TEST_KEYRING=str(store))
    yield store


def kept(store: Path) -> list[str]:
    return list(json.loads(store.read_text()).values()) if store.exists() else []


def test_first_unlock_keeps_the_passphrase_and_the_next_needs_no_prompt(carol: Member, kr: Path) -> None:  # noqa: F811
    first = carol.run("unlock", "--keyring", input=PASSWORD.encode() + b"\n")
    assert b"kept the passphrase in the OS keyring" in first.stderr
    assert kept(kr) == [PASSWORD]
    carol.run("lock")
    assert agent_status(carol) is None
    second = carol.run("unlock", "--keyring", input=b"")  # nothing on stdin, no terminal: only the keyring
    assert b"kept the passphrase" not in second.stderr
    assert carol.run("get", "app/token").stdout == VALUE
    assert PASSWORD.encode() not in first.stdout + first.stderr + second.stdout + second.stderr


def test_without_the_flag_the_keyring_is_neither_read_nor_written(carol: Member, kr: Path) -> None:  # noqa: F811
    carol.run("unlock", input=PASSWORD.encode() + b"\n")
    assert not kr.exists()
    carol.run("lock")
    kr.write_text(json.dumps({"x": PASSWORD}))
    out = carol.run("unlock", input=b"", check=False)
    assert out.returncode == 4  # no password: the kept one is used only when asked for


def test_a_stale_kept_passphrase_is_removed_and_the_typed_one_kept(carol: Member, kr: Path) -> None:  # noqa: F811
    ident = str(carol.identity.resolve())
    kr.write_text(json.dumps({f"secretctl\0{ident}": "an-old-Passphrase-1"}))
    out = carol.run("unlock", "--keyring", input=PASSWORD.encode() + b"\n")
    assert b"wrong (was it changed?); removed it" in out.stderr
    assert kept(kr) == [PASSWORD]
    assert carol.run("get", "app/token").stdout == VALUE


def test_lock_keyring_removes_it_and_passwd_drops_a_stale_one(carol: Member, kr: Path) -> None:  # noqa: F811
    carol.run("unlock", "--keyring", input=PASSWORD.encode() + b"\n")
    out = carol.run("lock", "--keyring")
    assert b"removed the passphrase from the OS keyring" in out.stderr
    assert kept(kr) == []
    carol.run("unlock", "--keyring", input=PASSWORD.encode() + b"\n")
    carol.run("lock")
    changed = carol.run("identity", "passwd", env={"SECRETCTL_PASSWORD": PASSWORD}, input=b"a-New-Password-2027\n")
    assert b"removed the old passphrase from the OS keyring" in changed.stderr
    assert kept(kr) == []


def test_no_usable_keyring_fails_closed_before_anything_starts(carol: Member, kr: Path) -> None:  # noqa: F811
    carol.env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.fail.Keyring"
    out = carol.run("unlock", "--keyring", input=PASSWORD.encode() + b"\n", check=False)
    assert out.returncode == 2
    assert b"no usable OS keyring" in out.stderr
    assert b"hint:" in out.stderr
    assert agent_status(carol) is None
    assert not socket_path(carol).exists()
