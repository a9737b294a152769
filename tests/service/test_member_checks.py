"""`member add` reads every sidecar while git checks the recipients files (a thread): the order
of its refusals is the one the person saw before, and each leaves the disk as it was."""

from __future__ import annotations

from pathlib import Path

import pytest

from secretctl.core.secret import Secret
from secretctl.errors import TamperedError, VaultCorruptError
from secretctl.infra import identity
from secretctl.service.vault import Vault
from tests.conftest import git, snapshot


def _vault(inproc: Vault, tmp_path: Path) -> str:
    inproc.import_entries([(f"team{i % 4}/key{i}", Secret(f"value-{i:04d}-abcdef".encode())) for i in range(12)])
    return identity.create(tmp_path / "bob.age", passphrase=None)


def test_a_planted_recipient_is_refused_before_a_broken_sidecar(inproc: Vault, tmp_path: Path) -> None:
    bob = _vault(inproc, tmp_path)
    mallory = identity.create(tmp_path / "mallory.age", passphrase=None)
    with (inproc.root / ".age-recipients").open("a") as fh:
        fh.write(f"{mallory}\n")
    (inproc.root / "team1/key5.meta.yaml").write_text("version: [unclosed\n")
    before = snapshot(inproc.root)
    with pytest.raises(TamperedError, match=r"\.age-recipients"):
        inproc.member_add("bob", bob)
    assert snapshot(inproc.root) == before


def test_a_broken_sidecar_is_named_and_nothing_changes(inproc: Vault, tmp_path: Path) -> None:
    bob = _vault(inproc, tmp_path)
    (inproc.root / "team1/key5.meta.yaml").write_text("version: [unclosed\n")
    before, head = snapshot(inproc.root), git(inproc.root, "rev-parse", "HEAD")
    with pytest.raises(VaultCorruptError, match=r"team1/key5\.meta\.yaml"):
        inproc.member_add("bob", bob)
    assert snapshot(inproc.root) == before
    assert git(inproc.root, "rev-parse", "HEAD") == head
