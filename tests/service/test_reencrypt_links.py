"""Re-encryption never reads a secret's file through a symbolic link (an attack test)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from secretctl.core.secret import Secret
from secretctl.errors import VaultCorruptError
from secretctl.service.results import SetRequest
from secretctl.service.vault import Vault


def _head(root: Path) -> str:
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True).stdout


def _mine(inproc: Vault) -> str:
    lines = (inproc.root / ".age-recipients").read_text().splitlines()
    return next(ln.strip() for ln in lines if ln.strip() and not ln.startswith("#"))


@pytest.mark.parametrize("command", ["member_add", "reencrypt"])
def test_a_committed_link_to_a_secret_outside_the_vault_is_never_reencrypted_for_its_members(
        inproc: Vault, tmp_path: Path, command: str) -> None:
    # Attack: a member commits `app/x.age` as a symbolic link to a secret of another vault of
    # yours (encrypted to you). Re-encryption read through it and committed that secret here,
    # re-keyed for the new member (or re-encrypted for every member of this vault).
    import pyrage

    inproc.set("app/a", SetRequest(value=Secret(b"this-vault-value")))
    other = tmp_path / "other-vault" / "prod" / "db.age"
    other.parent.mkdir(parents=True)
    secret_elsewhere = pyrage.encrypt(b"other-vault-value", [pyrage.x25519.Recipient.from_str(_mine(inproc))])
    other.write_bytes(secret_elsewhere)
    os.symlink(other, inproc.root / "app" / "x.age")
    subprocess.run(["git", "add", "app/x.age"], cwd=inproc.root, check=True)
    subprocess.run(["git", "commit", "-qm", "planted"], cwd=inproc.root, check=True)
    head = _head(inproc.root)
    carol = pyrage.x25519.Identity.generate()
    if command == "reencrypt":
        with (inproc.root / ".age-recipients").open("a") as fh:  # carol added by hand: every file is stale
            fh.write(f"# carol\n{carol.to_public()}\n")
        subprocess.run(["git", "commit", "-qam", "carol"], cwd=inproc.root, check=True)
        head = _head(inproc.root)
    with pytest.raises(VaultCorruptError, match=r"app/x\.age: is a symbolic link"):
        inproc.member_add("carol", str(carol.to_public())) if command == "member_add" else inproc.reencrypt()
    assert _head(inproc.root) == head
    assert os.path.islink(inproc.root / "app" / "x.age")
    assert other.read_bytes() == secret_elsewhere
    with pytest.raises(pyrage.DecryptError):
        pyrage.decrypt((inproc.root / "app" / "a.age").read_bytes(), [carol])  # nothing was re-keyed
