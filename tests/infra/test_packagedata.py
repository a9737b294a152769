"""The package data a command needs (the vault template), read through importlib.resources."""

from __future__ import annotations

from pathlib import Path

import pytest

from secretctl.errors import NotFoundError
from secretctl.infra import packagedata
from tests.conftest import REPO


def test_vault_template_has_its_dotfiles() -> None:
    files = dict(packagedata.vault_template())
    assert {".gitattributes", ".pre-commit-config.yaml", ".secretctl/config.yaml", "README.md"} <= set(files)
    assert files[".secretctl/config.yaml"].startswith(b"version: 1")
    assert b"merge=secretctl-age" in files[".gitattributes"]


def test_one_source_of_truth() -> None:
    # The template lives in the package only: a second copy at the top would drift.
    assert not (REPO / "vault-template").exists()
    assert (REPO / "secretctl" / "data" / "vault-template" / ".gitattributes").is_file()


def test_a_broken_install_says_so(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(packagedata, "_data", lambda: tmp_path)
    with pytest.raises(NotFoundError, match="missing from this secretctl install") as err:
        packagedata.vault_template()
    assert err.value.hint and "reinstall" in err.value.hint
