"""The JSON view of a listing (`list --json`, `--tag`), built from the sidecar cache
(infra/sidecarcache): `Reading.list_json` and the start-up fast path (:func:`list_views`, called by
cli/listing.py before the Vault is imported) both build it here, so both print the same bytes.

Its own module, away from service/reading.py: reading imports the Vault's layers, YAML and
dataclasses (~35 ms of a 10,000-secret `list --json`, bench_core), none of which a listing of
unchanged sidecars needs. A sidecar that changed is parsed by core/meta, imported then.
"""

from __future__ import annotations

import os

from secretctl.service.fastget import META_SUFFIX, NAME_CACHE, plain_vault

TYPE_CHECKING = False
if TYPE_CHECKING:  # for mypy only (typing costs every start ~3 ms)
    from collections.abc import Mapping, Sequence
    from datetime import datetime

# Names the rendering of Entry.to_json the sidecar cache holds: change it with to_json (a test
# checks a fixed entry's view against a recorded one, so a change there fails until this moves).
ENTRY_VIEW_VERSION = "entry-json-2"
AFTER_EXPIRED = ', "has_notes": '  # where to_json puts "expired" back (tags and times hold no such text)
# The view of a key without a sidecar: Entry(key, None).to_json without "key" and "expired",
# spelled out (building it imports results and json); tests/e2e/test_list_cache.py keeps them equal.
NO_META_VIEW = (' {"tags": [], "expires_at": null, "has_notes": false, "has_url": false, "created_at": null, '
                '"updated_at": null, "updated_by": null, "fields": []}')


def entry_view(data: bytes, rel: str) -> str:
    """A sidecar's part of the JSON view of an entry: the exact expiry (ISO 8601, or nothing),
    a space, and ``Entry.to_json`` without the key and without ``expired`` (which the clock decides)."""
    import json
    from datetime import UTC, datetime

    from secretctl.core.meta import parse_meta
    from secretctl.service.results import Entry

    meta = parse_meta(data, source=rel)
    view = Entry("", meta).to_json(datetime.fromtimestamp(0, UTC))
    del view["key"], view["expired"]
    return (meta.expires.isoformat() if meta.expires else "") + " " + json.dumps(view, ensure_ascii=False)


def entry_views(root: str, keys: Sequence[str], now: datetime, *, tag: str | None = None,
                deadline: datetime | None = None, complete: bool) -> list[str]:
    """Each key's entry as the JSON text of ``Entry.to_json(now)`` (``json.dumps`` with
    ``ensure_ascii=False``), in order, keeping those with ``tag`` and expiring by ``deadline``.
    ``complete``: ``keys`` are all the vault's (the cache then forgets paths it did not see)."""
    from datetime import datetime
    from pathlib import Path

    from secretctl.infra.sidecarcache import SidecarCache

    cache = SidecarCache(Path(root), entry_view, version=ENTRY_VIEW_VERSION)
    out: list[str] = []
    for k in keys:
        # keys_mod.meta_path(k), spelled: core.keys costs ~5 ms of imports, and k is a listed key.
        expires_text, _, view = (cache.view(k + META_SUFFIX) or NO_META_VIEW).partition(" ")
        expires = datetime.fromisoformat(expires_text) if expires_text else None
        if tag is not None:
            import json

            if tag not in json.loads(view)["tags"]:
                continue
        if deadline is not None and (expires is None or expires > deadline):
            continue
        head, sep, tail = view.partition(AFTER_EXPIRED)
        expired = "true" if expires is not None and expires <= now else "false"
        # A listed key is [A-Za-z0-9._/-] only (keys_in_folder checked it): JSON needs no escaping.
        out.append(f'{{"key": "{k}", {head[1:]}, "expired": {expired}{sep}{tail}')
    cache.save(complete=complete)
    return out


def list_views(vault: str | None, pattern: str | None, tag: str | None, env: Mapping[str, str]) -> list[str] | None:
    """What ``Vault.list_json(pattern, tag=tag)`` returns, without importing the Vault; None where
    fastget.plain_vault leaves it to the normal path (which also words any error: a sidecar that
    cannot be read or parsed sends the listing there, to fail as it always did)."""
    root = plain_vault(vault, env)
    if root is None:
        return None
    from secretctl.errors import SecretctlError
    from secretctl.infra.clock import utcnow
    from secretctl.service.keywalk import walk_cached

    names = walk_cached(root, os.path.join(root, ".git", *NAME_CACHE))
    if pattern:
        from secretctl.core.keys import match_pattern

        names = [k for k in names if match_pattern(pattern, k)]
    try:
        return entry_views(root, names, utcnow(), tag=tag, complete=not pattern)
    except SecretctlError:
        return None
