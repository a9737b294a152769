"""Conflicts of a stopped sync (service layer): the record, what git cannot settle, showing both sides.

A sync rebases your commits onto the incoming ones. Git stops on a commit when a secret changed
on both sides. The ``*.age`` merge driver settles equal plaintexts and records a real conflict;
what git stops on without asking the driver is a secret edited on one side and moved or deleted
on the other ("modify/delete"). This module settles those: the edit follows the move (to the new
name) when the moved value is unchanged, and otherwise becomes a conflict `secretctl resolve`
settles like any other. No plaintext is written: values are compared in memory and the record
holds ciphertexts only.

In a rebase git's "ours" (index stage 2) is the incoming side and "theirs" (stage 3) is your
commit being replayed; the record and every message say "yours" and "incoming" instead.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

from secretctl.core import keys
from secretctl.core.audit import parse_trailers
from secretctl.core.frozen import frozen, replace
from secretctl.core.merge import decide_value_merge
from secretctl.core.meta import Meta, parse_meta, render_meta
from secretctl.core.secret import Secret, mask
from secretctl.errors import ConflictError, NotFoundError, SecretctlError
from secretctl.infra import crypto, gitrepo, settings, store

TYPE_CHECKING = False
if TYPE_CHECKING:  # importing typing costs every merged file ~3 ms: for mypy only
    from typing import Any

    from secretctl.service.vault import Vault

CONFLICTS = "secretctl/conflicts.json"
_MAX_ROUNDS = 10_000  # one per replayed commit; a bound, not a limit anyone meets


# --------------------------------------------------------------- the record
def rebasing(root: Path) -> bool:
    state = gitrepo.git_dir(root)
    return (state / "rebase-merge").exists() or (state / "rebase-apply").exists()


def load(root: Path) -> dict[str, Any]:
    path = gitrepo.git_dir(root) / CONFLICTS
    if not path.exists():
        return {}
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except ValueError:
        return {}
    return data


def save(root: Path, conflicts: dict[str, Any]) -> None:
    path = gitrepo.git_dir(root) / CONFLICTS
    if conflicts:
        store.atomic_write(path, json.dumps(conflicts, indent=1).encode(), mode=0o600)
    else:
        store.remove(path)


def record(root: Path, relpath: str, local: bytes | None, incoming: bytes | None) -> None:
    """Both sides' ciphertexts (None: that side deleted the secret)."""
    conflicts = load(root)
    conflicts[relpath] = {
        "key": keys.key_from_path(relpath),
        "local": base64.b64encode(local).decode() if local is not None else None,
        "incoming": base64.b64encode(incoming).decode() if incoming is not None else None,
    }
    save(root, conflicts)


def in_conflict(root: Path, key: str) -> bool:
    return keys.secret_path(key) in load(root)


def names(root: Path) -> list[str]:
    return sorted(v.get("key") or k for k, v in load(root).items())


# ---------------------------------------------------------- showing sides
@frozen
class Side:
    """One side of a conflict as `resolve --show` prints it: masked unless revealed."""

    deleted: bool
    masked_value: str = ""
    value_length: int = 0
    value: Secret | None = None  # only when revealed

    def to_json(self) -> dict[str, Any]:
        if self.deleted:
            return {"deleted": True}
        d: dict[str, Any] = {"deleted": False, "masked_value": self.masked_value, "value_length": self.value_length}
        if self.value is not None:
            d["value"] = self.value.reveal_text()
        return d


def show(vault: Vault, key: str, *, reveal: bool) -> tuple[Side, Side]:
    """(yours, incoming) of a pending conflict; revealing them is recorded in the access log."""
    rel = keys.secret_path(keys.validate_key(key))
    entry = load(vault.root).get(rel)
    if entry is None:
        raise NotFoundError(f"no conflict on {key}", hint="secretctl sync names the conflicted keys")

    def side(b64: str | None) -> Side:
        if b64 is None:
            return Side(deleted=True)
        value = vault.unlock().decrypt(base64.b64decode(b64), source=rel)
        return Side(False, mask(value.reveal()), len(value.reveal_text()), value if reveal else None)

    sides = side(entry.get("local")), side(entry.get("incoming"))
    if reveal:
        vault.record_access("resolve-show", [key])  # plaintext to a person: an access, as `get` is
    return sides


# ------------------------------------------------------- settling a rebase
def _git(root: Path, *args: str, check: bool = True) -> bytes:
    return gitrepo.git(root, *args, check=check).stdout


