"""What git starts per merged or diffed file (service layer): the merge drivers for ``*.age``
and sidecars, and textconv. A module of their own: git runs one process per file, and these
need neither sync nor audit (service/team.py).

Plaintext never touches disk here: the merge driver and textconv decrypt in memory, and a
conflict leaves a valid age file (our side) in the tree while both sides' ciphertexts wait
under .git/secretctl/ for ``secretctl resolve``.
"""

from __future__ import annotations

from secretctl.core import keys, schema
from secretctl.core.merge import decide_value_merge, merge_mappings
from secretctl.core.meta import parse_meta, render_meta
from secretctl.core.secret import Secret
from secretctl.errors import IdentityError, SecretctlError
from secretctl.infra import crypto, store
from secretctl.service import conflicts

TYPE_CHECKING = False
if TYPE_CHECKING:  # importing typing costs every merged file ~3 ms: for mypy only
    from pathlib import Path
    from typing import Any

    from secretctl.infra.identity import Unlocked
    from secretctl.service.vault import Vault


def textconv(vault: Vault, path: Path) -> bytes:
    """What `git diff` shows for an age file: the plaintext if we can decrypt it, else <encrypted>."""
    try:
        data = path.read_bytes()
        return vault.unlock().decrypt(data, source=str(path)).reveal() + b"\n"
    except (OSError, SecretctlError):
        return b"<encrypted>\n"



def merge_age(vault: Vault, base: Path, ours: Path, theirs: Path, relpath: str) -> bool:
    """The merge driver for *.age: compare plaintexts. Returns False on a real conflict.

    The result is written to ``ours`` (git's %A) re-encrypted to the current recipients. On
    a conflict ``ours`` keeps a valid age file and both ciphertexts are recorded, labelled
    local/incoming whatever git calls them (a rebase swaps ours and theirs).
    """

    unlocked: Unlocked | None
    try:
        unlocked = vault.unlock()
    except IdentityError:
        # secretctl gives its git children no password: with a protected identity and no unlock
        # agent the driver cannot compare plaintexts, so the person settles it with `resolve`.
        unlocked = None

    def plain(p: Path) -> bytes | None:
        data = p.read_bytes() if p.exists() else b""
        if not data or unlocked is None:
            return None
        return unlocked.decrypt(data, source=relpath).reveal()

    b, o, t = plain(base), plain(ours), plain(theirs)
    decision = decide_value_merge(b, o, t) if unlocked is not None else "conflict"
    key = keys.key_from_path(relpath)
    if decision == "conflict" or key is None:
        local, incoming = (theirs, ours) if conflicts.rebasing(vault.root) else (ours, theirs)
        local_bytes = local.read_bytes() if local.exists() else None
        conflicts.record(vault.root, relpath, local_bytes, incoming.read_bytes() if incoming.exists() else None)
        if local_bytes is not None and local is not ours:
            # Git leaves %A in the tree: make it your side, so `get` shows what docs/team.md says.
            store.atomic_write(ours, local_bytes)
        return False
    winner = {"same": o, "ours": o, "theirs": t, "deleted": None}[decision]
    if winner is None:
        winner = o if o is not None else t
    if winner is None:
        return True

    _, rfile = vault.encryption_recipients(key)
    store.atomic_write(ours, crypto.encrypt(Secret(winner), rfile.recipients))
    return True


def merge_meta(base: Path, ours: Path, theirs: Path, relpath: str) -> bool:
    """The merge driver for sidecars: field by field; a field changed differently on both sides
    takes the side updated last. Always produces a valid sidecar."""
    def load(p: Path) -> dict[str, Any] | None:
        if not p.exists() or not p.read_bytes().strip():
            return None
        # A malformed side is a one-line VaultCorruptError naming the file and line (git then
        # leaves the conflict for `secretctl resolve`), never a yaml exception.
        data = schema.load(p.read_bytes(), source=relpath)
        return data if isinstance(data, dict) else None

    b, o, t = load(base), load(ours), load(theirs)
    if o is None or t is None:
        return o is not None or t is not None
    prefer = "theirs" if str(t.get("updated", "")) > str(o.get("updated", "")) else "ours"
    merged = merge_mappings(b, o, t, prefer=prefer).merged
    text = schema.dump(merged).encode()
    try:
        meta = parse_meta(text, source=relpath)
    except SecretctlError:
        return False
    store.atomic_write(ours, render_meta(meta))
    return True
