"""vault.py, in process, on a real vault (real git, real age)."""

from __future__ import annotations

import os
from pathlib import Path

from secretctl.core.secret import Secret
from secretctl.infra import settings
from secretctl.service.vault import Vault
from tests.conftest import Member


def test_listing_one_folder_lists_what_the_full_walk_finds_there(alice: Member, vault_dir: Path) -> None:
    os.environ.update({k: v for k, v in alice.env.items() if k.startswith("SECRETCTL_")})
    v = Vault(vault_dir, identity_path=settings.identity_path(), password=lambda: "", actor="alice")
    keys = ["top", "aws/a", "aws/b", "aws/deep/c", "aws/deep/er/d", "awsx/e", "db/f"]
    v.import_entries([(k, Secret(b"value-" + k.encode())) for k in keys])
    # Folders the full walk does not enter: hidden, named like a secret file, a symlink.
    for odd in (".hidden", "aws/trap.age", "aws/trap.meta.yaml"):
        (vault_dir / odd).mkdir(parents=True)
        (vault_dir / odd / "z.age").write_bytes((vault_dir / "top.age").read_bytes())
    (vault_dir / "aws" / "link").symlink_to(vault_dir / "db")
    (vault_dir / "outside").mkdir()
    (vault_dir / "outside" / "o.age").write_bytes((vault_dir / "top.age").read_bytes())
    (vault_dir / "outlink").symlink_to(vault_dir / "outside")

    full = Vault(vault_dir, identity_path=settings.identity_path(), password=lambda: "", actor="alice").key_names()
    assert "outside/o" in full and not any(k.startswith(("aws/link", "outlink", ".hidden", "aws/trap.")) for k in full)
    folders = ["", "aws", "aws/deep", "aws/deep/er", "awsx", "db", "nope", "aws/link", "outlink", ".hidden",
               "aws/trap.age", "aws/trap.meta.yaml", "../vault/aws", "aws/../db", "aws/", "/aws", "Aws"]
    for folder in folders:
        fresh = Vault(vault_dir, identity_path=settings.identity_path(), password=lambda: "", actor="alice")
        expected = [k for k in full if not folder or k.startswith(folder + "/")]
        assert fresh.key_names(under=folder) == expected, folder
        fresh.key_names()  # and the same answer once the full listing is cached
        assert fresh.key_names(under=folder) == expected, folder
