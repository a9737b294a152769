"""The intent journal's records: what we write we read back; a torn tail never names more than was
durable; hostile bytes give the one documented error, and never a path outside the vault's files."""

from __future__ import annotations

from pathlib import PurePosixPath

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from secretctl.core import intent
from secretctl.errors import VaultCorruptError
from tests.hyp import examples

SETTINGS = settings(max_examples=examples(300), deadline=None)
HEAD = "1a2b3c4d" * 5
segment = st.from_regex(r"[a-z0-9][a-z0-9._-]{0,8}", fullmatch=True).filter(lambda s: s not in (".", ".."))
key = st.lists(segment, min_size=1, max_size=3).map("/".join)
vault_file = st.one_of(key.map(lambda k: k + ".age"), key.map(lambda k: k + ".meta.yaml"),
                       st.lists(segment, max_size=2).map(lambda p: "/".join([*p, ".age-recipients"])),
                       segment.map(lambda n: f".secretctl/audit/{n}.jsonl"))


def journal(paths: list[list[str]]) -> bytes:
    out = intent.header_line("import", HEAD, 42, "2026-11-30T02:00:00Z")
    for chunk in paths:
        out += intent.paths_line(chunk)
    return out


@SETTINGS
@given(st.lists(st.lists(vault_file, max_size=4), max_size=4))
def test_what_is_written_reads_back(chunks: list[list[str]]) -> None:
    got = intent.parse(journal(chunks), source="j")
    assert got is not None
    assert (got.op, got.head, got.pid) == ("import", HEAD, 42)
    assert list(got.paths) == list(dict.fromkeys(p for c in chunks for p in c))


@SETTINGS
@given(st.lists(st.lists(vault_file, min_size=1, max_size=4), min_size=1, max_size=4), st.data())
def test_a_torn_tail_names_only_what_was_durable(chunks: list[list[str]], data: st.DataObject) -> None:
    full = journal(chunks)
    cut = data.draw(st.integers(0, len(full)))
    got = intent.parse(full[:cut], source="j")
    header = intent.header_line("import", HEAD, 42, "2026-11-30T02:00:00Z")
    if cut < len(header):
        assert got is None  # the header itself was torn: nothing was touched
        return
    assert got is not None
    durable = intent.parse(full[: full.rindex(b"\n", 0, cut) + 1], source="j")
    assert got == durable
    everything = [p for c in chunks for p in c]
    assert set(got.paths) <= set(everything)


@SETTINGS
@given(st.binary(max_size=400) | st.text(max_size=400).map(str.encode))
@example(b'{"v":1,"op":"set","head":null,"pid":1,"started":"x"}\n{"paths":["../etc/passwd"]}\n')
@example(b'{"v":1,"op":"set","head":null,"pid":1,"started":"x"}\n{"paths":[".git/hooks/pre-commit"]}\n')
@example(b'{"v":1,"op":"set","head":null,"pid":1,"started":"x"}\n{"paths":["README.md"]}\n')
@example(b'{"v":2,"op":"set","head":null,"pid":1,"started":"x"}\n')
def test_hostile_bytes_give_the_documented_error_and_never_a_path_outside(data: bytes) -> None:
    try:
        got = intent.parse(data, source="j")
    except VaultCorruptError as exc:
        assert "\n" not in exc.message
        return
    if got is None:
        return
    for p in got.paths:
        assert intent.path_ok(p)
        parts = PurePosixPath(p).parts
        assert ".." not in parts and ".git" not in [s.lower() for s in parts]
        assert p.endswith((".age", ".meta.yaml", ".age-recipients", ".jsonl"))


@pytest.mark.parametrize("path", ["a.age", "aws/key.meta.yaml", ".age-recipients", "prod/.age-recipients",
                                  ".secretctl/audit/alice.jsonl"])
def test_vault_files_may_be_named(path: str) -> None:
    assert intent.path_ok(path)


@pytest.mark.parametrize("path", ["", "/abs.age", "../up.age", "a/../b.age", ".git/x.age", "a/.GIT/b.age",
                                  "README.md", ".secretctl/policy.yaml", ".secretctl/config.yaml",
                                  ".secretctl/audit/../x.jsonl", "a//b.age", ".hidden/x.age", ".age", "a\\b.age",
                                  "a/b.age\n", ".secretctl/audit/x/y.jsonl", "x" * 5000 + ".age"])
def test_other_files_may_not(path: str) -> None:
    assert not intent.path_ok(path)
    with pytest.raises(ValueError):
        intent.paths_line([path])


def test_the_access_log_folder_is_the_vaults() -> None:
    from secretctl.core import intent
    from secretctl.service import base

    assert intent.AUDIT_DIR == base.AUDIT_DIR
