"""Argument rules (core/argrules.py): normalization, anchored args_allow, deny_args spellings."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from secretctl.core import argrules, hosts
from tests.hyp import examples

PATHISH = st.text(alphabet="/.ab1-=", max_size=30)


@settings(max_examples=examples(300), deadline=None)
@given(PATHISH)
def test_normalize_is_idempotent(arg: str) -> None:
    once = argrules.normalize(arg)
    assert argrules.normalize(once) == once


@settings(max_examples=examples(300), deadline=None)
@given(st.lists(st.sampled_from(["", ".", "..", "x", "proc"]), max_size=5), st.sampled_from(["1", "self", "42"]))
def test_any_spelling_of_a_proc_entry_is_caught(junk: list[str], pid: str) -> None:
    # /proc/<junk that folds away>/<pid>/environ
    folded = "/".join(p for p in junk if p in ("", "."))
    arg = f"/proc/{folded}/{pid}/environ" if folded else f"/proc/{pid}/environ"
    assert argrules.reads_process_state([arg])


@pytest.mark.parametrize(("pattern", "args", "ok"), [
    ("get *", ["get", "pods"], True),
    ("get *", ["get", "pods", "web"], True),
    ("get *", ["get", "pods", "--kubeconfig=/x"], False),
    ("get *", ["get", "-A"], False),
    ("get *", ["get"], False),
    ("get * -o json", ["get", "pods", "-o", "json"], True),
    ("get **", ["get", "pods", "-A"], True),
    ("s3 ls *", ["s3", "ls", "s3://b/"], True),
    ("s3 ls *", ["s3", "rm", "s3://b/"], False),
    ("--version", ["--version"], True),
    ("log --oneline", ["log", "--oneline", "--all"], False),
    ("cat /srv/data/*", ["cat", "/srv/data/../../etc/shadow"], False),
])
def test_args_allow(pattern: str, args: list[str], ok: bool) -> None:
    assert argrules.allows(pattern, args) is ok


@pytest.mark.parametrize(("entry", "args", "hit"), [
    ("--raw", ["config", "view", "--raw"], True),
    ("--raw", ["--raw=true"], True),
    ("--raw", ["-raw"], True),
    ("--raw", ["--ra"], True),
    ("--raw", ["--rawx"], False),
    ("-o", ["-ojson"], True),
    ("-o", ["-vo", "json"], True),
    ("-o", ["--output"], False),
    ("config view --raw", ["config", "--raw", "view"], True),
    ("config view --raw", ["view", "config", "--raw"], False),
    ("configure export-credentials", ["configure", "--profile", "p", "export-credentials"], True),
    ("--context prod", ["--context=prod", "get"], True),
])
def test_deny_args(entry: str, args: list[str], hit: bool) -> None:
    assert argrules.denied_by(entry, args) is hit


@settings(max_examples=examples(300), deadline=None)
@given(st.text(max_size=40))
def test_host_parser_fails_only_with_value_error(text: str) -> None:
    try:
        rule = hosts.parse_host(text)
    except ValueError:
        return
    assert rule.host and rule.host == rule.host.lower()


def test_host_rules() -> None:
    r = hosts.parse_host("*.example.com")
    assert r.allows("api.example.com", 443) and not r.allows("example.com", 443)
    assert not r.allows("api.example.com", 22)
    assert not r.allows("evil-example.com", 443)
    assert hosts.parse_host("127.0.0.1:8080").allows("127.0.0.1", 8080)
    assert not hosts.parse_host("127.0.0.1:8080").allows("127.0.0.1", 8081)
    assert hosts.parse_host("[::1]:9").allows("::1", 9)
