"""secret_list answers in pages (an MCP client puts the whole answer into the model's context):
the pages, walked by their cursors, add up to the whole list in key order, and a secret added
between two calls neither repeats nor hides an entry."""

from __future__ import annotations

import os

import pytest

from secretctl.core.secret import Secret
from secretctl.errors import UsageError
from secretctl.service.session import LIST_PAGE, LIST_PAGE_MAX, AgentSession
from secretctl.service.vault import Vault


def _walk(session: AgentSession, **kwargs: object) -> tuple[list[str], list[int]]:
    keys: list[str] = []
    sizes: list[int] = []
    cursor = None
    while True:
        page = session.secret_list(cursor=cursor, **kwargs)  # type: ignore[arg-type]
        keys += [e["key"] for e in page["secrets"]]
        sizes.append(len(page["secrets"]))
        cursor = page["next_cursor"]
        if cursor is None:
            return keys, sizes


def test_the_default_page_and_a_walk_by_cursor(inproc: Vault) -> None:
    names = [f"svc{i % 7}/key{i:03d}" for i in range(LIST_PAGE + 5)]
    inproc.import_entries([(k, Secret(os.urandom(9).hex().encode())) for k in names])
    session = AgentSession(inproc, base_env={})
    first = session.secret_list()
    assert len(first["secrets"]) == LIST_PAGE
    assert first["total"] == LIST_PAGE + 5
    assert first["next_cursor"] == sorted(names)[LIST_PAGE - 1]
    keys, sizes = _walk(session, limit=64)
    assert keys == sorted(names)
    assert sizes == [64, 64, 64, 13]
    assert _walk(session, prefix="svc3/", limit=5)[0] == sorted(k for k in names if k.startswith("svc3/"))
    whole = session.secret_list(limit=LIST_PAGE_MAX)
    assert [e["key"] for e in whole["secrets"]] == sorted(names)
    assert whole["next_cursor"] is None


def test_a_secret_added_between_pages_is_neither_repeated_nor_hidden(inproc: Vault) -> None:
    inproc.import_entries([(f"app/k{i}", Secret(b"value-%d-abcdefgh" % i)) for i in range(6)])
    session = AgentSession(inproc, base_env={})
    page = session.secret_list(limit=3)
    assert [e["key"] for e in page["secrets"]] == ["app/k0", "app/k1", "app/k2"]
    inproc.import_entries([("app/k0a", Secret(b"before-the-cursor-1")), ("app/k9", Secret(b"after-the-cursor-1"))])
    rest = session.secret_list(limit=10, cursor=page["next_cursor"])
    assert [e["key"] for e in rest["secrets"]] == ["app/k3", "app/k4", "app/k5", "app/k9"]
    assert rest["total"] == 8
    assert rest["next_cursor"] is None


@pytest.mark.parametrize("limit", [0, -1, LIST_PAGE_MAX + 1])
def test_a_limit_out_of_range_is_refused_by_name(inproc: Vault, limit: int) -> None:
    with pytest.raises(UsageError, match=f"limit must be between 1 and {LIST_PAGE_MAX}") as e:
        AgentSession(inproc, base_env={}).secret_list(limit=limit)
    assert e.value.hint and "cursor" in e.value.hint
