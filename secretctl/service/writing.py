"""Writing secrets: set, delete, move and import, each one commit under the vault lock."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager

from secretctl.core import audit, faults
from secretctl.core import fields as fields_mod
from secretctl.core import keys as keys_mod
from secretctl.core.frozen import replace
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
from secretctl.infra import crypto, gitcommit, gitpack, gitrepo, store
from secretctl.service.reading import Reading
from secretctl.service.results import Outcome, SetOutcome, SetRequest

TYPE_CHECKING = False  # typing costs every start ~3 ms to import: for mypy only
if TYPE_CHECKING:
    from typing import Any, TypeVar

    from secretctl.infra import forked

    _I = TypeVar("_I")

# The part of a bulk encryption (import, member remove, reencrypt) a forked worker takes: the
# parent also feeds the writer threads (and, for member remove and reencrypt, renders every
# sidecar; an import's worker renders the sidecars of its part).
ENCRYPT_SHARE = 0.55


class Writing(Reading):
    @contextmanager
    def _mutation(self, op: str) -> Iterator[None]:
        """The vault lock, recovery of an interrupted mutation, and this one's intent journal:
        every file is covered (``_cover``) before it is touched, so a crash anywhere leaves a
        journal the next command undoes (service/recovery.py), and a failure here is undone at once."""
        from secretctl.core.meta import format_time
        from secretctl.service.recovery import IntentLog

        self._recovery_checked = True  # done below, under the lock, waiting for git if need be
        self.require()
        gitrepo.verify_config(self.root)  # before anything is written (the git calls check again)
        with store.locked(self._lock_path(), what=f"the vault at {self.root}"):
            self._keys_cache = None
            self._recipients_cache.clear()
            self._committed = None  # HEAD may have moved since the last mutation
            self._recover_locked()
            log = IntentLog(self.root, self.git_dir, op, gitrepo.head(self.root), format_time(self.clock()))
            self._intent = log
            try:
                yield
                # A bulk write's sync ran beside the commit: its files are on disk before the
                # journal that would restore them goes.
                self._wait_synced()
                faults.point("mutation.committed")
                log.finish()
            except BaseException:
                self._wait_synced()  # no thread of ours outlives the mutation
                # If the undo fails too, the journal stays: the next command finishes it.
                with contextlib.suppress(OSError, SecretctlError):
                    log.roll_back()
                raise
            finally:
                self._intent = None
                # Another process may have written before we took the lock, and we just wrote.
                self._keys_cache = None
                self._recipients_cache.clear()
                self._committed = None

    def _wait_synced(self) -> None:
        syncing, self._syncing = self._syncing, None
        if syncing is not None:
            syncing.wait()

    def _cover(self, paths: Iterable[str]) -> None:
        """Journal vault files (vault-relative) before they are written or removed."""
        if self._intent is None:
            raise RuntimeError("a vault file was written outside a mutation")
        self._intent.cover(paths)

    def _commit(self, action: str, keys: Sequence[str], paths: Sequence[str], summary: str,
                staged: gitpack.BlobStager | None = None) -> str | None:

        log_paths = self._flush_access_log()
        paths = list(paths) + log_paths
        trailers = audit.format_trailers(action, keys, self.actor_trailer()) + self._audit_head_trailers(log_paths)
        message = f"{summary}\n\n{trailers}\n"
        commit = gitcommit.commit_paths(self.root, paths, message, actor=self.actor, staged=staged)
        self._access_log_committed()
        return commit

    @classmethod
    def _encrypting(cls, targets: Sequence[tuple[Secret, Any]], converted: Any) -> forked.Spread[tuple[Secret, Any]]:
        """Part of a bulk encryption on a forked worker (infra/forked): pyrage holds the GIL, so a
        second core needs a second process. ``targets``: (value, converted recipients) per file."""
        return cls._spread(lambda t: crypto.encrypt_to(*t), targets, converted)

    @staticmethod
    def _spread(fn: Callable[[_I], bytes], items: Sequence[_I], converted: Any) -> forked.Spread[_I]:
        """``fn`` over the last ``ENCRYPT_SHARE`` of ``items`` on a forked worker (never for an
        age plugin recipient: ``converted.min_items``)."""
        from secretctl.infra import forked  # imports typing: paid by bulk commands only

        return forked.Spread(fn, items, share=ENCRYPT_SHARE, min_items=converted.min_items())

    def _encode_secret(self, key: str, plaintext: Secret, meta: Meta, converted: Any = None,
                       ciphertext: bytes | None = None) -> tuple[tuple[str, bytes], tuple[str, bytes]]:
        """The two files of a secret, (vault-relative path, bytes): ciphertext and sidecar.
        ``ciphertext``: ``plaintext`` already encrypted to ``converted`` (by a bulk worker)."""

        _, rfile = self.encryption_recipients(key)
        if ciphertext is None:
            ciphertext = (crypto.encrypt(plaintext, rfile.recipients) if converted is None
                          else crypto.encrypt_to(plaintext, converted))
        meta = replace(meta, recipients_fingerprint=rfile.fingerprint())
        # Every public entry point validated ``key`` already; bulk writes skip doing it again.
        return (keys_mod.secret_path(key), ciphertext), (keys_mod.meta_path(key), render_meta(meta))

    def _write_secret(self, key: str, plaintext: Secret, meta: Meta) -> list[str]:
        files = self._encode_secret(key, plaintext, meta)
        self._cover([rel for rel, _ in files])
        for rel, data in files:
            store.atomic_write(self.root / rel, data)
        return [rel for rel, _ in files]

    def _write_batch(self, files: Iterable[tuple[str, bytes]],
                     expect: Sequence[str] = ()) -> tuple[list[str], gitpack.BlobStager | None]:
        """Write many files (vault-relative path, bytes) as one batch (store.write_many) while git
        stages the same bytes; returns the paths and the staging for the commit.

        ``files`` may be a generator that encrypts as it goes: the writes start with its first
        files, and git starts staging as soon as it has produced the last one. ``expect``: the
        paths it will produce, if known: when the pack's trees may pay (gitpack.trees_may_pay),
        HEAD's listing for them is read meanwhile.
        """

        blobs: dict[str, bytes] = {}
        staged: gitpack.BlobStager | None = None
        root = os.fspath(self.root)
        listing = gitpack.HeadListing(self.root) if gitpack.trees_may_pay(expect) else None

        covered = self._intent.covered if self._intent is not None else set()

        def produce() -> Iterator[tuple[str, bytes]]:
            nonlocal staged
            for rel, data in files:
                if rel not in covered:  # the caller journals every path first: a crash must see it
                    raise RuntimeError("a bulk write outside the intent journal")
                blobs[rel] = data
                yield os.path.join(root, rel), data
            # Runs when write_many asks for more: git stages while the last writes, the sync and
            # the renames go on.
            staged = gitpack.start_staging(self.root, blobs, listing)

        try:
            # In place: the intent journal restores them on a crash. The sync runs on beside the
            # commit; _mutation waits for it before the journal goes.
            self._syncing = store.write_many(produce(), in_place=True, sync_later=True)
        except BaseException:
            if staged is not None:
                staged.undo()
            raise
        finally:
            if listing is not None and staged is None:
                listing.result()  # no thread of ours outlives the batch
        return list(blobs), staged

    def _check_new_key(self, key: str) -> None:
        """Refuse ``key`` if it differs from an existing key or key folder only by case.

        Only the folders along ``key``'s path can hold such a spelling, so only they are listed
        (a `set` in a 10,000-secret vault listed every key: 31 ms); a same-spelling folder found
        there is walked for keys, as the full listing would have."""
        keys_mod.validate_key(key)
        if self._keys_cache is not None:
            keys_mod.check_case_collision(key, self._keys_cache)
            return
        segs = key.split("/")
        folder = ""
        for i, seg in enumerate(segs):
            last = i == len(segs) - 1
            want = f"{seg}{keys_mod.SECRET_SUFFIX}" if last else seg
            try:
                names = os.listdir(os.path.join(self.root, folder))
            except OSError:
                return  # the folder does not exist: nothing below it either
            for name in names:
                if name != want and name.casefold() == want.casefold():
                    sub = f"{folder}/{name}" if folder else name
                    found = keys_mod.keys_in_folder(folder, [name]) if last else self.key_names(under=sub)
                    keys_mod.check_case_collision(key, found)
            folder = f"{folder}/{seg}" if folder else seg

    def _build_meta(self, key: str, req: SetRequest, old: Meta | None) -> Meta:
        now = self.clock()
        fields: tuple[Field, ...] = ()
        bindings: tuple[tuple[str, str], ...] = ()
        if req.fields:
            for f in req.fields:
                validate_field_name(f.name)
                for alias in f.aliases:
                    validate_field_name(alias)
            for env in req.bindings:
                validate_env_name(env)
            fields_mod.check_inputs(req.fields, req.bindings.items())
            fields = tuple(f.schema() for f in req.fields)
            bindings = tuple(req.bindings.items())
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

    def set(self, key: str, req: SetRequest) -> SetOutcome:
        keys_mod.validate_key(key)
        with self._mutation("set"):
            self._check_new_key(key)
            existed = self.exists(key)
            old = self.meta(key) if existed else None
            meta = self._build_meta(key, req, old)
            if meta.is_multifield:
                plaintext = fields_mod.encode_document({f.name: f.value for f in req.fields})
            else:
                if req.value is None:
                    raise UsageError("no value given")
                plaintext = req.value
            paths = self._write_secret(key, plaintext, meta)
            action = "update" if existed else "set"
            commit = self._commit("set", [key], paths, f"secretctl: {action} {key}")
        return SetOutcome("set", [key], commit, created=not existed)

    def delete(self, key: str) -> Outcome:
        with self._mutation("delete"):
            spath = self._require_secret(key)
            mpath = self.meta_path_of(key)
            self._cover([self.rel(spath), self.rel(mpath)])
            store.remove(spath)
            store.remove(mpath)
            store.prune_empty_dirs(spath.parent, self.root)
            commit = self._commit("delete", [key], [self.rel(spath), self.rel(mpath)], f"secretctl: delete {key}")
        return Outcome("delete", [key], commit)

    def move(self, old: str, new: str) -> Outcome:
        keys_mod.validate_key(new)
        with self._mutation("move"):
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
            mpath = self.meta_path_of(old)
            self._cover([self.rel(spath), self.rel(mpath)])
            paths = self._write_secret(new, value, meta)
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
        with self._mutation("import"):
            existing = set(self.keys_near(k for k, _ in entries))
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
                return Outcome("import", [k for k, _ in todo], None, skipped, dry_run=True)
            converted = _ConvertedRecipients()
            req = SetRequest(tags=tags)
            # HEAD's recipients files of every folder at once: one `git cat-file`, not one per folder.
            self._trust().prefetch(k for k, _ in todo)

            targets = [(value, converted.get(*self.encryption_recipients(key))) for key, value in todo]

            def files_of(i: int) -> tuple[tuple[str, bytes], tuple[str, bytes]]:
                key, value = todo[i]
                old = self.meta(key) if key in existing else None
                meta = self._build_meta(key, replace(req, value=value), old)
                return self._encode_secret(key, value, meta, targets[i][1])

            def sealed(i: int) -> bytes:
                # In the worker: the age file and the sidecar, framed. The parent had built and
                # rendered every sidecar itself while the worker only encrypted (~20 ms of 1,000).
                (_, ciphertext), (_, sidecar) = files_of(i)
                return forked.pack_pair(ciphertext, sidecar)

            def encoded(spread: forked.Spread[int]) -> Iterator[tuple[str, bytes]]:
                for i, (key, _) in enumerate(todo):
                    answer = spread.take(i)
                    if answer is None:  # ours, or one the worker could not do: its error is raised here
                        yield from files_of(i)
                    else:
                        ciphertext, sidecar = forked.unpack_pair(answer)
                        yield keys_mod.secret_path(key), ciphertext
                        yield keys_mod.meta_path(key), sidecar
                    written.append(key)
                    if progress:
                        progress(i + 1)

            batch = [p for key, _ in todo for p in (keys_mod.secret_path(key), keys_mod.meta_path(key))]
            self._cover(batch)
            # Forked here, before the writer threads start.
            with self._spread(sealed, range(len(todo)), converted) as spread:
                paths, staged = self._write_batch(encoded(spread), expect=batch)
            commit = self._commit("import", written, paths, f"secretctl: import {len(written)} secrets",
                                  staged=staged)
        return Outcome("import", written, commit, skipped)

    def commit_access_log(self) -> str | None:
        """Commit pending access records on their own (sync does this before pulling)."""

        with self._mutation("audit"):
            paths = self._flush_access_log()
            if not paths:
                return None
            trailers = audit.format_trailers("audit", [], self.actor_trailer()) + self._audit_head_trailers(paths)
            commit = gitcommit.commit_paths(self.root, paths, f"secretctl: access log of {self.actor}\n\n{trailers}\n",
                                          actor=self.actor)
            self._access_log_committed()
            return commit


class _ConvertedRecipients:
    """Converts each recipients file to pyrage objects once per bulk operation."""

    def __init__(self) -> None:
        self._cache: dict[str, Any] = {}

    def min_items(self) -> int:
        """The batch size from which a forked worker encrypts (infra/forked): never when a
        recipient is an age plugin, a program of its own the worker would start and could leave
        behind."""
        from secretctl.infra import forked

        return forked.NEVER if any(crypto.runs_plugins(c) for c in self._cache.values()) else forked.MIN_ITEMS

    def get(self, reldir: str, rfile: RecipientsFile) -> Any:

        if reldir not in self._cache:
            self._cache[reldir] = crypto.to_pyrage_recipients(rfile.recipients)
        return self._cache[reldir]
