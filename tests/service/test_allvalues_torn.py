"""A value never drops out of the all-values redactor because its file was read torn.

Bulk writes rewrite files in place under the intent journal, so a build that reads a file while
it is being rewritten sees a damaged age file. Before, that key's values were forgotten until the
next change of HEAD, and an agent's run could print them unredacted."""

from __future__ import annotations

import pytest

from secretctl.core.secret import Secret
from secretctl.errors import ConflictError
from secretctl.infra import journal
from secretctl.service import allvalues
from secretctl.service.vault import Vault

VALUES = {"app/token": b"tok-Torn-Read-Value-4711", "app/other": b"oth-Torn-Read-Value-9922"}


@pytest.fixture
def vault(inproc: Vault) -> Vault:
    inproc.import_entries([(k, Secret(v)) for k, v in VALUES.items()])
    return inproc


def _tear(vault: Vault, key: str) -> None:
    """What a reader sees mid-rewrite: the start of a file, the rest not yet written."""
    path = vault.root / f"{key}.age"
    path.write_bytes(path.read_bytes()[:60])


def test_a_torn_read_keeps_the_values_of_the_last_build(vault: Vault) -> None:
    cache = allvalues.ValuesCache()
    assert b"tok-Torn" not in allvalues.values_redactor(vault, cache=cache).redact(VALUES["app/token"])
    _tear(vault, "app/token")
    again = allvalues.values_redactor(vault, cache=cache)
    assert again.redact(b"x " + VALUES["app/token"] + b" y") == b"x [REDACTED:app/token] y"


def test_a_torn_read_with_nothing_known_fails_the_build_while_a_command_writes(vault: Vault) -> None:
    _tear(vault, "app/token")
    path = journal.journal_path(vault.git_dir)
    path.write_bytes(b"")  # a command's journal is open: its writes are under way
    try:
        with pytest.raises(ConflictError, match="being rewritten"):
            allvalues.values_redactor(vault, cache=allvalues.ValuesCache())
    finally:
        path.unlink()


def test_a_file_damaged_at_rest_is_skipped_as_before(vault: Vault) -> None:
    _tear(vault, "app/token")
    built = allvalues.values_redactor(vault, cache=allvalues.ValuesCache())
    assert built.redact(VALUES["app/other"]) == b"[REDACTED:app/other]"
