"""The vault service: every operation the front ends offer, implemented once.

A vault is a git repository. ``KEY.age`` holds the value (a plain age file: the ``age``
CLI decrypts it), ``KEY.meta.yaml`` its metadata, and the nearest ``.age-recipients``
going up from the file names who can read it. Every mutation takes the vault lock, writes
atomically and lands as exactly one commit with ``Secretctl-*`` trailers.

This module never prints and never exits; it returns data or raises SecretctlError.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from secretctl.core import keys as keys_mod
from secretctl.core.meta import Field, Meta, new_meta, parse_meta, render_meta, utcnow, validate_tags
from secretctl.core.recipients import (
    RECIPIENTS_FILE,
    Recipient,
    RecipientsFile,
    parse_recipient,
    parse_recipients_file,
    validate_member_name,
)
from secretctl.core.secret import Secret
from secretctl.errors import (
    IdentityError,
    NotFoundError,
    SecretctlError,
    UsageError,
    VaultCorruptError,
)
from secretctl.infra import identity as identity_mod
from secretctl.infra import store

if TYPE_CHECKING:
    from secretctl.infra import gitrepo

CONFIG_DIR = ".secretctl"
CONFIG_FILE = f"{CONFIG_DIR}/config.yaml"
POLICY_FILE = f"{CONFIG_DIR}/policy.yaml"
AUDIT_DIR = f"{CONFIG_DIR}/audit"
FORMAT_VERSION = 1
MAX_SECRET_BYTES = 64 * 1024 * 1024
MAX_CONFIG_BYTES = 64 * 1024
EXPIRY_WARNING = timedelta(days=7)
_SKIP_DIRS = {".git", CONFIG_DIR}

Clock = Callable[[], datetime]
_SIMPLE_CONFIG = re.compile(rb"(?:#[^\n]*\n)*version: ?([0-9]{1,6})\n?")


@dataclass(frozen=True)
class Entry:
    """A secret as listing shows it: its key and (maybe absent) metadata, never a value."""

    key: str
    meta: Meta | None

    def to_json(self) -> dict[str, Any]:
        m = self.meta
        from secretctl.core.meta import format_time

        return {
            "key": self.key,
            "tags": list(m.tags) if m else [],
            "expires_at": format_time(m.expires) if m and m.expires else None,
            "has_notes": bool(m and m.notes),
            "has_url": bool(m and m.url),
            "created_at": format_time(m.created) if m else None,
            "updated_at": format_time(m.updated) if m else None,
            "updated_by": m.updated_by if m else None,
            "fields": [f.name for f in m.fields] if m else [],
        }


@dataclass(frozen=True)
class ExpiryWarning:
    key: str
    message: str


@dataclass
class Outcome:
    """What a mutation did, for the front end to report."""

    action: str
    keys: list[str] = field(default_factory=list)
    commit: str | None = None
    skipped: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CheckProblem:
    path: str
    message: str
    severity: str = "error"  # "error" | "expired" | "warning"


@dataclass(frozen=True)
class SetRequest:
    """A value and metadata to store. ``fields`` non-empty makes it a multi-field secret."""

    value: Secret | None = None
    sensitive_fields: Mapping[str, Secret] = field(default_factory=dict)
    plain_fields: Mapping[str, str] = field(default_factory=dict)
    bindings: Mapping[str, str] = field(default_factory=dict)
    expires: datetime | None = None
    notes: str | None = None
    url: str | None = None
    tags: Sequence[str] | None = None


def find_vault_root(start: Path) -> Path | None:
    """The vault containing ``start``: the nearest directory with a secretctl config, or
    a passage-style store (a git repo with a root ``.age-recipients``)."""
    cur = start.resolve()
    for d in (cur, *cur.parents):
        if (d / CONFIG_FILE).is_file():
            return d
        if (d / RECIPIENTS_FILE).is_file() and (d / ".git").exists():
            return d
    return None


def locate(explicit: str | None, env: Mapping[str, str], cwd: Path) -> Path:
    """``--vault`` > ``SECRETCTL_VAULT`` > the vault containing cwd > the default vault."""
    from secretctl.infra import settings

    if explicit:
        return Path(explicit).expanduser()
    if env.get(settings.ENV_VAULT):
        return Path(env[settings.ENV_VAULT]).expanduser()
    found = find_vault_root(cwd)
    if found is not None:
        return found
    return settings.default_vault_dir(env)


class Vault:
    """One open vault. Cheap to construct: nothing is read until needed."""

    def __init__(
        self,
        root: Path,
        *,
        identity_path: Path,
        password: identity_mod.PasswordSource,
        actor: str | None = None,
        clock: Clock = utcnow,
    ) -> None:
        self.root = root.resolve() if root.exists() else root
        self.identity_path = identity_path
        self._password = password
        self._actor = actor
        self.clock = clock
        self._identity: identity_mod.Identity | None = None
        self._recipients_cache: dict[str, tuple[str, RecipientsFile]] = {}
        self._undo: dict[Path, bytes | None] = {}
        self._keys_cache: list[str] | None = None

    # ----------------------------------------------------------------- basics
    def require(self) -> Vault:
        if not self.root.is_dir():
            raise NotFoundError(f"no vault at {self.root}",
                                hint="create one with `secretctl init`, or pass --vault / set SECRETCTL_VAULT")
        if not (self.root / RECIPIENTS_FILE).is_file() and not (self.root / CONFIG_FILE).is_file():
            raise NotFoundError(f"{self.root} is not a secretctl vault",
                                hint="create one with `secretctl init`, or point --vault at your vault")
        if (self.root / CONFIG_FILE).is_file():
            self._check_config()
        return self

    def _check_config(self) -> None:
        data = store.read_limited(self.root / CONFIG_FILE, MAX_CONFIG_BYTES, what="config")
        # The usual file is one line; reading it without importing yaml keeps `get` fast.
        simple = _SIMPLE_CONFIG.fullmatch(data)
        raw: object = {"version": int(simple.group(1))} if simple else _load_config_yaml(data)
        if not isinstance(raw, dict) or not isinstance(raw.get("version"), int):
            raise VaultCorruptError(f"{CONFIG_FILE}: missing format version")
        unknown = set(raw) - {"version", "name"}
        if unknown:
            raise VaultCorruptError(f"{CONFIG_FILE}: unknown field {sorted(unknown)[0]!r}")
        if raw["version"] > FORMAT_VERSION:
            raise VaultCorruptError(f"vault format {raw['version']} is newer than this secretctl supports",
                                    hint="upgrade secretctl")

    def path_of(self, key: str) -> Path:
        return self.root / keys_mod.secret_path(keys_mod.validate_key(key))

    def meta_path_of(self, key: str) -> Path:
        return self.root / keys_mod.meta_path(keys_mod.validate_key(key))

    def rel(self, p: Path) -> str:
        return p.relative_to(self.root).as_posix()

    # --------------------------------------------------------------- identity
    def unlock(self) -> identity_mod.Identity:
        if self._identity is None:
            self._identity = identity_mod.load(self.identity_path, self._password)
        return self._identity

    def my_recipient(self) -> str | None:
        if self._identity is not None:
            return self._identity.recipient
        try:
            return identity_mod.public_recipient(self.identity_path)
        except SecretctlError:
            return None

    @property
    def actor(self) -> str:
        """Who is acting: SECRETCTL_ACTOR, else my member name in the root recipients, else git/OS user."""
        if self._actor:
            return self._actor
        mine = self.my_recipient()
        if mine:
            try:
                for r in self.recipients_file("").recipients:
                    if r.text == mine and r.name:
                        self._actor = r.name
                        return r.name
            except SecretctlError:
                pass
        self._actor = os.environ.get("USER") or "unknown"
        return self._actor

    def actor_trailer(self) -> str:
        mine = self.my_recipient()
        return f"{self.actor} <{mine}>" if mine else self.actor

    # ------------------------------------------------------------- recipients
    def recipients_file(self, reldir: str) -> RecipientsFile:
        path = self.root / reldir / RECIPIENTS_FILE
        data = store.read_limited(path, 256 * 1024, what="recipients file", display=self.rel(path))
        return parse_recipients_file(data, source=self.rel(path))

    def governing(self, key: str) -> tuple[str, RecipientsFile]:
        """(directory of the governing .age-recipients, its parsed content) for ``key``."""
        parts = key.split("/")[:-1]
        passed: list[str] = []  # folders without a file of their own: they get the answer cached too
        while True:
            reldir = "/".join(parts)
            found = self._recipients_cache.get(reldir)
            if found is None and os.path.isfile(os.path.join(self.root, reldir, RECIPIENTS_FILE)):
                found = (reldir, self.recipients_file(reldir))
                self._recipients_cache[reldir] = found
            if found is not None:
                # Bulk commands ask once per secret: without this, each asked the disk again.
                for folder in passed:
                    self._recipients_cache[folder] = found
                return found
            if not parts:
                raise VaultCorruptError("the vault has no .age-recipients file at its root",
                                        hint="add one: secretctl member add NAME RECIPIENT")
            passed.append(reldir)
            parts.pop()

    def recipients_files(self) -> list[str]:
        """Directories (vault-relative, '' for the root) that hold a .age-recipients file."""
        out = []
        for dirpath, dirnames, filenames in os.walk(self.root):
            dirnames[:] = [d for d in dirnames if d not in _SKIP_DIRS]
            if RECIPIENTS_FILE in filenames:
                rel = Path(dirpath).relative_to(self.root).as_posix()
                out.append("" if rel == "." else rel)
        return sorted(out)

    # ---------------------------------------------------------------- reading
    def key_names(self, under: str = "") -> list[str]:
        """Every key, sorted; with ``under`` (a folder), only the keys inside it, found by walking
        that folder alone (`run -k aws/*` on a 10,000-secret vault reads one folder, not 10,000
        names). A folder the full walk would not enter yields nothing."""
        if self._keys_cache is not None or not under:
            if self._keys_cache is None:
                self._keys_cache = self._walk("")
            keys = self._keys_cache
            return [k for k in keys if k.startswith(under + "/")] if under else list(keys)
        return self._walk(under) if self._walkable(under) else []

    def _walkable(self, folder: str) -> bool:
        """Whether the full walk from the root would reach ``folder``: a valid key prefix (no
        hidden, `..` or secret-file-named segment), every segment a real directory, no symlink."""
        if not keys_mod.folder_ok(folder):
            return False
        path = str(self.root)
        for seg in folder.split("/"):
            path = os.path.join(path, seg)
            if os.path.islink(path) or not os.path.isdir(path):
                return False
        return True

    def _walk(self, start: str) -> list[str]:
        found: list[str] = []
        stack = [(start, os.path.join(str(self.root), start) if start else str(self.root))]
        while stack:
            folder, path = stack.pop()
            try:
                names = os.listdir(path)
            except OSError:
                continue
            found += keys_mod.keys_in_folder(folder, names)
            # Only names that can be key folders cost a stat: not hidden, and no segment may end
            # in .age or .meta.yaml (a folder named x.age would be listed as a key and fail to read).
            for name in names:
                if name[0] != "." and not name.endswith((".age", ".meta.yaml")):
                    sub = f"{folder}/{name}" if folder else name
                    full = os.path.join(path, name)
                    if os.path.isdir(full) and not os.path.islink(full) and keys_mod.folder_ok(sub):
                        stack.append((sub, full))
        found.sort()
        return found

    def exists(self, key: str) -> bool:
        return self.path_of(key).is_file()

    def _require_secret(self, key: str) -> Path:
        path = self.path_of(key)
        if not path.is_file():
            raise NotFoundError(f"secret not found: {key}", hint="list what exists with `secretctl list`")
        return path

    def meta(self, key: str) -> Meta | None:
        """The sidecar, or None for a secret written by another tool (valid, no metadata)."""
        rel = keys_mod.meta_path(keys_mod.validate_key(key))
        try:
            data = store.read_limited(self.root / rel, 64 * 1024, what="sidecar", display=rel)
        except NotFoundError:
            return None
        return parse_meta(data, source=rel)

    def entry(self, key: str) -> Entry:
        self._require_secret(key)
        return Entry(key, self.meta(key))

    def read(self, key: str) -> Secret:
        """The stored bytes exactly (for a multi-field secret: its JSON document of sensitive fields)."""
        from secretctl.infra import crypto

        path = self._require_secret(key)
        data = store.read_limited(path, MAX_SECRET_BYTES, what="secret", display=self.rel(path))
        return crypto.decrypt(data, self.unlock().keys, source=self.rel(path))

    def read_fields(self, key: str) -> dict[str, Secret]:
        """The sensitive fields of a multi-field secret."""
        meta = self.meta(key)
        if meta is None or not meta.is_multifield:
            raise UsageError(f"{key} is not a multi-field secret", hint="read it with `secretctl get KEY`")
        return _decode_fields(self.read(key), key)

    def field_value(self, key: str, name: str) -> tuple[Field, Secret | str]:
        """A field's value: a Secret for a sensitive field, plain text for a non-sensitive one."""
        meta = self.meta(key)
        self._require_secret(key)
        f = meta.field(name) if meta else None
        if meta is None or f is None:
            known = ", ".join(x.name for x in meta.fields) if meta else ""
            raise NotFoundError(f"field not found: {key} {name}",
                                hint=f"fields of {key}: {known}" if known else f"{key} has no fields")
        if not f.sensitive:
            return f, f.value or ""
        values = self.read_fields(key)
        if f.name not in values:
            raise VaultCorruptError(f"{key}: sensitive field {f.name} is missing from the encrypted document")
        return f, values[f.name]

    def secret_values(self, key: str) -> dict[str, Secret]:
        """Every sensitive value of ``key`` by redaction label (``key`` or ``key:field``)."""
        meta = self.meta(key)
        if meta is not None and meta.is_multifield:
            return {f"{key}:{k}": v for k, v in self.read_fields(key).items()}
        return {key: self.read(key)}

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
        for k in self.key_names():
            if pattern and not keys_mod.match_pattern(pattern, k):
                continue
            if prefix and not k.startswith(prefix):
                continue
            m = self.meta(k)
            if tag and (m is None or tag not in m.tags):
                continue
            if expiring is not None and (m is None or not m.expires_within(now, expiring)):
                continue
            out.append(Entry(k, m))
        return out

    def expiry_warnings(self, keys: Iterable[str]) -> list[ExpiryWarning]:
        from secretctl.core.meta import format_time

        now = self.clock()
        out = []
        for k in keys:
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

    # ---------------------------------------------------------------- writing
    @contextmanager
    def _mutation(self) -> Iterator[None]:
        self.require()
        with store.locked(self.root / ".git" / "secretctl.lock"):
            self._keys_cache = None
            self._recipients_cache.clear()
            self._undo = {}
            try:
                yield
            except BaseException:
                self._roll_back()
                raise
            finally:
                # Another process may have written before we took the lock, and we just wrote.
                self._keys_cache = None
                self._recipients_cache.clear()

    def _commit(self, action: str, keys: Sequence[str], paths: Sequence[str], summary: str,
                staged: gitrepo.BlobStager | None = None) -> str | None:
        from secretctl.core import audit
        from secretctl.infra import gitrepo

        log_paths = self._flush_access_log()
        paths = list(paths) + log_paths
        trailers = audit.format_trailers(action, keys, self.actor_trailer()) + self._audit_head_trailers(log_paths)
        message = f"{summary}\n\n{trailers}\n"
        return gitrepo.commit_paths(self.root, paths, message, actor=self.actor, staged=staged)

    def _encode_secret(self, key: str, plaintext: Secret, meta: Meta,
                       converted: Any = None) -> tuple[tuple[str, bytes], tuple[str, bytes]]:
        """The two files of a secret, (vault-relative path, bytes): ciphertext and sidecar."""
        from secretctl.infra import crypto

        _, rfile = self.governing(key)
        if converted is None:
            ciphertext = crypto.encrypt(plaintext, rfile.recipients)
        else:
            ciphertext = crypto.encrypt_to(plaintext, converted)
        meta = replace(meta, recipients_fingerprint=rfile.fingerprint())
        # Every public entry point validated ``key`` already; bulk writes skip doing it again.
        return (keys_mod.secret_path(key), ciphertext), (keys_mod.meta_path(key), render_meta(meta))

    def _write_secret(self, key: str, plaintext: Secret, meta: Meta) -> list[str]:
        files = self._encode_secret(key, plaintext, meta)
        for rel, data in files:
            store.atomic_write(self.root / rel, data)
        return [rel for rel, _ in files]

    def _write_batch(self, files: Iterable[tuple[str, bytes]]) -> tuple[list[str], gitrepo.BlobStager | None]:
        """Write many files (vault-relative path, bytes) as one batch (store.write_many) while git
        stages the same bytes; returns the paths and the staging for the commit.

        ``files`` may be a generator that encrypts as it goes: the writes start with its first
        files, and git starts staging as soon as it has produced the last one.
        """
        from secretctl.infra import gitrepo

        blobs: dict[str, bytes] = {}
        staged: gitrepo.BlobStager | None = None
        root = os.fspath(self.root)

        def produce() -> Iterator[tuple[str, bytes]]:
            nonlocal staged
            for rel, data in files:
                blobs[rel] = data
                yield os.path.join(root, rel), data
            # Runs when write_many asks for more: git stages while the last writes, the sync and
            # the renames go on.
            staged = gitrepo.start_staging(self.root, blobs)

        try:
            store.write_many(produce())
        except BaseException:
            if staged is not None:
                staged.undo()
            raise
        return list(blobs), staged

    def _check_new_key(self, key: str) -> None:
        keys_mod.validate_key(key)
        existing = self.key_names()
        keys_mod.check_case_collision(key, existing)

    def _build_meta(self, key: str, req: SetRequest, old: Meta | None) -> Meta:
        now = self.clock()
        fields: tuple[Field, ...] = ()
        bindings: tuple[tuple[str, str], ...] = ()
        if req.sensitive_fields or req.plain_fields:
            from secretctl.core.meta import validate_env_name, validate_field_name

            names = set()
            flist: list[Field] = []
            for name, val in req.plain_fields.items():
                validate_field_name(name)
                names.add(name)
                flist.append(Field(name, False, val, kind=_guess_kind(name)))
            for name in req.sensitive_fields:
                validate_field_name(name)
                if name in names:
                    raise UsageError(f"field {name} given twice")
                names.add(name)
                flist.append(Field(name, True, kind=_guess_kind(name)))
            blist = []
            for env, fname in req.bindings.items():
                validate_env_name(env)
                if fname not in names:
                    raise UsageError(f"binding {env}={fname} names unknown field {fname}",
                                     hint=f"fields: {', '.join(sorted(names))}")
                blist.append((env, fname))
            fields, bindings = tuple(flist), tuple(blist)
        elif req.bindings:
            raise UsageError("--binding needs --field", hint="bindings map env names to fields of a multi-field secret")
        tags = validate_tags(list(req.tags)) if req.tags is not None else (old.tags if old else ())
        if old is None:
            return new_meta(now, self.actor, expires=req.expires, notes=req.notes, url=req.url, tags=tags,
                            fields=fields, bindings=bindings)
        return replace(
            old,
            updated=now,
            updated_by=self.actor,
            expires=req.expires if req.expires is not None else old.expires,
            notes=req.notes if req.notes is not None else old.notes,
            url=req.url if req.url is not None else old.url,
            tags=tags,
            fields=fields,
            bindings=bindings,
        )

    def set(self, key: str, req: SetRequest) -> Outcome:
        keys_mod.validate_key(key)
        with self._mutation():
            self._check_new_key(key)
            existed = self.exists(key)
            old = self.meta(key) if existed else None
            meta = self._build_meta(key, req, old)
            if meta.is_multifield:
                plaintext = _encode_fields(req.sensitive_fields)
            else:
                if req.value is None:
                    raise UsageError("no value given")
                plaintext = req.value
            paths = self._write_secret(key, plaintext, meta)
            action = "update" if existed else "set"
            commit = self._commit("set", [key], paths, f"secretctl: {action} {key}")
        return Outcome("set", [key], commit, details={"created": not existed})

    def delete(self, key: str) -> Outcome:
        with self._mutation():
            spath = self._require_secret(key)
            mpath = self.meta_path_of(key)
            store.remove(spath)
            store.remove(mpath)
            store.prune_empty_dirs(spath.parent, self.root)
            commit = self._commit("delete", [key], [self.rel(spath), self.rel(mpath)], f"secretctl: delete {key}")
        return Outcome("delete", [key], commit)

    def move(self, old: str, new: str) -> Outcome:
        keys_mod.validate_key(new)
        with self._mutation():
            spath = self._require_secret(old)
            if self.exists(new):
                raise UsageError(f"secret already exists: {new}", hint="delete it first or pick another name")
            self._check_new_key(new)
            value = self.read(old)
            meta = self.meta(old)
            if meta is None:
                now = self.clock()
                meta = new_meta(now, self.actor)
            else:
                meta = meta.touched(self.clock(), self.actor)
            # Re-encrypt: the new place may be governed by other recipients.
            paths = self._write_secret(new, value, meta)
            mpath = self.meta_path_of(old)
            store.remove(spath)
            store.remove(mpath)
            store.prune_empty_dirs(spath.parent, self.root)
            paths += [self.rel(spath), self.rel(mpath)]
            commit = self._commit("move", [old, new], paths, f"secretctl: move {old} to {new}")
        return Outcome("move", [old, new], commit)

    def import_entries(
        self,
        entries: Sequence[tuple[str, Secret]],
        *,
        on_conflict: str = "error",
        dry_run: bool = False,
        tags: Sequence[str] | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> Outcome:
        """Store many secrets in one commit. ``on_conflict``: skip | overwrite | error."""
        if on_conflict not in ("skip", "overwrite", "error"):
            raise UsageError(f"unknown --on-conflict {on_conflict!r}", hint="use skip, overwrite or error")
        seen: set[str] = set()
        for key, _ in entries:
            keys_mod.validate_key(key)
            if key in seen:
                raise UsageError(f"key {key} appears twice in the import")
            seen.add(key)
        with self._mutation():
            existing = set(self.key_names())
            written: list[str] = []
            skipped: list[str] = []
            todo: list[tuple[str, Secret]] = []
            case_index = keys_mod.CaseIndex(existing)
            for key, value in entries:
                if key in existing:
                    if on_conflict == "error":
                        raise UsageError(f"secret already exists: {key}",
                                         hint="pass --on-conflict skip or --on-conflict overwrite")
                    if on_conflict == "skip":
                        skipped.append(key)
                        continue
                else:
                    case_index.check(key)
                    case_index.add(key)
                todo.append((key, value))
            if dry_run:
                return Outcome("import", [k for k, _ in todo], None, skipped, {"dry_run": True})
            converted = _ConvertedRecipients()
            req = SetRequest(tags=tags)

            def encoded() -> Iterator[tuple[str, bytes]]:
                for i, (key, value) in enumerate(todo):
                    old = self.meta(key) if key in existing else None
                    meta = self._build_meta(key, replace(req, value=value), old)
                    reldir, rfile = self.governing(key)
                    yield from self._encode_secret(key, value, meta, converted.get(reldir, rfile))
                    written.append(key)
                    if progress:
                        progress(i + 1)

            paths, staged = self._write_batch(encoded())
            commit = self._commit("import", written, paths, f"secretctl: import {len(written)} secrets",
                                  staged=staged)
        return Outcome("import", written, commit, skipped)

    # ---------------------------------------------------------------- members
    def members(self) -> list[dict[str, Any]]:
        out = []
        for reldir in self.recipients_files():
            rfile = self.recipients_file(reldir)
            for r in rfile.recipients:
                out.append({"name": r.name, "recipient": r.text, "kind": r.kind, "path": reldir or "/"})
        return out

    def member_add(self, name: str, recipient_text: str, *, path: str = "",
                   progress: Callable[[int, int], None] | None = None) -> Outcome:
        """Give ``name`` access to ``path`` (default: the whole vault) and re-encrypt what they gain.

        The new recipient goes into the recipients file governing ``path`` (created there
        from the inherited set if ``path`` has none yet) and into every recipients file
        below it, so the member can read the whole subtree.
        """
        validate_member_name(name)
        recipient = parse_recipient(recipient_text, source="recipient argument")
        path = path.strip("/")
        if path:
            keys_mod.validate_key(path)
        with self._mutation():
            changed: list[str] = []
            targets = [d for d in self.recipients_files() if _under(d, path)]
            if path not in targets:
                _, inherited = self.governing(path + "/x") if path else ("", self.recipients_file(""))
                self._write_recipients(path, inherited.with_added(name, recipient))
                changed.append(path)
            for d in targets:
                rfile = self.recipients_file(d)
                if rfile.find(name) is not None or rfile.has(recipient.text):
                    raise UsageError(f"member {name} or that recipient already has access to /{d}",
                                     hint="secretctl member list shows who has access where")
                self._write_recipients(d, rfile.with_added(name, recipient))
                changed.append(d)
            self._recipients_cache.clear()
            paths, staged, touched = self._reencrypt_locked(progress=progress)
            paths += [self.rel(self.root / d / RECIPIENTS_FILE) for d in changed]
            commit = self._commit("member-add", touched, paths,
                                  f"secretctl: add member {name} to /{path} ({len(touched)} secrets re-encrypted)",
                                  staged=staged)
        return Outcome("member-add", touched, commit, details={"member": name, "path": path or "/"})

    def member_remove(self, name: str, *, progress: Callable[[int, int], None] | None = None) -> Outcome:
        with self._mutation():
            changed = []
            for d in self.recipients_files():
                rfile = self.recipients_file(d)
                if rfile.find(name) is None:
                    continue
                remaining = rfile.without(name)
                if not remaining.recipients:
                    raise UsageError(f"removing {name} would leave /{d} with no recipients",
                                     hint="add another member there first")
                self._write_recipients(d, remaining)
                changed.append(d)
            if not changed:
                raise NotFoundError(f"member not found: {name}", hint="secretctl member list")
            self._recipients_cache.clear()
            readable = self._keys_under_files(changed)
            paths, staged, touched = self._reencrypt_locked(progress=progress)
            paths += [self.rel(self.root / d / RECIPIENTS_FILE) for d in changed]
            commit = self._commit("member-remove", touched, paths,
                                  f"secretctl: remove member {name} ({len(touched)} secrets re-encrypted)",
                                  staged=staged)
        return Outcome("member-remove", touched, commit,
                       details={"member": name, "could_read": readable})

    def _keys_under_files(self, dirs: Sequence[str]) -> list[str]:
        return [k for k in self.key_names() if self.governing(k)[0] in dirs]

    def _write_recipients(self, reldir: str, rfile: RecipientsFile) -> None:
        path = self.root / reldir / RECIPIENTS_FILE
        if path not in self._undo:  # member changes write these before re-encrypting: keep the old bytes
            self._undo[path] = path.read_bytes() if path.is_file() else None
        store.atomic_write(path, rfile.render().encode())

    def _roll_back(self) -> None:
        """A failed mutation puts back the recipients files it changed (nothing else is written
        before the step that can fail)."""
        for path, old in self._undo.items():
            with contextlib.suppress(OSError, SecretctlError):
                if old is None:
                    store.remove(path)
                    store.prune_empty_dirs(path.parent, self.root)
                else:
                    store.atomic_write(path, old)
        self._undo.clear()

    def stale(self) -> list[str]:
        """Keys whose file was not encrypted to the recipients that now govern it."""
        return [k for k, _ in self._stale()]

    def _stale(self) -> list[tuple[str, Meta | None]]:
        out = []
        for k in self.key_names():
            _, rfile = self.governing(k)
            m = self.meta(k)
            if m is None or m.recipients_fingerprint != rfile.fingerprint():
                out.append((k, m))
        return out

    def reencrypt(self, *, dry_run: bool = False, progress: Callable[[int, int], None] | None = None) -> Outcome:
        """Re-encrypt exactly the files whose recipient set changed; one commit."""
        if dry_run:
            self.require()
            return Outcome("reencrypt", self.stale(), None, details={"dry_run": True})
        with self._mutation():
            paths, staged, touched = self._reencrypt_locked(progress=progress)
            commit = self._commit("reencrypt", touched, paths,
                                  f"secretctl: re-encrypt {len(touched)} secrets", staged=staged) if touched else None
        return Outcome("reencrypt", touched, commit)

    def _reencrypt_locked(
        self, *, progress: Callable[[int, int], None] | None
    ) -> tuple[list[str], gitrepo.BlobStager | None, list[str]]:
        from secretctl.infra import crypto

        todo = self._stale()
        if not todo:
            return [], None, []
        ids = self.unlock().keys
        # Decrypt everything first: if any file is unreadable, fail before touching disk.
        plain: list[tuple[str, Secret, Meta]] = []
        unreadable = []
        for k, m in todo:
            rel = keys_mod.secret_path(k)
            data = store.read_limited(self.root / rel, MAX_SECRET_BYTES, what="secret", display=rel)
            try:
                value = crypto.decrypt(data, ids, source=rel)
            except IdentityError:
                unreadable.append(k)
                continue
            plain.append((k, value, m if m is not None else new_meta(self.clock(), self.actor)))
        if unreadable:
            raise IdentityError(
                f"cannot re-encrypt {len(unreadable)} secrets you are not a recipient of, e.g. {unreadable[0]}",
                hint="a member who can read them must run `secretctl reencrypt`",
            )
        converted = _ConvertedRecipients()

        def encoded() -> Iterator[tuple[str, bytes]]:
            for i, (k, value, m) in enumerate(plain):
                reldir, rfile = self.governing(k)
                yield from self._encode_secret(k, value, m, converted.get(reldir, rfile))
                if progress:
                    progress(i + 1, len(plain))

        paths, staged = self._write_batch(encoded())
        return paths, staged, [k for k, _, _ in plain]

    # ------------------------------------------------------------------ check
    def check(self, *, decrypt: bool = True) -> list[CheckProblem]:
        """Every problem in the vault: unreadable files, bad sidecars, stale recipients, expiry."""
        from secretctl.core import agefile
        from secretctl.infra import crypto

        self.require()
        problems: list[CheckProblem] = []
        for d in self.recipients_files():
            try:
                self.recipients_file(d)
            except SecretctlError as exc:
                problems.append(CheckProblem(f"{d}/{RECIPIENTS_FILE}".lstrip("/"), exc.message))
        now = self.clock()
        ids = None
        if decrypt:
            try:
                ids = self.unlock().keys
            except SecretctlError as exc:
                problems.append(CheckProblem(str(self.identity_path), f"{exc.message} (checked headers only)",
                                             "warning"))
        for k in self.key_names():
            rel = keys_mod.secret_path(k)
            data = (self.root / rel).read_bytes()
            try:
                if ids is None:
                    agefile.parse_header(data, source=rel)
                else:
                    crypto.decrypt(data, ids, source=rel)  # checks the header strictly first
            except IdentityError as exc:
                problems.append(CheckProblem(rel, exc.message, "warning"))
            except SecretctlError as exc:
                problems.append(CheckProblem(rel, exc.message))
            try:
                m = self.meta(k)
                _, rfile = self.governing(k)
            except SecretctlError as exc:
                problems.append(CheckProblem(keys_mod.meta_path(k), exc.message))
                continue
            if m is None:
                continue
            if m.recipients_fingerprint and m.recipients_fingerprint != rfile.fingerprint():
                problems.append(CheckProblem(rel, "encrypted to an old recipient set; run `secretctl reencrypt`"))
            if m.expired(now):
                problems.append(CheckProblem(rel, "expired; rotate it", "expired"))
        # Sidecars without a secret are left over from a hand-made delete.
        for dirpath, dirnames, filenames in os.walk(self.root):
            dirnames[:] = [d for d in dirnames if d not in _SKIP_DIRS]
            for f in filenames:
                if f.endswith(keys_mod.META_SUFFIX):
                    relm = (Path(dirpath) / f).relative_to(self.root).as_posix()
                    if not (self.root / (relm[: -len(keys_mod.META_SUFFIX)] + ".age")).exists():
                        problems.append(CheckProblem(relm, "sidecar without a secret; delete it"))
        return problems

    def invalidate(self) -> None:
        """Forget cached listings (after git changed the tree under us)."""
        self._keys_cache = None
        self._recipients_cache.clear()

    def commit_access_log(self) -> str | None:
        """Commit pending access records on their own (sync does this before pulling)."""
        from secretctl.core import audit
        from secretctl.infra import gitrepo

        with self._mutation():
            paths = self._flush_access_log()
            if not paths:
                return None
            trailers = audit.format_trailers("audit", [], self.actor_trailer()) + self._audit_head_trailers(paths)
            return gitrepo.commit_paths(self.root, paths, f"secretctl: access log of {self.actor}\n\n{trailers}\n",
                                        actor=self.actor)

    # ------------------------------------------------------------- access log
    def _pending_log(self) -> Path:
        return self.root / ".git" / "secretctl" / "audit-pending.jsonl"

    def record_access(self, action: str, keys: Sequence[str], **details: Any) -> None:
        """Append an access record. It waits outside the work tree (so `git status` stays clean)
        and is moved into the member's log by the next commit (mutation or sync)."""
        rec = {"ts": _fmt(self.clock()), "actor": self.actor, "action": action, "keys": list(keys), **details}
        path = self._pending_log()
        path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps(rec, sort_keys=True, separators=(",", ":")) + "\n"
        import fcntl

        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # never interleaved with a flush reading the file
            os.write(fd, line.encode())
        finally:
            os.close(fd)

    def _audit_head_trailers(self, log_paths: Sequence[str]) -> str:
        """``Secretctl-Audit-Head: FILE HASH`` per log: the chain's last line at this commit, so an
        edit of the last line (which no later line's hash covers) is detected too."""
        from secretctl.core import audit

        out = ""
        for rel in log_paths:
            lines = (self.root / rel).read_bytes().splitlines(keepends=True)
            if lines:
                out += f"\nSecretctl-Audit-Head: {rel} {audit.line_hash(lines[-1])}"
        return out

    def _flush_access_log(self) -> list[str]:
        """Move pending access records into ``.secretctl/audit/<member>.jsonl`` (hash-chained)."""

        import fcntl

        pending = self._pending_log()
        if not pending.exists():
            return []
        fd = os.open(pending, os.O_RDWR)
        try:
            # Held until the records are in the member's log: an access recorded meanwhile waits.
            fcntl.flock(fd, fcntl.LOCK_EX)
            raw = pending.read_bytes()
            if not raw.strip():
                return []
            written = self._append_to_member_log(raw)
            os.ftruncate(fd, 0)
        finally:
            os.close(fd)
        return written

    def _append_to_member_log(self, raw: bytes) -> list[str]:
        from secretctl.core import audit

        logpath = self.root / AUDIT_DIR / f"{_safe_name(self.actor)}.jsonl"
        existing = logpath.read_bytes() if logpath.exists() else b""
        prev = audit.line_hash(existing.splitlines(keepends=True)[-1]) if existing.strip() else audit.GENESIS
        out = bytearray(existing)
        for line in raw.splitlines():
            if not line.strip():
                continue
            try:
                rec = audit.record_from_json(json.loads(line))
            except (ValueError, SecretctlError):
                continue
            encoded = audit.encode_record(rec, prev)
            out += encoded
            prev = audit.line_hash(encoded)
        store.atomic_write(logpath, bytes(out))
        return [self.rel(logpath)]


def _load_config_yaml(data: bytes) -> object:
    import yaml

    try:
        return yaml.safe_load(data)
    except yaml.YAMLError:
        raise VaultCorruptError(f"{CONFIG_FILE}: not valid YAML") from None


class _ConvertedRecipients:
    """Converts each recipients file to pyrage objects once per bulk operation."""

    def __init__(self) -> None:
        self._cache: dict[str, Any] = {}

    def get(self, reldir: str, rfile: RecipientsFile) -> Any:
        from secretctl.infra import crypto

        if reldir not in self._cache:
            self._cache[reldir] = crypto.to_pyrage_recipients(rfile.recipients)
        return self._cache[reldir]


def _under(d: str, prefix: str) -> bool:
    return not prefix or d == prefix or d.startswith(prefix + "/")


def _fmt(t: datetime) -> str:
    from secretctl.core.meta import format_time

    return format_time(t)


def _safe_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in name) or "unknown"


