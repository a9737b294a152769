"""Sealing an agent run's record: the marker naming the sealed log is written when it gains a
name, not rewritten (two disk syncs) by every run that seals the same log."""

from __future__ import annotations

import os

from secretctl.service.vault import Vault


def test_the_sealed_marker_is_written_once_per_log(inproc: Vault) -> None:
    marker = inproc.root / ".git" / "secretctl" / "audit-sealed"
    log = inproc.root / ".secretctl" / "audit" / "alice.jsonl"
    inproc.record_access("run", ["app/a"], decision="allow", rule="r", exit_code=0, duration_ms=1)
    inproc.seal_access_log()
    first = os.stat(marker)
    assert marker.read_text().split() == [".secretctl/audit/alice.jsonl"]
    inproc.record_access("run", ["app/b"], decision="allow", rule="r", exit_code=0, duration_ms=1)
    inproc.seal_access_log()
    assert os.stat(marker).st_ino == first.st_ino  # not replaced by an atomic write
    assert marker.read_text().split() == [".secretctl/audit/alice.jsonl"]
    assert log.read_text().count('"action":"run"') == 2  # both records are sealed in the log
