"""vault.py, in process, on a real vault (real git, real age)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

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


def _spy(walk: Callable[[str], list[str]], walked: list[str]) -> Callable[[str], list[str]]:
    def spied(start: str) -> list[str]:
        walked.append(start)
        return walk(start)
    return spied


def test_keys_near_finds_every_key_a_bulk_write_can_meet_and_walks_no_other_folder(
        alice: Member, vault_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from secretctl.errors import UsageError

    os.environ.update({k: v for k, v in alice.env.items() if k.startswith("SECRETCTL_")})

    def vault() -> Vault:
        return Vault(vault_dir, identity_path=settings.identity_path(), password=lambda: "", actor="alice")

    keys = ["Token", "App/db/x", "app2/y", "other/k", "other/deep/k", "zzz/far"]
    vault().import_entries([(k, Secret(b"value-" + k.encode())) for k in keys])
    (vault_dir / ".hidden").mkdir()
    (vault_dir / ".hidden" / "z.age").write_bytes((vault_dir / "Token.age").read_bytes())
    full = vault().key_names()
    for wanted in (["token"], ["app/db/y"], ["APP2/q", "other/new"], ["new/one"], ["zzz/far", "Token/x"]):
        firsts = {w.split("/")[0].casefold() for w in wanted}
        v = vault()
        walked: list[str] = []
        monkeypatch.setattr(v, "_walk", _spy(v._walk, walked))
        assert v.keys_near(wanted) == [k for k in full if k.split("/")[0].casefold() in firsts], wanted
        assert "" not in walked  # never the whole vault
    # What that means for an import: the same refusals as with the full listing.
    with pytest.raises(UsageError, match="only by case"):
        vault().import_entries([("token", Secret(b"value-token-2"))])
    with pytest.raises(UsageError, match="folder app differs from existing folder App only by case"):
        vault().import_entries([("app/db/y", Secret(b"value-y-2"))])
    with pytest.raises(UsageError, match="already exists: other/deep/k"):
        vault().import_entries([("other/deep/k", Secret(b"value-k-2"))])
    out = vault().import_entries([("other/deep/k", Secret(b"value-k-3")), ("new/one", Secret(b"value-one"))],
                                 on_conflict="skip")
    assert out.keys == ["new/one"] and out.skipped == ["other/deep/k"]
