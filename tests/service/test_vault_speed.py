"""Shortcuts the service takes on big vaults, each checked against the slow answer it replaces."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import pytest

from secretctl.core import keys as keys_mod
from secretctl.core.secret import Secret
from secretctl.errors import UsageError
from secretctl.infra import settings
from secretctl.service.vault import Vault
from tests.conftest import Member


def _vault(alice: Member, vault_dir: Path) -> Vault:
    os.environ.update({k: v for k, v in alice.env.items() if k.startswith("SECRETCTL_")})
    return Vault(vault_dir, identity_path=settings.identity_path(), password=lambda: "", actor="alice")


def _outcome(fn: object, key: str) -> str:
    try:
        fn(key)  # type: ignore[operator]  # (a check that raises or returns None)
    except UsageError as exc:
        return exc.message
    return "ok"


def _spellings(key: str) -> list[str]:
    out = {key}
    for i, c in enumerate(key):
        if c.isalpha():
            out.add(key[:i] + c.swapcase() + key[i + 1:])
    out.add(key.swapcase())
    return sorted(out)


def test_the_case_check_along_the_path_agrees_with_the_full_listing(alice: Member, vault_dir: Path) -> None:
    v = _vault(alice, vault_dir)
    v.import_entries([(k, Secret(b"v")) for k in ["Aws/x", "db/Prod/y", "top", "mixed/Inner/k", "a/b/c/d"]])
    # Folders the full walk ignores or that hold no key: no collision with them.
    (vault_dir / "Empty").mkdir()
    (vault_dir / "Empty" / "notes.txt").write_text("not a key")
    (vault_dir / "Hidden.age").mkdir()
    full = _vault(alice, vault_dir).key_names()
    wanted = ["aws/x", "aws/new", "db/prod/y", "db/prod/z", "TOP", "top/x", "mixed/inner/k", "A/B/C/D", "empty/x",
              "hidden", "a/b/c/e", "new/key"]
    for key in itertools.chain.from_iterable(_spellings(k) for k in wanted):
        fresh = _vault(alice, vault_dir)
        expected = _outcome(lambda k: keys_mod.check_case_collision(k, full), key)
        assert _outcome(fresh._check_new_key, key) == expected, key


@pytest.mark.parametrize("key", ["aws/X", "AWS/new"])
def test_set_refuses_a_case_variant_without_listing_the_vault(alice: Member, vault_dir: Path, key: str,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    v = _vault(alice, vault_dir)
    v.import_entries([("aws/x", Secret(b"v"))] + [(f"f{i}/k", Secret(b"v")) for i in range(5)])
    fresh = _vault(alice, vault_dir)
    walked: list[str] = []
    real_walk = Vault._walk
    monkeypatch.setattr(Vault, "_walk", lambda self, start: walked.append(start) or real_walk(self, start))
    from secretctl.service.results import SetRequest

    with pytest.raises(UsageError, match="only by case"):
        fresh.set(key, SetRequest(value=Secret(b"other")))
    assert "" not in walked  # never the whole vault
