"""Bulk commands read HEAD's recipients files for all their folders in one `git cat-file`
(service/trust.py prefetch), not one git process per folder: 100 folders cost an import of
300 secrets 0.4 of its 0.86 s (a real vault in-process)."""

from __future__ import annotations

from pathlib import Path

import pytest

from secretctl.core.secret import Secret
from secretctl.infra import gitobjects, identity
from secretctl.service.vault import Vault

FOLDERS = 12


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many paths each `committed_many` call (one git process) read."""
    calls: list[int] = []
    real = gitobjects.committed_many

    def counting(root: Path, relpaths: list[str]) -> dict[str, bytes | None]:
        calls.append(len(relpaths))
        return real(root, relpaths)

    monkeypatch.setattr(gitobjects, "committed_many", counting)
    return calls


def _entries(prefix: str) -> list[tuple[str, Secret]]:
    return [(f"{prefix}{i % FOLDERS}/key{i}", Secret(f"value-{prefix}-{i:04d}-abcdef".encode())) for i in range(36)]


def test_an_import_reads_every_folders_recipients_in_one_git_call(inproc: Vault, reads: list[int]) -> None:
    out = inproc.import_entries(_entries("svc"))
    assert len(out.keys) == 36 and out.commit
    assert len(reads) == 1, reads  # was one per folder
    assert inproc.reveal("svc5/key17").reveal() == b"value-svc-0017-abcdef"


def test_member_add_reads_every_folders_recipients_in_one_git_call(inproc: Vault, reads: list[int],
                                                                    tmp_path: Path) -> None:
    inproc.import_entries(_entries("team"))
    bob = identity.create(tmp_path / "bob.age", passphrase=None)
    reopened = Vault(inproc.root, identity_path=inproc.identity_path, password=lambda: "", actor="alice")
    reads.clear()
    added = reopened.member_add("bob", bob)
    assert len(added.keys) == 36
    assert len(reads) <= 2, reads  # the recipients check, then one batch; was one per folder more