_KIND_GUESS = {"host": "host", "hostname": "host", "port": "port", "user": "username", "username": "username",
               "password": "password", "pass": "password", "url": "url", "token": "token", "database": "database",
               "db": "database", "dbname": "database"}


def _guess_kind(name: str) -> str:
    return _KIND_GUESS.get(name.lower(), "text")


def _encode_fields(fields: Mapping[str, Secret]) -> Secret:
    doc = {k: v.reveal_text() for k, v in sorted(fields.items())}
    return Secret(json.dumps(doc, sort_keys=True, ensure_ascii=False).encode())


def _decode_fields(doc: Secret, key: str) -> dict[str, Secret]:
    try:
        raw = json.loads(doc.reveal())
    except ValueError:
        raise VaultCorruptError(f"{key}: the encrypted document of a multi-field secret is not JSON") from None
    if not isinstance(raw, dict) or not all(isinstance(v, str) for v in raw.values()):
        raise VaultCorruptError(f"{key}: the encrypted document must map field names to text")
    return {str(k): Secret(v.encode()) for k, v in raw.items()}


def init_vault(root: Path, *, recipient: str, name: str, template: Path | None = None) -> Outcome:
    """Create a vault at ``root`` (or adopt a passage store there) and make the first commit."""

    recip = parse_recipient(recipient, source="your identity")
    validate_member_name(name)
    root = root.absolute()
    created = not root.exists()
    try:
        return _init_vault(root, recip, name, template)
    except BaseException:
        # Fail closed: a half-made vault would be found by later commands.
        if created:
            import shutil

            shutil.rmtree(root, ignore_errors=True)
        raise


