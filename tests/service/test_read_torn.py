"""A `get` that meets a file half-rewritten by a running bulk write says so, and to retry: not
"damaged, set it again" nor "not a recipient", which would send the user the wrong way."""

from __future__ import annotations

import pytest

from secretctl.core.secret import Secret
from secretctl.errors import ConflictError, VaultCorruptError
from secretctl.infra import journal
from secretctl.service.vault import Vault


def test_a_torn_read_during_a_write_says_retry(inproc: Vault) -> None:
    inproc.import_entries([("app/token", Secret(b"tok-Torn-Get-Value-5150"))])
    path = inproc.root / "app/token.age"
    path.write_bytes(path.read_bytes()[:60])  # what a read sees mid-rewrite
    with pytest.raises(VaultCorruptError):  # no command is writing: damaged, as before
        inproc.read("app/token")
    marker = journal.journal_path(inproc.git_dir)
    marker.write_bytes(b"")  # a running command's journal
    try:
        with pytest.raises(ConflictError, match="being rewritten by another secretctl command") as err:
            inproc.read("app/token")
        assert err.value.hint == "retry when it has finished"
    finally:
        marker.unlink()


def test_a_torn_read_by_run_says_retry_too(inproc: Vault) -> None:
    """`run` reads its values with read_many: the same file, the same words as `get`."""
    inproc.import_entries([("app/token", Secret(b"tok-Torn-Run-Value-5151")), ("app/ok", Secret(b"ok-Value-77"))])
    path = inproc.root / "app/token.age"
    path.write_bytes(path.read_bytes()[:60])
    token, ok = inproc.read_many(["app/token", "app/ok"])
    assert isinstance(token, VaultCorruptError) and ok == Secret(b"ok-Value-77")  # at rest: damaged
    marker = journal.journal_path(inproc.git_dir)
    marker.write_bytes(b"")
    try:
        token, ok = inproc.read_many(["app/token", "app/ok"])
        assert isinstance(token, ConflictError) and "app/token.age is being rewritten" in token.message
        assert token.hint == "retry when it has finished" and ok == Secret(b"ok-Value-77")
    finally:
        marker.unlink()
