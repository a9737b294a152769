"""`list`: names without reading sidecars; `--json`, `--tag`, `--expiring` through the sidecar
cache, always printing what the files say (checked against the uncached service answer)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from secretctl.core.meta import parse_meta
from secretctl.infra import settings, sidecarcache
from secretctl.service.listjson import ENTRY_VIEW_VERSION, NO_META_VIEW, entry_view
from secretctl.service.results import Entry
from secretctl.service.vault import Vault
from tests.conftest import Member, git


def uncached(alice: Member, vault_dir: Path, **kw: object) -> list[dict[str, object]]:
    os.environ.update({k: v for k, v in alice.env.items() if k.startswith("SECRETCTL_")})
    v = Vault(vault_dir, identity_path=settings.identity_path(), password=lambda: "", actor="alice")
    return [e.to_json(v.clock()) for e in v.list_entries(**kw)]  # type: ignore[arg-type]


def test_list_json_matches_the_files_cold_warm_and_after_edits(alice: Member, vault_dir: Path) -> None:
    alice.run("set", "app/token", "--tags", "prod,web", "--notes", "rotate: ünïcode ✓", "--expires", "3d",
              input=b"v1")
    alice.run("set", "app/db", "--field", "host=db.local", "--field", "password", "--url", "https://x.example",
              input=b"pw\n")
    alice.run("set", "other/plain", input=b"v3")
    (vault_dir / "other" / "foreign.age").write_bytes((vault_dir / "other" / "plain.age").read_bytes())  # no sidecar
    expected = uncached(alice, vault_dir)
    assert len(expected) == 4
    time.sleep(sidecarcache.RACY_SECONDS + 0.1)  # old enough for their signatures to be recorded
    cold = alice.run("list", "--json").stdout
    assert json.loads(cold) == expected
    assert cold == (json.dumps(expected, ensure_ascii=False) + "\n").encode()  # the bytes the old path printed
    assert (vault_dir / ".git" / "secretctl" / "sidecar-cache").read_text().count("\nP\t") == 3
    assert alice.run("list", "--json").stdout == cold
    assert git(vault_dir, "status", "--porcelain") == "?? other/foreign.age\n"  # the cache is not in the tree

    # Edited by hand, in place and keeping its size: the listing follows the file.
    meta = vault_dir / "app" / "token.meta.yaml"
    text = meta.read_text()
    assert "- prod\n" in text
    with open(meta, "r+") as fh:
        fh.write(text.replace("- prod\n", "- dev1\n"))
    after = json.loads(alice.run("list", "--json").stdout)
    assert after == uncached(alice, vault_dir)
    assert after[[e["key"] for e in after].index("app/token")]["tags"] == ["dev1", "web"]

    # One that expired (edited by hand: set refuses a past date): `expired` is the clock's, not the cache's.
    alice.run("set", "app/old", "--expires", "1d", input=b"v4")
    old = vault_dir / "app" / "old.meta.yaml"
    lines = [("expires: 2020-01-01T00:00:00Z" if ln.startswith("expires:") else ln)
             for ln in old.read_text().splitlines()]
    old.write_text("\n".join(lines) + "\n")
    listed = json.loads(alice.run("list", "--json").stdout)
    assert listed == uncached(alice, vault_dir)
    assert [e["expired"] for e in listed if e["key"] == "app/old"] == [True]

    # Filters: the same answers as the service's own, uncached.
    assert json.loads(alice.run("list", "--json", "--tag", "web").stdout) == uncached(alice, vault_dir, tag="web")
    assert alice.run("list", "--tag", "web").stdout == b"app/token\n"
    assert alice.run("list", "--expiring", "7d").stdout == b"app/old\napp/token\n"
    assert alice.run("list", "--expiring", "1d").stdout == b"app/old\n"
    assert json.loads(alice.run("list", "--json", "--expiring", "7d").stdout) == uncached(
        alice, vault_dir, expiring=timedelta(days=7))
    assert json.loads(alice.run("list", "--json", "app/*").stdout) == uncached(alice, vault_dir, pattern="app/*")


def test_list_names_does_not_read_sidecars(alice: Member, vault_dir: Path) -> None:
    alice.run("set", "a/one", input=b"v1")
    alice.run("set", "b/two", input=b"v2")
    (vault_dir / "a" / "one.meta.yaml").write_text("not: [valid")  # a broken sidecar only --json needs
    assert alice.run("list").stdout == b"a/one\nb/two\n"
    assert alice.run("list", "b/*").stdout == b"b/two\n"
    out = alice.run("list", "--json", check=False)
    assert out.returncode != 0 and b"a/one.meta.yaml" in out.stderr


def test_the_cached_view_is_entry_to_json() -> None:
    """If Entry.to_json changes, the cache's rendering must get a new name (ENTRY_VIEW_VERSION),
    or caches on disk would keep serving the old shape. `expired` is the clock's: not cached."""
    data = (b"version: 1\ncreated: 2026-01-01T00:00:00Z\nupdated: 2026-01-02T00:00:00Z\nupdated_by: alice\n"
            b"expires: 2026-02-01T00:00:00Z\nnotes: n\nurl: https://x\ntags:\n- a\n")
    entry = Entry("k", parse_meta(data, source="x"))
    expires, _, view = entry_view(data, "x").partition(" ")
    assert datetime.fromisoformat(expires) == entry.meta.expires  # type: ignore[union-attr]
    for now, expired in ((datetime(2026, 1, 31, tzinfo=UTC), False), (datetime(2026, 2, 1, tzinfo=UTC), True)):
        assert {"key": "k", **json.loads(view), "expired": expired} == entry.to_json(now)
    assert (ENTRY_VIEW_VERSION, list(entry.to_json(datetime.now(UTC)))) == ("entry-json-2", [
        "key", "tags", "expires_at", "expired", "has_notes", "has_url", "created_at", "updated_at", "updated_by",
        "fields"])