def _unmerged(root: Path) -> dict[str, dict[int, str]]:
    """path -> {stage: blob id} for every unmerged index entry."""
    out: dict[str, dict[int, str]] = {}
    for entry in _git(root, "ls-files", "-u", "-z").split(b"\0"):
        if not entry:
            continue
        info, _, path = entry.partition(b"\t")
        _mode, sha, stage = info.decode().split()
        out.setdefault(path.decode(), {})[int(stage)] = sha
    return out


def _moves(root: Path) -> dict[str, str]:
    """old key -> new key for every `secretctl mv` on either side of the rebase in progress."""
    state = gitrepo.git_dir(root) / "rebase-merge"
    try:
        onto = (state / "onto").read_text().strip()
        orig = (state / "orig-head").read_text().strip()
    except OSError:
        return {}
    out: dict[str, str] = {}
    for rng in (f"{orig}..{onto}", f"{onto}..{orig}"):
        log = _git(root, "log", "--reverse", "--format=%B%x1e", rng).decode(errors="replace")
        for body in log.split("\x1e"):
            t = parse_trailers(body.strip("\n"))
            if t is not None and t.action == "move" and len(t.keys) == 2:
                out[t.keys[0]] = t.keys[1]
    return out


def _follow(moves: dict[str, str], key: str) -> str | None:
    seen = {key}
    target = moves.get(key)
    while target is not None and target in moves and moves[target] not in seen:
        seen.add(target)
        target = moves[target]
    return target


def _index_blob(root: Path, relpath: str) -> str | None:
    out = _git(root, "ls-files", "-s", "-z", "--", relpath)
    for entry in out.split(b"\0"):
        info, _, path = entry.partition(b"\t")
        parts = info.decode().split()
        if path.decode() == relpath and len(parts) == 3 and parts[2] == "0":
            return parts[1]
    return None


def _blob(root: Path, sha: str | None) -> bytes | None:
    if sha is None:
        return None
    return _git(root, "cat-file", "blob", sha)


def settle(vault: Vault) -> None:
    """Drive a stopped rebase as far as it goes: settle modify/delete stops of secrets, continue,
    repeat. Raises ConflictError naming the keys when a person must choose."""
    root = vault.root
    for _ in range(_MAX_ROUNDS):
        if not rebasing(root):
            return
        pending = names(root)
        if pending:
            raise _conflict_error(pending)
        unmerged = _unmerged(root)
        if unmerged:
            left = _settle_unmerged(vault, unmerged)
            if left:
                gitrepo.git(root, "rebase", "--abort", check=False)
                raise ConflictError(f"sync stopped: git could not rebase your changes to {', '.join(left[:3])}",
                                    hint="nothing was changed; resolve it with git (git status), then secretctl sync")
            pending = names(root)
            if pending:
                raise _conflict_error(pending)
        _continue(root)
    raise ConflictError("sync stopped: the rebase does not finish", hint="git status; git rebase --abort")


def _conflict_error(pending: list[str]) -> ConflictError:
    return ConflictError(f"both sides changed {len(pending)} secret(s): {', '.join(pending)}",
                         hint="see both sides with secretctl resolve --show KEY, then choose: secretctl resolve KEY "
                              "--ours (your value) or --theirs (the incoming one)")


def _continue(root: Path) -> None:
    env = {**settings.environ(), "GIT_EDITOR": "true"}  # keep the replayed commit's message, never open an editor
    proc = gitrepo.git(root, "rebase", "--continue", env=env, check=False)
    if proc.returncode != 0 and rebasing(root) and not _unmerged(root) and not load(root):
        # Your commit became empty (you chose the incoming side of everything it changed).
        proc = gitrepo.git(root, "rebase", "--skip", env=env, check=False)


def _settle_unmerged(vault: Vault, unmerged: dict[str, dict[int, str]]) -> list[str]:
    """Settle what git stopped on; returns the paths this cannot settle (not secrets)."""
    root = vault.root
    moves = _moves(root)
    left: list[str] = []
    for path in sorted(unmerged):
        key = keys.key_from_path(path) if path.endswith(keys.SECRET_SUFFIX) else None
        if key is None and path.endswith(keys.META_SUFFIX):
            key = path[: -len(keys.META_SUFFIX)]
            if keys.secret_path(key) in unmerged:
                continue  # settled with its secret
            _settle_sidecar(vault, key, unmerged[path], moves)
            continue
        if key is None:
            left.append(path)
            continue
        stages = unmerged[path]
        if 2 in stages and 3 in stages:
            continue  # changed on both sides: the merge driver recorded it (or failed: left to git)
        _settle_secret(vault, key, stages, unmerged.get(keys.meta_path(key), {}), moves)
    return left


