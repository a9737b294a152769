"""Team membership: who can read which folder, and re-encryption when that changes."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Sequence

from secretctl.core import faults
from secretctl.core import keys as keys_mod
from secretctl.core.frozen import replace
from secretctl.core.meta import Meta, new_meta, render_meta
from secretctl.core.recipients import (
    RECIPIENTS_FILE,
    Recipient,
    RecipientsFile,
    fingerprint,
    parse_recipient,
    validate_member_name,
)
from secretctl.core.secret import Secret
from secretctl.errors import (
    IdentityError,
    NotFoundError,
    SecretctlError,
    TamperedError,
    UsageError,
)
from secretctl.infra import identity as identity_mod
from secretctl.infra import store
from secretctl.service.base import MAX_SECRET_BYTES, RECIPIENTS_PATHSPEC
from secretctl.service.reading import _under
from secretctl.service.results import MemberAdded, MemberRemoved, Outcome
from secretctl.service.writing import Writing, _ConvertedRecipients

TYPE_CHECKING = False  # typing costs every start ~3 ms to import: for mypy only

if TYPE_CHECKING:
    from typing import Any, TypeVar

    from secretctl.infra import agerekey, forked, gitpack

    T = TypeVar("T")

class Members(Writing):
    def members(self) -> list[dict[str, Any]]:
        out = []
        for reldir in self.recipients_files():
            rfile = self.recipients_file(reldir)
            for r in rfile.recipients:
                out.append({"name": r.name, "recipient": r.text, "kind": r.kind, "path": reldir or "/"})
        return out

    def member_add(self, name: str, recipient_text: str, *, path: str = "",
                   progress: Callable[[int, int], None] | None = None) -> MemberAdded:
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
        with self._mutation("member-add"):
            metas = self._metas_beside_checks()
            changed: list[str] = []
            written: list[tuple[str, bytes]] = []
            targets = [d for d in self.recipients_files() if _under(d, path)]
            if path not in targets:
                _, inherited = self.governing(path + "/x") if path else ("", self.recipients_file(""))
                written.append(self._write_recipients(path, inherited.with_added(name, recipient)))
                changed.append(path)
            for d in targets:
                rfile = self.recipients_file(d)
                if rfile.find(name) is not None or rfile.has(recipient.text):
                    raise UsageError(f"member {name} or that recipient already has access to /{d}",
                                     hint="secretctl member list shows who has access where")
                written.append(self._write_recipients(d, rfile.with_added(name, recipient)))
                changed.append(d)
            self._recipients_cache.clear()
            paths, staged, touched = self._reencrypt_locked(progress=progress, added=recipient, metas=metas,
                                                            also=written)
            paths += [self.rel(self.root / d / RECIPIENTS_FILE) for d in changed]
            commit = self._commit("member-add", touched, paths,
                                  f"secretctl: add member {name} to /{path} ({len(touched)} secrets re-encrypted)",
                                  staged=staged)
        return MemberAdded("member-add", touched, commit, member=name, path=path or "/")

    def member_remove(self, name: str, *, progress: Callable[[int, int], None] | None = None) -> MemberRemoved:
        with self._mutation("member-remove"):
            self._require_committed_recipients()
            changed = []
            written: list[tuple[str, bytes]] = []
            for d in self.recipients_files():
                rfile = self.recipients_file(d)
                if rfile.find(name) is None:
                    continue
                remaining = rfile.without(name)
                if not remaining.recipients:
                    raise UsageError(f"removing {name} would leave /{d} with no recipients",
                                     hint="add another member there first")
                written.append(self._write_recipients(d, remaining))
                changed.append(d)
            if not changed:
                raise NotFoundError(f"member not found: {name}", hint="secretctl member list")
            self._recipients_cache.clear()
            readable = self._keys_under_files(changed)
            paths, staged, touched = self._reencrypt_locked(progress=progress, also=written)
            paths += [self.rel(self.root / d / RECIPIENTS_FILE) for d in changed]
            commit = self._commit("member-remove", touched, paths,
                                  f"secretctl: remove member {name} ({len(touched)} secrets re-encrypted)",
                                  staged=staged)
        return MemberRemoved("member-remove", touched, commit, member=name, could_read=readable)

    def _require_committed_recipients(self) -> None:
        """Member changes edit the work tree's recipients files: each must be HEAD's, or a planted
        key would be committed as if the person had added it."""
        from secretctl.infra import gitobjects, gitrepo
        from secretctl.service.trust import describe

        for _, rel in gitrepo.uncommitted(self.root, [RECIPIENTS_PATHSPEC]):
            head = gitobjects.committed_many(self.root, [rel])[rel]
            disk = (self.root / rel).read_bytes() if (self.root / rel).is_file() else None
            raise TamperedError(describe(rel, head, disk),
                                hint=f"commit it yourself if you made it; if not: git checkout HEAD -- {rel}"
                                if head is not None else f"commit it yourself if you made it; if not: rm {rel}")

    def _keys_under_files(self, dirs: Sequence[str]) -> list[str]:
        return [k for k in self.key_names() if self.governing(k)[0] in dirs]

    def _write_recipients(self, reldir: str, rfile: RecipientsFile) -> tuple[str, bytes]:
        """Write it (before any encryption follows it); (vault-relative path, bytes) for the batch."""
        path = self.root / reldir / RECIPIENTS_FILE
        data = rfile.render().encode()
        # A failure or a crash after this puts HEAD's file back (the journal names it).
        self._cover([self.rel(path)])
        store.atomic_write(path, data)
        self._trust().wrote(reldir, rfile)  # encryption in this mutation follows what we wrote
        faults.point("members.recipients-written")
        return self.rel(path), data


    def stale(self) -> list[str]:
        """Keys whose file was not encrypted to the recipients that now govern it."""
        return [k for k, _ in self._stale()]

    def _stale(self, metas: dict[str, Meta | None] | None = None) -> list[tuple[str, Meta | None]]:
        """``metas``: every key's sidecar, read already (:meth:`_metas_beside_checks`)."""
        out = []
        for k in self.key_names():
            _, rfile = self.governing(k)
            m = self.meta(k) if metas is None else metas[k]
            if m is None or m.recipients_fingerprint != rfile.fingerprint():
                out.append((k, m))
        return out

    def _metas_beside_checks(self) -> dict[str, Meta | None]:
        """Every key's sidecar (what the stale scan reads), read while a thread runs git: the
        check that the recipients files are HEAD's (`git status`), then HEAD's recipients of every
        folder holding a key (`git cat-file`, which the encryption needs). The scan had waited for
        the first and overlapped only the second. The check's refusal comes first, as it did:
        then a sidecar that does not parse; either before anything is written."""
        trust, keys = self._trust(), self.key_names()
        refused: list[BaseException] = []

        def checks() -> None:
            try:
                self._require_committed_recipients()
            except BaseException as exc:  # raised by the caller's thread, before anything else
                refused.append(exc)
                return
            with contextlib.suppress(Exception):  # the prefetch after the scan runs git again and reports it
                trust.prefetch(keys)

        def scan() -> tuple[dict[str, Meta | None], SecretctlError | None]:
            metas: dict[str, Meta | None] = {}
            try:
                for k in keys:
                    metas[k] = self.meta(k)
            except SecretctlError as exc:
                return metas, exc
            return metas, None

        metas, unreadable = _beside(checks, scan)
        if refused:
            raise refused[0]
        if unreadable is not None:
            raise unreadable
        return metas

    def _stale_beside_prefetch(self) -> list[tuple[str, Meta | None]]:
        """:meth:`_stale`, while a thread reads HEAD's recipients of every folder that holds a
        key (one `git cat-file`, which the encryption needs next): the scan reads 1,000 sidecars
        in Python while git runs (5-25 ms of waiting, after the scan, before). A failed prefetch
        is left to the one after the scan, which runs git again and reports it."""
        trust, keys = self._trust(), self.key_names()

        def ahead() -> None:
            with contextlib.suppress(Exception):
                trust.prefetch(keys)

        return _beside(ahead, self._stale)

    def reencrypt(self, *, dry_run: bool = False, progress: Callable[[int, int], None] | None = None) -> Outcome:
        """Re-encrypt exactly the files whose recipient set changed; one commit."""
        if dry_run:
            self.require()
            return Outcome("reencrypt", self.stale(), None, dry_run=True)
        with self._mutation("reencrypt"):
            paths, staged, touched = self._reencrypt_locked(progress=progress)
            commit = self._commit("reencrypt", touched, paths,
                                  f"secretctl: re-encrypt {len(touched)} secrets", staged=staged) if touched else None
        return Outcome("reencrypt", touched, commit)

    def _reencrypt_locked(
        self, *, progress: Callable[[int, int], None] | None, added: Recipient | None = None,
        metas: dict[str, Meta | None] | None = None, also: Sequence[tuple[str, bytes]] = (),
    ) -> tuple[list[str], gitpack.BlobStager | None, list[str]]:
        """Bring every stale file up to its recipients, in one batch (with ``also``: files this
        mutation wrote already, the recipients files, staged in the same pack).

        With ``added`` (member add), a file encrypted to exactly the other recipients of its
        governing file gets a stanza for ``added`` and keeps its payload (infra/agerekey): no
        payload is decrypted. Every other stale file (and every file when re-keying is not
        possible: an ssh-rsa or plugin key on either side, or the key held by the unlock agent)
        is decrypted and encrypted afresh. Everything is read and prepared before the first
        write, so an unreadable file fails the command with the disk unchanged.
        """
        todo = self._stale_beside_prefetch() if metas is None else self._stale(metas)
        if not todo:
            return [], None, []
        self._trust().prefetch(k for k, _ in todo)  # what the one beside the scan did not fetch (none, usually)
        unlocked = self.unlock()
        rekeyer = self._rekeyer(added, unlocked) if added is not None else None
        rekeyed: list[tuple[str, bytes, bytes]] = []  # (key, age file, sidecar)
        unreadable: list[str] = []
        rest: list[tuple[str, Meta | None, bytes]] = []
        before: dict[str, str] = {}  # governing folder -> fingerprint of its recipients but `added`
        candidates: list[tuple[str, str, Meta]] = []  # (key, path, sidecar) to re-key: read there
        for k, m in todo:
            rel = keys_mod.secret_path(k)
            if rekeyer is not None and m is not None and self._only_missing(k, m, added, before):
                candidates.append((k, rel, m))
            else:
                rest.append((k, m, self._secret_file(rel)))
        if rekeyer is not None and candidates:
            self._rekey_all(rekeyer, candidates, rekeyed, rest, unreadable)
        # Decrypt the rest in one batch: through the agent, one round trip instead of one per secret.
        values = unlocked.decrypt_many([(keys_mod.secret_path(k), data) for k, _, data in rest])
        plain: list[tuple[str, Secret, Meta]] = []
        for (k, m, _), value in zip(rest, values, strict=True):
            if isinstance(value, IdentityError):
                unreadable.append(k)
                continue
            if isinstance(value, SecretctlError):
                raise value
            plain.append((k, value, m if m is not None else new_meta(self.clock(), self.actor)))
        if unreadable:
            raise IdentityError(
                f"cannot re-encrypt {len(unreadable)} secrets you are not a recipient of, e.g. {unreadable[0]}",
                hint="a member who can read them must run `secretctl reencrypt`",
            )
        converted = _ConvertedRecipients()
        total = len(rekeyed) + len(plain)

        # The intent journal names every file before it is touched: re-keyed ones as much as
        # re-encrypted ones (_write_batch refuses a path it does not name).
        batch = [p for k in [k for k, _, _ in rekeyed] + [k for k, _, _ in plain]
                 for p in (keys_mod.secret_path(k), keys_mod.meta_path(k))]
        self._cover(batch)

        targets = [(value, converted.get(*self.encryption_recipients(k))) for k, value, _ in plain]

        def encoded(spread: forked.Spread[tuple[Secret, Any]]) -> Iterator[tuple[str, bytes]]:
            # The recipients files written above, again (the same bytes, in place): staged with the
            # rest, the commit has no `update-index` of its own and `write-tree` no loose top tree.
            yield from also
            for i, (k, ciphertext, sidecar) in enumerate(rekeyed):
                yield keys_mod.secret_path(k), ciphertext
                yield keys_mod.meta_path(k), sidecar
                if progress:
                    progress(i + 1, total)
            for i, (k, value, m) in enumerate(plain):
                yield from self._encode_secret(k, value, m, targets[i][1], spread.take(i))
                if progress:
                    progress(len(rekeyed) + i + 1, total)

        # Fresh encryption (member remove, reencrypt) on two cores, as in import (infra/forked).
        with self._encrypting(targets, converted) as spread:
            paths, staged = self._write_batch(encoded(spread), expect=[rel for rel, _ in also] + batch)
        return paths, staged, [k for k, _, _ in rekeyed] + [k for k, _, _ in plain]

    def _secret_file(self, rel: str) -> bytes:
        # Never through a link: a committed `x.age` pointing at another vault's file would be
        # re-encrypted (or re-keyed) for this vault's members and committed here. Strings, not
        # Paths: a Path per file was ~5% of re-keying 1,000.
        return store.read_limited(os.fspath(self.root) + os.sep + rel, MAX_SECRET_BYTES, what="secret",
                                  display=rel, follow=False)

    def _rekeyed_sidecar(self, key: str, meta: Meta) -> bytes:
        _, rfile = self.encryption_recipients(key)  # cached per folder by _only_missing: no git here
        return render_meta(replace(meta, recipients_fingerprint=rfile.fingerprint()))

    def _rekey_all(self, rekeyer: agerekey.Rekeyer, candidates: list[tuple[str, str, Meta]],
                   rekeyed: list[tuple[str, bytes, bytes]], rest: list[tuple[str, Meta | None, bytes]],
                   unreadable: list[str]) -> None:
        """Read, re-key and render the sidecar of every candidate, half of them on a forked worker
        (infra/forked: the X25519 work holds the GIL, so a second core needs a second process; the
        worker reads its own files and renders their sidecars, which the parent did alone before:
        ~15-20 ms of its 1,000 files). What the worker could not do is done here, so every error
        is the serial path's."""
        from secretctl.infra import agerekey, forked  # cryptography: paid by member commands only

        def work(candidate: tuple[str, str, Meta]) -> bytes:
            k, rel, m = candidate
            out = rekeyer.add_recipients(self._secret_file(rel), source=rel)
            return forked.pack_pair(out, self._rekeyed_sidecar(k, m))

        def settle(candidate: tuple[str, str, Meta], answer: bytes | None) -> None:
            k, rel, m = candidate
            if answer is not None:
                rekeyed.append((k, *forked.unpack_pair(answer)))
                return
            data = self._secret_file(rel)
            try:
                out = rekeyer.add_recipients(data, source=rel)
            except agerekey.CannotRekey:
                rest.append((k, m, data))  # a passphrase file, say: decrypted and encrypted afresh
                return
            except IdentityError:
                unreadable.append(k)
                return
            rekeyed.append((k, out, self._rekeyed_sidecar(k, m)))

        with forked.Spread(work, candidates) as spread:
            for i, c in enumerate(candidates):
                settle(c, spread.take(i))

    def _only_missing(self, key: str, meta: Meta, added: Recipient | None, before: dict[str, str]) -> bool:
        """Whether ``key`` was encrypted to exactly the recipients it is now encrypted to (see
        ``encryption_recipients``) other than ``added``. ``before`` keeps that fingerprint per
        governing folder (one hash per folder, not per file)."""
        if added is None:
            return False
        reldir, rfile = self.encryption_recipients(key)
        if reldir not in before:
            before[reldir] = fingerprint(r for r in rfile.recipients if r.text != added.text)
        return meta.recipients_fingerprint == before[reldir]

    def _rekeyer(self, added: Recipient, unlocked: identity_mod.Unlocked) -> agerekey.Rekeyer | None:
        """What adds ``added`` to age headers with my key, or None where it cannot (the unlock
        agent never hands out the key: its files are decrypted and encrypted afresh)."""
        from secretctl.infra import agerekey  # imports cryptography: paid by member commands only

        if not isinstance(unlocked, identity_mod.Identity):
            return None
        try:
            new = agerekey.NewRecipient.parse(added.text)
            return agerekey.Rekeyer(agerekey.RekeyIdentity.from_key_text(unlocked.key_text.reveal_text()), [new])
        except agerekey.CannotRekey:
            return None


def _beside(work: Callable[[], None], scan: Callable[[], T]) -> T:
    """``scan`` on this thread while ``work`` (git) runs on another, joined before this returns:
    nothing forks (infra/forked) or reads the trust cache while it runs. With no thread to be
    had, one after the other."""
    import threading

    thread = threading.Thread(target=work, name="secretctl-beside", daemon=True)
    try:
        thread.start()
    except RuntimeError:
        work()
        return scan()
    try:
        return scan()
    finally:
        thread.join()
