"""A cache of parsed sidecars, keyed by their git blob ids, kept inside the git directory.

`list --json` on 10,000 secrets spent most of its time reading and parsing 10,000 sidecars. This
cache keeps, for each sidecar content (its git blob id), the caller's rendering of it (the JSON
view `list` prints), and for each path the file's stat signature when its content was last read.

It is never trusted over the files: a sidecar whose size, mtime, ctime or inode differ from the
recorded signature (edited, checked out, untracked, new) is read again, its blob id computed from
the bytes read, and its view taken from the cache only if that content was seen before, else
rendered. A signature taken within two seconds of its file's last change is not recorded
(the file system's clock may not have ticked between two writes: git's "racy" case), so such a file
is read again next time. The cache file is rewritten (atomically) only when something changed,
holds only the views of sidecars that exist, and a cache that cannot be read or written is simply
not used. Sidecars hold no secret values, so neither does the cache.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from pathlib import Path

from secretctl.errors import NotFoundError, SecretctlError

MAGIC = "secretctl-sidecar-cache 1"
MAX_SIDECAR_BYTES = 64 * 1024
RACY_SECONDS = 2.0

Render = Callable[[bytes, str], str]  # (sidecar bytes, vault-relative path) -> one line of text


def git_dir(root: Path) -> Path:
    """The repository's git directory: ``.git`` itself, or where a worktree's ``.git`` file points."""
    dotgit = root / ".git"
    if dotgit.is_file():
        text = dotgit.read_text(errors="replace").strip()
        if text.startswith("gitdir: "):
            target = Path(text[len("gitdir: "):])
            return target if target.is_absolute() else (root / target).resolve()
    return dotgit


def blob_id(data: bytes) -> str:
    """git's SHA-1 object id of a blob with these bytes (what `git hash-object` prints)."""
    import hashlib

    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


class SidecarCache:
    """Views of a vault's sidecars; ``version`` names the rendering, so a new one starts afresh."""

    def __init__(self, root: Path, render: Render, *, version: str) -> None:
        self.root = root
        self._prefix = os.fspath(root) + os.sep
        self._render = render
        self._header = f"{MAGIC} {version}"
        self._path = git_dir(root) / "secretctl" / "sidecar-cache"
        self._sigs: dict[str, tuple[str, str]] = {}  # path -> (signature, blob id)
        self._views: dict[str, str] = {}  # blob id -> view
        self._used_sigs: dict[str, tuple[str, str]] = {}
        self._changed = False
        self._load()

    def _load(self) -> None:
        try:
            text = self._path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return
        lines = text.split("\n")
        if not lines or lines[0] != self._header:
            self._changed = True  # another rendering: start afresh
            return
        for line in lines[1:]:
            kind, _, rest = line.partition("\t")
            if kind == "P":
                path, _, sig_blob = rest.partition("\t")
                sig, _, blob = sig_blob.rpartition("\t")
                self._sigs[path] = (sig, blob)
            elif kind == "B":
                blob, _, view = rest.partition("\t")
                self._views[blob] = view

    def view(self, rel: str) -> str | None:
        """The view of sidecar ``rel`` (vault-relative), or None when there is no sidecar."""
        full = self._prefix + rel  # not os.path.join: 10,000 calls cost 40 ms on a listing
        try:
            st = os.stat(full)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise SecretctlError(f"cannot read {rel}: {exc.strerror}") from None
        sig = f"{st.st_size}\t{st.st_mtime_ns}\t{st.st_ctime_ns}\t{st.st_ino}"
        known = self._sigs.get(rel)
        if known is not None and known[0] == sig and known[1] in self._views:
            blob = known[1]
            self._used_sigs[rel] = known
            return self._views[blob]
        data = self._read(full, rel)
        if data is None:
            return None
        blob = blob_id(data)
        view = self._views.get(blob)
        if view is None:
            view = self._render(data, rel)
            if "\n" in view or "\t" in view:
                raise ValueError("a cached view is one line without tabs")
            self._views[blob] = view
        self._changed = True
        if time.time_ns() - max(st.st_mtime_ns, st.st_ctime_ns) > RACY_SECONDS * 1e9:
            self._used_sigs[rel] = (sig, blob)
        return view

    @staticmethod
    def _read(full: str, rel: str) -> bytes | None:
        from secretctl.infra import store

        try:
            return store.read_limited(Path(full), MAX_SIDECAR_BYTES, what="sidecar", display=rel)
        except NotFoundError:
            return None

    def save(self, *, complete: bool) -> None:
        """Write the cache if anything changed; a failure only loses the cache. ``complete``: this
        session asked for every sidecar of the vault, so paths it did not see are gone."""
        sigs = self._used_sigs if complete else {**self._sigs, **self._used_sigs}
        if not self._changed and sigs.keys() == self._sigs.keys():
            return
        views = {blob: self._views[blob] for _, blob in sigs.values() if blob in self._views}
        lines = [self._header]
        lines += [f"P\t{p}\t{sig}\t{blob}" for p, (sig, blob) in sigs.items()]
        lines += [f"B\t{blob}\t{view}" for blob, view in views.items()]
        # No fsync: a cache lost in a crash is rebuilt; the rename keeps readers from a torn file.
        tmp = self._path.with_name(f"{self._path.name}.tmp-{os.getpid()}")
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
            os.replace(tmp, self._path)
        except OSError:
            with contextlib.suppress(OSError):
                tmp.unlink()
