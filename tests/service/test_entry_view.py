"""One JSON view of an entry: `list --json`, `get --show-metadata --json` and the MCP tools agree."""

from __future__ import annotations

import json
from datetime import timedelta

from secretctl.core.secret import Secret
from secretctl.service.results import Entry, SetRequest
from secretctl.service.session import AgentSession
from secretctl.service.vault import Vault
from tests.conftest import Member


def test_every_front_end_shows_the_same_view(inproc: Vault) -> None:
    now = inproc.clock()
    inproc.set("db/pass", SetRequest(value=Secret(b"p" * 20), tags=["prod"], notes="rotate monthly",
                                      expires=now + timedelta(days=3)))
    entry = inproc.entry("db/pass")
    listed = [e.to_json(now) for e in inproc.list_entries(None)]
    assert listed == [entry.to_json(now)]
    detailed = entry.to_json(now, detail=True)
    assert {k: v for k, v in detailed.items() if k in listed[0] and k != "fields"} == \
        {k: v for k, v in listed[0].items() if k != "fields"}
    assert detailed["notes"] == "rotate monthly" and listed[0]["has_notes"] is True
    assert "rotate" not in json.dumps(listed)  # notes stay out of the short view

    session = AgentSession(inproc)
    shown = session.secret_exists("db/pass")
    assert shown == {"exists": True, **entry.to_json(session._now())}
    absent = session.secret_exists("db/none")
    assert absent == {"exists": False, **Entry("db/none", None).to_json(session._now())}
    assert set(absent) == set(shown)


def test_the_cli_prints_the_same_view(alice: Member, vault_dir: object) -> None:
    alice.run("set", "app/token", "--tags", "ci", input=b"t" * 24)
    listed = json.loads(alice.run("list", "--json").stdout)
    shown = json.loads(alice.run("get", "app/token", "--show-metadata", "--json").stdout)
    assert len(listed) == 1
    assert {k: shown[k] for k in listed[0] if k != "fields"} == {k: v for k, v in listed[0].items() if k != "fields"}