def _settle_secret(vault: Vault, key: str, stages: dict[int, str], meta_stages: dict[int, str],
                   moves: dict[str, str]) -> None:
    """A secret changed on one side and deleted (or moved) on the other."""
    root = vault.root
    rel, mrel = keys.secret_path(key), keys.meta_path(key)
    mine_edited = 3 in stages  # else the incoming side edited it and yours deleted or moved it
    target = _follow(moves, key)
    target_blob = _index_blob(root, keys.secret_path(target)) if target else None
    if target is None or target_blob is None:
        # Deleted on one side, changed on the other: a person chooses. The tree keeps your side.
        local = _blob(root, stages.get(3))
        incoming = _blob(root, stages.get(2))
        record(root, rel, local, incoming)
        if local is None:
            store.remove(root / rel)
        return
    _follow_move(vault, key, target, stages=stages, meta_stages=meta_stages, mine_edited=mine_edited,
                 target_blob=target_blob)
    store.remove(root / rel)
    store.remove(root / mrel)
    store.prune_empty_dirs((root / rel).parent, root)
    _git(root, "rm", "-q", "--cached", "--ignore-unmatch", "--", rel, mrel)


def _follow_move(vault: Vault, key: str, target: str, *, stages: dict[int, str], meta_stages: dict[int, str],
                 mine_edited: bool, target_blob: str) -> None:
    """The edit of ``key`` follows its move to ``target``, unless the moved value changed too."""
    root = vault.root
    trel = keys.secret_path(target)
    unlocked = vault.unlock()
    edited_blob = _blob(root, stages[3] if mine_edited else stages[2])
    moved_blob = _blob(root, target_blob)
    base_blob = _blob(root, stages.get(1))
    if edited_blob is None or moved_blob is None:
        raise ConflictError(f"sync stopped: git lost a side of {key}", hint="git status; git rebase --abort")

    def plain(data: bytes | None, where: str) -> bytes | None:
        return None if data is None else unlocked.decrypt(data, source=where).reveal()

    base = plain(base_blob, keys.secret_path(key))
    edited = plain(edited_blob, keys.secret_path(key))
    moved = plain(moved_blob, trel)
    decision = decide_value_merge(base, moved, edited)
    if decision == "conflict":
        local, incoming = (edited_blob, moved_blob) if mine_edited else (moved_blob, edited_blob)
        record(root, trel, local, incoming)
        store.atomic_write(root / trel, local)  # the tree holds your side, as for any conflict
        return
    if decision == "theirs" and edited is not None:
        _, rfile = vault.governing(target)
        store.atomic_write(root / trel, crypto.encrypt(Secret(edited), rfile.recipients))
        _merge_sidecar_into(vault, target, meta_stages.get(3 if mine_edited else 2))
        _git(root, "add", "--", trel, keys.meta_path(target))


def _merge_sidecar_into(vault: Vault, target: str, edited_sha: str | None) -> None:
    """The target's sidecar after the edit moved there: the one updated last, with the
    fingerprint of the recipients the value was just encrypted to."""
    root = vault.root
    mrel = keys.meta_path(target)
    current = _parse_meta(vault, (root / mrel).read_bytes() if (root / mrel).exists() else None, mrel)
    edited = _parse_meta(vault, _blob(root, edited_sha), mrel)
    chosen = current
    if edited is not None and (current is None or edited.updated > current.updated):
        chosen = edited
    if chosen is None:
        return
    _, rfile = vault.governing(target)
    store.atomic_write(root / mrel, render_meta(replace(chosen, recipients_fingerprint=rfile.fingerprint())))


def _parse_meta(vault: Vault, data: bytes | None, source: str) -> Meta | None:
    if not data:
        return None
    try:
        return parse_meta(data, source=source)
    except SecretctlError:
        return None  # a damaged side loses to the other; `check` reports the file


def _settle_sidecar(vault: Vault, key: str, stages: dict[int, str], moves: dict[str, str]) -> None:
    """A sidecar unmerged while its secret merged: the secret decides where metadata goes."""
    root = vault.root
    mrel = keys.meta_path(key)
    present = stages.get(3) or stages.get(2)
    if _index_blob(root, keys.secret_path(key)) is not None and present is not None:
        store.atomic_write(root / mrel, _blob(root, present) or b"")
        _git(root, "add", "--", mrel)
        return
    target = _follow(moves, key)
    if target is not None and _index_blob(root, keys.secret_path(target)) is not None:
        _merge_sidecar_into(vault, target, present)
        _git(root, "add", "--", keys.meta_path(target))
    store.remove(root / mrel)
    _git(root, "rm", "-q", "--cached", "--ignore-unmatch", "--", mrel)
