"""A bulk write's sync runs beside its commit (store.write_many(sync_later=True)), and the intent
journal, which recovery would restore the files from, goes only once that sync has returned."""

from __future__ import annotations

import os
import threading
import time

import pytest

from secretctl.core.secret import Secret
from secretctl.infra import journal
from secretctl.service.vault import Vault


def _slow_sync_and_events(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    events: list[str] = []
    real_sync, real_clear = os.sync, journal.clear

    def slow_sync() -> None:
        events.append("sync started")
        time.sleep(0.3)
        real_sync()
        events.append("sync returned")

    def clear(path: os.PathLike[str]) -> None:
        events.append("journal cleared")
        real_clear(path)  # type: ignore[arg-type]  # a Path, as journal.clear takes

    monkeypatch.setattr(os, "sync", slow_sync)
    monkeypatch.setattr(journal, "clear", clear)
    return events


def test_the_journal_goes_only_after_the_bulk_sync(inproc: Vault, monkeypatch: pytest.MonkeyPatch) -> None:
    events = _slow_sync_and_events(monkeypatch)
    out = inproc.import_entries([(f"svc/k{i}", Secret(b"v%d" % i)) for i in range(80)])
    assert out.commit
    assert events == ["sync started", "sync returned", "journal cleared"]
    assert [t.name for t in threading.enumerate() if t.name == "secretctl-sync"] == []
    assert inproc.read("svc/k7").reveal() == b"v7"


def test_a_failed_commit_waits_for_the_sync_before_it_rolls_back(inproc: Vault,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from secretctl.errors import SecretctlError
    from secretctl.infra import gitcommit

    events = _slow_sync_and_events(monkeypatch)

    def refuse(*_a: object, **_k: object) -> None:
        raise SecretctlError("git refused the commit")

    monkeypatch.setattr(gitcommit, "commit_paths", refuse)
    with pytest.raises(SecretctlError, match="refused"):
        inproc.import_entries([(f"svc/k{i}", Secret(b"v%d" % i)) for i in range(80)])
    assert events[:2] == ["sync started", "sync returned"]
    assert [t.name for t in threading.enumerate() if t.name == "secretctl-sync"] == []
    assert inproc.key_names() == []
