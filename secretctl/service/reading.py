"""Reading secrets: names, metadata, values and expiry warnings."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta
from pathlib import Path

from secretctl.core import fields as fields_mod
from secretctl.core import keys as keys_mod
from secretctl.core.meta import Field, Meta, format_time, parse_meta
from secretctl.core.secret import Secret
from secretctl.errors import (
    IdentityError,
    NotFoundError,
    SecretctlError,
    UsageError,
    VaultCorruptError,
    VaultLockedError,
    WrongPasswordError,
)
from secretctl.infra import journal, store
from secretctl.service.access import AccessLog
from secretctl.service.base import EXPIRY_WARNING, MAX_SECRET_BYTES, being_rewritten
from secretctl.service.results import Entry, ExpiryWarning

TYPE_CHECKING = False  # typing costs every start ~3 ms to import: for mypy only

if TYPE_CHECKING:
    pass

class Reading(AccessLog):
    def key_names(self, under: str = "") -> list[str]:
        """Every key, sorted; with ``under`` (a folder), only the keys inside it, found by walking
        that folder alone (`run -k aws/*` on a 10,000-secret vault reads one folder, not 10,000
        names). A folder the full walk would not enter yields nothing."""
        if self._keys_cache is not None or not under:
            if self._keys_cache is None:
                self._keys_cache = self._walk("")
            keys = self._keys_cache
            return [k for k in keys if k.startswith(under + "/")] if under else list(keys)
        from secretctl.service.keywalk import keys_under

        return keys_under(str(self.root), under)

    def keys_near(self, keys: Iterable[str]) -> list[str]:
        """The existing keys whose first segment is, ignoring case, that of one of ``keys``,
        sorted: every key a bulk write of ``keys`` can meet (the same key, or one differing only
        by case in itself or a folder: keys_mod.CaseIndex compares paths segment by segment from
        the first). The rest of the vault is not walked: an import of 1,000 secrets into a new
        folder of a 10,000-secret vault listed all 10,000 names."""
        firsts = {k.split("/", 1)[0].casefold() for k in keys}
        if self._keys_cache is not None:
            return [k for k in self._keys_cache if k.split("/", 1)[0].casefold() in firsts]
        try:
            names = os.listdir(self.root)  # the result is sorted below
        except OSError:
            return []
        out = [k for k in keys_mod.keys_in_folder("", names) if k.casefold() in firsts]
        for name in names:
            if name.casefold() in firsts:
                out += self.key_names(under=name)  # nothing for a file or a folder the walk skips
        return sorted(out)

    def _walk(self, start: str) -> list[str]:
        from secretctl.service.keywalk import walk

        return walk(str(self.root), start)

    def exists(self, key: str) -> bool:
        return self.path_of(key).is_file()

    def _require_secret(self, key: str) -> Path:
        path = self.path_of(key)
        if not path.is_file():
            raise NotFoundError(f"secret not found: {key}", hint="list what exists with `secretctl list`")
        return path

    def meta(self, key: str) -> Meta | None:
        """The sidecar, or None for a secret written by another tool (valid, no metadata)."""
        return _read_meta(os.fspath(self.root) + os.sep, key)

    def committed_meta(self, key: str) -> Meta | None:
        """The sidecar as committed at HEAD (None if HEAD has none). Agent runs take sensitivity and
        bindings from here: an uncommitted edit never makes a field non-sensitive or adds a binding."""
        return self.committed_metas([key])[key]

    def committed_metas(self, keys: Sequence[str]) -> dict[str, Meta | None]:
        """:meth:`committed_meta` for many keys, with one git call for those not yet read at this HEAD."""
        from secretctl.infra import gitobjects, gitrepo

        head = gitrepo.head(self.root)
        if self._committed_meta_cache[0] != head:
            self._committed_meta_cache = (head, {})
        cache = self._committed_meta_cache[1]
        todo = [k for k in keys if k not in cache]
        if todo:
            rels = {k: keys_mod.meta_path(keys_mod.validate_key(k)) for k in todo}
            blobs = gitobjects.committed_many(self.root, list(rels.values()))
            for k, rel in rels.items():
                data = blobs.get(rel)
                cache[k] = None if data is None else parse_meta(data, source=f"{rel}@HEAD")
        return {k: cache[k] for k in keys}

    def entry(self, key: str) -> Entry:
        self._require_secret(key)
        return Entry(key, self.meta(key))

    def read(self, key: str) -> Secret:
        """The stored bytes exactly (for a multi-field secret: its JSON document of field values)."""
        path = self._require_secret(key)
        data = store.read_limited(path, MAX_SECRET_BYTES, what="secret", display=self.rel(path))
        try:
            return self.unlock().decrypt(data, source=self.rel(path))
        except (VaultCorruptError, IdentityError) as exc:
            raise self._torn_or(exc, self.rel(path)) from None

    def read_many(self, keys: Sequence[str]) -> list[Secret | SecretctlError]:
        """``read`` of each key, in order, each failure in its place: one ``decrypt_many`` call (many
        files go through the bulk decryptor, or one round trip to the unlock agent)."""
        out: list[Secret | SecretctlError | None] = [None] * len(keys)
        items: list[tuple[int, str, bytes]] = []
        root = os.fspath(self.root) + os.sep
        for i, key in enumerate(keys):
            try:
                rel = keys_mod.secret_path(keys_mod.validate_key(key))
                # Strings, not pathlib, and no stat before the read: path objects and a stat per
                # key were a fifth of reading 10,000 keys.
                items.append((i, rel, _read_secret(root + rel, key, rel)))
            except SecretctlError as exc:
                out[i] = exc
        if items:
            plain = self.unlock().decrypt_many([(rel, data) for _, rel, data in items])
            pending: list[bool] = []  # the journal looked at once, at the first failure that asks
            for (i, rel, _), result in zip(items, plain, strict=True):
                out[i] = (self._torn_or(result, rel, pending) if isinstance(result, VaultCorruptError | IdentityError)
                          else result)
        return [r for r in out if r is not None]

    def _torn_or(self, exc: VaultCorruptError | IdentityError, rel: str, pending: list[bool] | None = None
                 ) -> SecretctlError:
        """What a failed decryption means. A bulk write rewrites files in place under its journal,
        so while one is open a file that does not decrypt may be one read half-written: "damaged,
        set it again" or "not a recipient" would send the user the wrong way (`get` and `run`
        alike), and the all-values redactor keeps the values it knew. A wrong password or a
        locked identity is never a torn file. ``pending``: the journal's state, once known (a
        vault whose files this identity mostly cannot read fails on thousands of them)."""
        if isinstance(exc, WrongPasswordError | VaultLockedError):
            return exc
        if pending is None:
            pending = []
        if not pending:
            pending.append(journal.pending(self.git_dir))
        return being_rewritten(rel) if pending[0] else exc

    def redaction_values_many(self, keys: Sequence[str]
                              ) -> list[tuple[dict[str, Secret], list[bytes]] | SecretctlError]:
        """``redaction_values`` of each key, in order, with one ``decrypt_many`` call; a key whose
        file fails gives its error in place. A damaged sidecar raises (as ``meta`` does)."""
        root = os.fspath(self.root) + os.sep
        metas = [_read_meta(root, k) for k in keys]
        out: list[tuple[dict[str, Secret], list[bytes]] | SecretctlError] = []
        for key, meta, plain in zip(keys, metas, self.read_many(keys), strict=True):
            if isinstance(plain, SecretctlError):
                out.append(plain)
            elif meta is None or not meta.is_multifield:
                out.append(({key: plain}, []))
            else:
                try:
                    doc = fields_mod.field_values(meta, fields_mod.decode_document(
                        plain, source=keys_mod.secret_path(key)))
                except SecretctlError as exc:
                    out.append(exc)
                    continue
                out.append(_split_fields(key, meta, doc))
        return out

    def read_fields(self, key: str, meta: Meta | None = None) -> dict[str, Secret]:
        """Every field value of a multi-field secret, an old vault's sidecar values included
        (``meta``: the sidecar to trust, default the work tree's)."""
        meta = self.meta(key) if meta is None else meta
        if meta is None or not meta.is_multifield:
            raise UsageError(f"{key} is not a multi-field secret", hint="read it with `secretctl get KEY`")
        doc = fields_mod.decode_document(self.read(key), source=keys_mod.secret_path(key))
        return fields_mod.field_values(meta, doc)

    def field_value(self, key: str, name: str, meta: Meta | None = None) -> tuple[Field, Secret]:
        """A field's schema entry and value (``name`` may be an alias; ``meta`` as for read_fields)."""
        meta = self.meta(key) if meta is None else meta
        self._require_secret(key)
        f = meta.field(name) if meta else None
        if meta is None or f is None:
            known = ", ".join(x.name for x in meta.fields) if meta else ""
            raise NotFoundError(f"field not found: {key} {name}",
                                hint=f"fields of {key}: {known}" if known else f"{key} has no fields")
        values = self.read_fields(key, meta)
        if f.name not in values:
            raise VaultCorruptError(f"{key}: field {f.name} is missing from the encrypted document")
        return f, values[f.name]

    def masked_fields(self, key: str, meta: Meta | None = None) -> list[fields_mod.MaskedField]:
        """Each field of a multi-field secret masked on its own (``meta`` as for read_fields)."""
        meta = self.meta(key) if meta is None else meta
        values = self.read_fields(key, meta)
        if meta is None:
            raise NotFoundError(f"{key} has no fields")
        return fields_mod.mask_fields(meta, values)

    def export_values(self, key: str) -> dict[str, Secret]:
        """Every value of ``key`` by label (``key``, or ``key:field`` for each field, public ones
        included): what `export` writes."""
        meta = self.meta(key)
        if meta is not None and meta.is_multifield:
            return {f"{key}:{k}": v for k, v in self.read_fields(key).items()}
        return {key: self.read(key)}

    def value_of(self, key: str, field: str | None = None) -> Secret:
        """The value of ``key`` (or of one of its fields), not recorded: callers that hand it to a
        person go through ``reveal``; ``get --masked`` shows only a mask of it."""
        if field is None:
            return self.read(key)
        _, value = self.field_value(key, field)
        return value

    def reveal(self, key: str, *, field: str | None = None) -> Secret:
        """A person's explicit `get`: the plaintext and its access record, in one place."""
        value = self.value_of(key, field)
        if field:
            self.record_access("get", [key], field=field)
        else:
            self.record_access("get", [key])
        return value

    def reveal_all(self, keys: Sequence[str]) -> list[tuple[str, Secret]]:
        """Every value of ``keys`` by label (``key`` or ``key:field``) for `export`, recorded once."""
        items = [item for k in keys for item in self.export_values(k).items()]
        self.record_access("export", list(keys))
        return items

    def list_entries(
        self,
        pattern: str | None = None,
        *,
        tag: str | None = None,
        expiring: timedelta | None = None,
        prefix: str | None = None,
    ) -> list[Entry]:
        out: list[Entry] = []
        now = self.clock()
        root = os.fspath(self.root) + os.sep  # strings: a path object per sidecar cost ~10% here
        for k in self.key_names():
            if pattern and not keys_mod.match_pattern(pattern, k):
                continue
            if prefix and not k.startswith(prefix):
                continue
            m = _read_meta(root, k)
            if tag and (m is None or tag not in m.tags):
                continue
            if expiring is not None and (m is None or not m.expires_within(now, expiring)):
                continue
            out.append(Entry(k, m))
        return out

    def list_keys(self, pattern: str | None = None) -> list[str]:
        """Key names only: no sidecar is read."""
        return [k for k in self.key_names() if not pattern or keys_mod.match_pattern(pattern, k)]

    def list_json(self, pattern: str | None = None, *, tag: str | None = None,
                  expiring: timedelta | None = None) -> list[str]:
        """The entries `list_entries` would return, each as the JSON text of ``Entry.to_json(now)``
        (``json.dumps`` with ``ensure_ascii=False``), built from the sidecar cache
        (infra/sidecarcache): a 10,000-secret vault's listing parses only the sidecars that
        changed since the last one. ``expired`` depends on the clock, so it is not cached."""
        from secretctl.service.listjson import entry_views

        now = self.clock()
        return entry_views(os.fspath(self.root), self.list_keys(pattern), now, tag=tag,
                           deadline=now + expiring if expiring is not None else None, complete=not pattern)

    def expiry_warnings(self, keys: Iterable[str], metas: Mapping[str, Meta | None] | None = None
                        ) -> list[ExpiryWarning]:
        """``metas``: the work tree's sidecars of ``keys`` when the caller has read them already."""
        now = self.clock()
        out = []
        for k in keys:
            if metas is not None:
                m = metas.get(k)
            else:
                try:
                    # Only `expires` can warn: a sidecar without it needs no YAML parse (keeps `get` fast).
                    raw = (self.root / keys_mod.meta_path(k)).read_bytes()
                    if b"expires:" not in raw:
                        continue
                    m = self.meta(k)
                except (OSError, SecretctlError):
                    continue
            if m is None or m.expires is None:
                continue
            if m.expired(now):
                out.append(ExpiryWarning(k, f"{k} expired on {format_time(m.expires)}; rotate it"))
            elif m.expires_within(now, EXPIRY_WARNING):
                out.append(ExpiryWarning(k, f"{k} expires on {format_time(m.expires)}"))
        return out


def _read_secret(path: str, key: str, rel: str) -> bytes:
    """A secret's file, as ``read`` reads it (the same errors), by its path as a string."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_SECRET_BYTES + 1)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        raise NotFoundError(f"secret not found: {key}", hint="list what exists with `secretctl list`") from None
    except PermissionError:
        raise VaultCorruptError(f"{rel}: permission denied") from None
    if len(data) > MAX_SECRET_BYTES:
        raise VaultCorruptError(f"{rel}: larger than {MAX_SECRET_BYTES} bytes", hint="is this the right file?")
    return data


def _read_meta(root: str, key: str) -> Meta | None:
    """A sidecar read by a string path (``root`` ends with a separator): ``Reading.meta``, and the
    bulk readers, which skip building a Path per file."""
    rel = keys_mod.meta_path(keys_mod.validate_key(key))
    try:
        data = store.read_limited(root + rel, 64 * 1024, what="sidecar", display=rel)
    except NotFoundError:
        return None
    return parse_meta(data, source=rel)


def _split_fields(key: str, meta: Meta, doc: dict[str, Secret]) -> tuple[dict[str, Secret], list[bytes]]:
    """A multi-field secret's sensitive values by label (``key:field``), and its public values."""
    sensitive = fields_mod.sensitive_values(meta, doc)
    if not sensitive:
        return {}, []
    public = [doc[f.name].reveal() for f in meta.fields if not fields_mod.is_sensitive(f) and f.name in doc]
    return {f"{key}:{k}": v for k, v in sensitive.items()}, public


def _under(d: str, prefix: str) -> bool:
    return not prefix or d == prefix or d.startswith(prefix + "/")


