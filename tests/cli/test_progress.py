"""cli/common.Progress: the bar a person sees on a terminal starts no thread. A bulk command
forks a worker for its cryptography only while it runs a single thread (infra/forked), and rich
redraws from a thread of its own unless told not to."""

from __future__ import annotations

import io
import threading

import pytest

from secretctl.cli import common


def test_the_progress_bar_on_a_terminal_starts_no_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("os.isatty", lambda fd: True)
    monkeypatch.setattr("sys.stderr", io.StringIO())
    before = threading.active_count()
    with common.Progress("re-encrypting", 200) as bar:
        assert bar._bar is not None  # a bar is drawn
        for i in range(200):
            bar.update(i + 1)
        assert threading.active_count() == before


def test_the_total_is_counted_only_for_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """`member add` counted every key (a walk of the vault) for a bar nobody saw."""
    counted: list[int] = []

    def total() -> int:
        counted.append(1)
        return 200

    monkeypatch.setattr("os.isatty", lambda fd: False)
    with common.Progress("re-encrypting", total) as bar:
        assert bar._bar is None
    assert counted == []
    monkeypatch.setattr("os.isatty", lambda fd: True)
    monkeypatch.setattr("sys.stderr", io.StringIO())
    with common.Progress("re-encrypting", total) as bar:
        assert bar._bar is not None and bar.total == 200
    assert counted == [1]
