"""Format migrations of existing vaults (service layer): `secretctl migrate fields`.

Before issue 10, `set --field name=value` stored the value in the plaintext sidecar (and so in
git), and marked it non-sensitive whatever its name. This moves every such value into the
secret's encrypted document, marks secret-looking fields sensitive, and rewrites the sidecar
without values, for all affected secrets in one commit. History keeps the old sidecars: the
result names the secret values it held, to rotate.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from secretctl.core import fields as fields_mod
from secretctl.core import keys as keys_mod
from secretctl.core.meta import Meta
from secretctl.core.secret import Secret

if TYPE_CHECKING:
    from secretctl.service.vault import Vault


@dataclass(frozen=True)
class FieldMigration:
    """What `migrate fields` did: names only, never a value."""

    moved: dict[str, list[str]] = field(default_factory=dict)  # key -> fields whose value left the sidecar
    rotate: dict[str, list[str]] = field(default_factory=dict)  # key -> secret fields git history still holds
    commit: str | None = None

    @property
    def keys(self) -> list[str]:
        return sorted(self.moved)

    def to_json(self) -> dict[str, Any]:
        return {"migrated": self.moved, "rotate": self.rotate, "commit": self.commit}


def migrate_fields(vault: Vault) -> FieldMigration:
    """Every sidecar that holds a field value (or calls a secret-looking field public), fixed in
    one commit. Decrypts everything first: an unreadable secret stops it before any write."""
    with vault._mutation("migrate-fields"):
        todo: list[tuple[str, Meta, dict[str, Secret]]] = []
        for key in vault.key_names():
            meta = vault.meta(key)
            if meta is None or not fields_mod.legacy_fields(meta):
                continue
            doc = fields_mod.decode_document(vault.read(key), source=keys_mod.secret_path(key))
            todo.append((key, meta, fields_mod.field_values(meta, doc)))
        if not todo:
            return FieldMigration()
        moved: dict[str, list[str]] = {}
        rotate: dict[str, list[str]] = {}
        paths: list[str] = []
        now, actor = vault.clock(), vault.actor
        for key, meta, values in todo:
            legacy = fields_mod.legacy_fields(meta)
            moved[key] = [x.name for x in legacy if x.value_in_sidecar]
            if any(x.rotate for x in legacy):
                rotate[key] = [x.name for x in legacy if x.rotate]
            new_meta = fields_mod.migrated(meta).touched(now, actor)
            paths += vault._write_secret(key, fields_mod.encode_document(values), new_meta)
        keys = [k for k, _, _ in todo]
        commit = vault._commit("migrate-fields", keys, paths,
                               f"secretctl: move field values of {len(keys)} secret(s) into their encrypted files")
    return FieldMigration(moved, rotate, commit)
