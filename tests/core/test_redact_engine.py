"""The compiled literal set (core/redact/engine.py): a big set is compiled as several databases
on threads; scanning them finds exactly what one database finds, with the same pattern indices."""

from __future__ import annotations

import os

import pytest

from secretctl.core.redact import Redactor, engine
from secretctl.core.redact.engine import LiteralSet
from secretctl.core.secret import Secret


def test_a_split_set_finds_what_one_database_finds(monkeypatch: pytest.MonkeyPatch) -> None:
    patterns = [os.urandom(6).hex().encode() for _ in range(50)]
    data = b" ".join(patterns[::3]) + b" and " + patterns[49] + patterns[0]
    whole = LiteralSet(patterns)
    monkeypatch.setattr(engine, "PART", 7)
    split = LiteralSet(patterns)
    assert len(split._parts) == 8  # 50 literals, at most 7 a database: 8 of 7 (the last 1)
    assert sorted(split.scan(data)) == sorted(whole.scan(data))
    assert {patterns[i] for i, _, _ in split.scan(data)} == {*patterns[::3], patterns[49], patterns[0]}


def test_a_redactor_over_split_databases_redacts_every_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine, "PART", 5)
    values = {f"k{i}": Secret(os.urandom(12).hex().encode()) for i in range(40)}
    red = Redactor.build(values)
    out = red.redact(b"\n".join(v.reveal() + b" " + v.reveal().hex().encode() for v in values.values()))
    assert all(v.reveal() not in out for v in values.values())
    assert out.count(b"[REDACTED:") == 80