def test_the_view_of_a_key_without_sidecar_is_entry_to_json() -> None:
    """listjson spells it out (building it imports results and json): it must stay to_json's."""
    computed = {k: v for k, v in Entry("", None).to_json(datetime.fromtimestamp(0, UTC)).items()
                if k not in ("key", "expired")}
    assert " " + json.dumps(computed) == NO_META_VIEW


def test_the_fast_listing_prints_what_the_vault_lists(alice: Member, vault_dir: Path) -> None:
    """`list --json` and `list --tag` start without the Vault (service/listjson.list_views): for
    every filter, cold and warm, the same texts as Vault.list_json, and the same bytes printed."""
    from secretctl.service.listjson import list_views

    alice.run("set", "app/token", "--tags", "prod,web", "--notes", "ünï ✓", "--expires", "3d", input=b"v1")
    alice.run("set", "app/db", "--field", "host=db.local", "--field", "password", input=b"pw\n")
    alice.run("set", "other/plain", "--tags", "web", input=b"v3")
    (vault_dir / "other" / "foreign.age").write_bytes((vault_dir / "other" / "plain.age").read_bytes())
    os.environ.update({k: v for k, v in alice.env.items() if k.startswith("SECRETCTL_")})
    v = Vault(vault_dir, identity_path=settings.identity_path(), password=lambda: "", actor="alice")
    for _ in range(2):  # cold, then from the cache
        for pattern, tag in [(None, None), ("app/*", None), (None, "web"), ("other/*", "web"), (None, "none")]:
            fast = list_views(None, pattern, tag, alice.env)
            assert fast == v.list_json(pattern, tag=tag), (pattern, tag)
    printed = alice.run("list", "--json").stdout
    assert printed == ("[" + ", ".join(v.list_json()) + "]\n").encode()
    assert json.loads(printed) == uncached(alice, vault_dir)
    assert alice.run("list", "--tag", "web").stdout == b"app/token\nother/plain\n"


@pytest.mark.parametrize("argv", [["list", "--json"], ["list", "--tag", "web"], ["list", "--json", "app/*"]])
def test_a_plain_listing_loads_no_vault(alice: Member, vault_dir: Path, argv: list[str]) -> None:
    alice.run("set", "app/token", "--tags", "web", input=b"v1")
    code = (f"import sys; sys.argv = ['secretctl', *{argv!r}]\nfrom secretctl.cli import main\n"
            "try:\n    main.main()\n"
            "finally:\n    print('secretctl.service.vault' in sys.modules, 'yaml' in sys.modules, file=sys.stderr)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, env=alice.env, cwd=alice.home, timeout=60)
    assert out.returncode == 0, out.stderr
    assert b"app/token" in out.stdout
    assert out.stderr.strip().endswith(b"False False")


def test_the_fast_listing_steps_aside_for_what_the_vault_must_handle(alice: Member, vault_dir: Path) -> None:
    """An interrupted command (a git index lock), or a sidecar that does not parse: the normal
    path runs, and words it as it always did."""
    from secretctl.service.listjson import list_views

    alice.run("set", "app/token", input=b"v1")
    assert list_views(None, None, None, alice.env) is not None
    (vault_dir / ".git" / "index.lock").write_bytes(b"")
    assert list_views(None, None, None, alice.env) is None
    (vault_dir / ".git" / "index.lock").unlink()
    (vault_dir / "app" / "token.meta.yaml").write_text("not: [valid")
    assert list_views(None, None, None, alice.env) is None
    out = alice.run("list", "--json", check=False)
    assert out.returncode != 0 and b"app/token.meta.yaml" in out.stderr
    assert not (vault_dir / ".git" / "secretctl" / "sidecar-cache").exists() or b"not: [valid" not in (
        vault_dir / ".git" / "secretctl" / "sidecar-cache").read_bytes()