def _init_vault(root: Path, recip: Recipient, name: str, template: Path | None) -> Outcome:
    from secretctl.core import audit
    from secretctl.infra import gitrepo

    root.mkdir(parents=True, exist_ok=True)
    if (root / CONFIG_FILE).exists():
        raise UsageError(f"{root} is already a secretctl vault", hint="use it, or pick another directory")
    adopting = (root / RECIPIENTS_FILE).exists()
    if not adopting and any(p for p in root.iterdir() if p.name != ".git"):
        raise UsageError(f"{root} is not empty", hint="pick an empty or new directory, or a passage store to adopt")
    template = template or _template_dir()
    written: list[str] = []
    for src in sorted(template.rglob("*")):
        if src.is_dir():
            continue
        rel = src.relative_to(template).as_posix()
        dest = root / rel
        if dest.exists():
            continue
        store.atomic_write(dest, src.read_bytes())
        written.append(rel)
    if adopting:
        rfile = parse_recipients_file((root / RECIPIENTS_FILE).read_bytes(), source=RECIPIENTS_FILE)
        if not rfile.has(recip.text):
            rfile = rfile.with_added(name, recip)
            store.atomic_write(root / RECIPIENTS_FILE, rfile.render().encode())
    else:
        store.atomic_write(root / RECIPIENTS_FILE, RecipientsFile((Recipient(recip.text, recip.kind, name),))
                           .render().encode())
    written.append(RECIPIENTS_FILE)
    if not gitrepo.is_repo(root):
        gitrepo.init(root)
    from secretctl.service import team

    team.configure_repo(root)
    trailers = audit.format_trailers("init", [], f"{name} <{recip.text}>")
    summary = "secretctl: adopt passage store" if adopting else "secretctl: create vault"
    commit = gitrepo.commit_paths(root, written, f"{summary}\n\n{trailers}\n", actor=name)
    return Outcome("init", [], commit, details={"adopted": adopting})


def _template_dir() -> Path:
    package = Path(__file__).resolve().parents[1]
    for cand in (package / "data" / "vault-template", package.parent / "vault-template"):
        if cand.is_dir():
            return cand
    raise NotFoundError("vault template not found", hint="reinstall secretctl")
