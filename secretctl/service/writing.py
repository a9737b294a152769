"""Writing secrets: set, delete, move and import, each one commit under the vault lock."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from secretctl.core import audit
from secretctl.core import keys as keys_mod
from secretctl.core.meta import (
    Field,
    Meta,
    new_meta,
    render_meta,
    validate_env_name,
    validate_field_name,
    validate_tags,
)
from secretctl.core.recipients import (
    RecipientsFile,
)
from secretctl.core.secret import Secret
from secretctl.errors import SecretctlError, UsageError
from secretctl.infra import crypto, gitrepo, store
from secretctl.service.reading import Reading
from secretctl.service.results import Outcome, SetRequest

if TYPE_CHECKING:
    from secretctl.infra import gitrepo

class Writing(Reading):
    @contextmanager
    def _mutation(self) -> Iterator[None]:
        from secretctl.infra import gitrepo

        self.require()
        gitrepo.verify_config(self.root)  # before anything is written (the git calls check again)
        with store.locked(gitrepo.git_dir(self.root) / "secretctl.lock", what=f"the vault at {self.root}"):
            self._keys_cache = None
            self._recipients_cache.clear()
            self._committed = None  # HEAD may have moved since the last mutation
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
                self._committed = None

    def _commit(self, action: str, keys: Sequence[str], paths: Sequence[str], summary: str,
                staged: gitrepo.BlobStager | None = None) -> str | None:

        log_paths = self._flush_access_log()
        paths = list(paths) + log_paths
        trailers = audit.format_trailers(action, keys, self.actor_trailer()) + self._audit_head_trailers(log_paths)
        message = f"{summary}\n\n{trailers}\n"
        return gitrepo.commit_paths(self.root, paths, message, actor=self.actor, staged=staged)

    def _encode_secret(self, key: str, plaintext: Secret, meta: Meta,
                       converted: Any = None) -> tuple[tuple[str, bytes], tuple[str, bytes]]:
        """The two files of a secret, (vault-relative path, bytes): ciphertext and sidecar."""

        _, rfile = self.encryption_recipients(key)
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
                    reldir, rfile = self.encryption_recipients(key)
                    yield from self._encode_secret(key, value, meta, converted.get(reldir, rfile))
                    written.append(key)
                    if progress:
                        progress(i + 1)

            paths, staged = self._write_batch(encoded())
            commit = self._commit("import", written, paths, f"secretctl: import {len(written)} secrets",
                                  staged=staged)
        return Outcome("import", written, commit, skipped)

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

    def commit_access_log(self) -> str | None:
        """Commit pending access records on their own (sync does this before pulling)."""

        with self._mutation():
            paths = self._flush_access_log()
            if not paths:
                return None
            trailers = audit.format_trailers("audit", [], self.actor_trailer()) + self._audit_head_trailers(paths)
            return gitrepo.commit_paths(self.root, paths, f"secretctl: access log of {self.actor}\n\n{trailers}\n",
                                        actor=self.actor)


class _ConvertedRecipients:
    """Converts each recipients file to pyrage objects once per bulk operation."""

    def __init__(self) -> None:
        self._cache: dict[str, Any] = {}

    def get(self, reldir: str, rfile: RecipientsFile) -> Any:

        if reldir not in self._cache:
            self._cache[reldir] = crypto.to_pyrage_recipients(rfile.recipients)
        return self._cache[reldir]


_KIND_GUESS = {"host": "host", "hostname": "host", "port": "port", "user": "username", "username": "username",
               "password": "password", "pass": "password", "url": "url", "token": "token", "database": "database",
               "db": "database", "dbname": "database"}


def _guess_kind(name: str) -> str:
    return _KIND_GUESS.get(name.lower(), "text")


def _encode_fields(fields: Mapping[str, Secret]) -> Secret:
    doc = {k: v.reveal_text() for k, v in sorted(fields.items())}
    return Secret(json.dumps(doc, sort_keys=True, ensure_ascii=False).encode())
