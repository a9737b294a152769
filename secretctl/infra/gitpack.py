"""Staging many files into git as one hand-built pack (bulk writes: import, re-encryption).

Each loose object git writes costs a file creation, so a bulk write hands git one pack of whole
blobs instead, verified by ``git index-pack``. `git fast-import` was measured in its place and
was more than 10% slower (docs/architecture.md). Git runs through :func:`gitrepo.git` only.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from pathlib import Path

from secretctl.infra.gitrepo import common_dir, config_value, git

# Bulk writes put their files into git as one pack: each loose object git writes costs a file
# creation (0.2-1 ms here), so 2,000 of them cost more than everything else in an import.


PACK_THRESHOLD = 64


def blob_id(data: bytes) -> str:
    import hashlib

    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def _stored_zlib(data: bytes) -> bytes:
    """``data`` as a zlib stream of stored (uncompressed) deflate blocks.

    Ciphertext does not compress, and deflate's per-call set-up costs more than a small
    file's worth of work; ``git gc`` recompresses sidecars when it repacks.
    """
    import struct
    import zlib

    out = [b"\x78\x01"]
    view = memoryview(data)
    while True:
        block, view = view[:65535], view[65535:]
        out.append(struct.pack("<BHH", 0 if view else 1, len(block), 0xFFFF ^ len(block)))
        out.append(bytes(block))
        if not view:
            break
    out.append(struct.pack(">I", zlib.adler32(data)))
    return b"".join(out)


_TREE, _BLOB = 2, 3  # pack object types


def build_pack(blobs: Sequence[bytes], trees: Sequence[bytes] = ()) -> bytes:
    """A git pack (version 2) holding ``blobs`` and ``trees`` (tree object bodies) as whole
    objects, no deltas."""
    import hashlib
    import struct

    out = [b"PACK", struct.pack(">II", 2, len(blobs) + len(trees))]
    for kind, data in [(_BLOB, b) for b in blobs] + [(_TREE, t) for t in trees]:
        size = len(data)
        header = bytearray()
        byte = (kind << 4) | (size & 0x0F)
        size >>= 4
        while size:
            header.append(byte | 0x80)
            byte = size & 0x7F
            size >>= 7
        header.append(byte)
        out.append(bytes(header))
        out.append(_stored_zlib(data))
    body = b"".join(out)
    return body + hashlib.sha1(body, usedforsecurity=False).digest()  # the pack trailer git checks


def stage_blobs(root: Path, blobs: Mapping[str, bytes], *, with_trees: bool = False,
                listing: HeadListing | None = None) -> str:
    """Stage files whose exact contents we hold (and just wrote to disk): one pack, one index update.

    ``git index-pack`` verifies the pack and writes its index; the index entries carry no
    stat data yet, so the next ``git status`` re-reads those files once and finds them equal to
    the staged blobs. ``with_trees``: the pack also holds the trees HEAD plus these files has
    (:func:`head_trees`, from ``listing`` when given). Returns the pack's name.
    """
    if not blobs:
        return ""
    paths = sorted(blobs)
    ids = {p: blob_id(blobs[p]) for p in paths}
    trees = head_trees(root, ids, listing) if with_trees else []
    out = git(root, "index-pack", "--stdin", input=build_pack([blobs[p] for p in paths], trees))
    name = out.stdout.decode(errors="replace").split()
    try:
        info = b"".join(b"100644 %s\t%s\0" % (ids[p].encode(), p.encode()) for p in paths)
        git(root, "update-index", "-z", "--index-info", input=info)
    except BaseException:
        remove_pack(root, name[-1] if name else "")
        raise
    return name[-1] if name else ""


_LS_TREE = ("ls-tree", "-r", "-t", "-z", "--full-tree", "HEAD")  # every entry of HEAD, folders too


class HeadListing:
    """``git ls-tree -r -t -z HEAD`` (what :func:`head_trees` reads) on a thread, started before a
    bulk write produces its files so that staging does not wait for it. :meth:`result` joins it:
    call it (or let the stager call it) before the mutation ends or the process forks."""

    def __init__(self, root: Path) -> None:
        import threading

        self._root = root
        self._out: bytes | None = None
        self._thread: threading.Thread | None = threading.Thread(target=self._run, name="secretctl-ls-tree",
                                                                 daemon=True)
        try:
            self._thread.start()
        except RuntimeError:
            self._thread = None  # no thread to be had: no listing, so no trees in the pack

    def _run(self) -> None:
        from secretctl.errors import SecretctlError

        with contextlib.suppress(SecretctlError):  # no HEAD, git failing: no trees, write-tree writes them
            self._out = git(self._root, *_LS_TREE).stdout

    def result(self) -> bytes | None:
        if self._thread is None:
            return None
        self._thread.join()
        return self._out


def head_trees(root: Path, ids: Mapping[str, str], listing: HeadListing | None = None) -> list[bytes]:
    """The trees HEAD plus the blobs ``ids`` (path -> blob id) has where HEAD's differ
    (core/gittree), for the pack: else `git write-tree` writes each as a loose object, one new
    file per folder. HEAD's entries come from one `git ls-tree -r -t` (4 ms for 2,000 files;
    `cat-file` of `HEAD:FOLDER` names took 16 ms for 101 folders, each name resolved from the
    commit down), ``listing``'s when given. An optimisation only: on any doubt (a malformed
    listing, git failing, no HEAD) there are none, and `write-tree` writes them as before."""
    from secretctl.core import gittree
    from secretctl.errors import SecretctlError

    try:
        out = git(root, *_LS_TREE).stdout if listing is None else listing.result()
        folders = gittree.folders(ids)
        if out is None or not _trees_pay(len(folders), out.count(b"\0"), len(ids)):
            return []
        old = gittree.folder_entries(out, folders)
        return gittree.new_trees(old, {p: bytes.fromhex(oid) for p, oid in ids.items()})
    except (SecretctlError, ValueError):
        return []


def _trees_pay(folders: int, records: int, blobs: int) -> bool:
    """Whether computing the trees costs less than `write-tree` writing them loose. Measured here
    at rest: a loose tree ~320 us (32.5 ms for 101); reading the listing ~0.5 us a record (8-15
    ms for a 10,000-secret vault's 20,100) and building ~2 us a blob. An import of 1,000 into a
    new folder of that vault changes two trees (0.6 ms) and would pay ~20 ms for them."""
    return folders * 320 > records * 0.5 + blobs * 2


def trees_may_pay(paths: Sequence[str]) -> bool:
    """Whether a batch writing ``paths`` may gain from its trees in the pack, before HEAD's size is
    known (:func:`_trees_pay` with no listing but the `ls-tree` process's own ~4 ms)."""
    from secretctl.core import gittree  # here: `set` imports this module and never stages a pack

    return len(paths) >= PACK_THRESHOLD and len(gittree.folders(paths)) * 320 > 4000 + len(paths) * 2


def remove_pack(root: Path, name: str) -> None:
    """Delete a pack we just wrote and no commit refers to (a failed bulk write)."""
    if len(name) in (40, 64) and all(c in "0123456789abcdef" for c in name):
        for suffix in (".idx", ".pack", ".rev"):
            with contextlib.suppress(OSError):
                (common_dir(root) / "objects" / "pack" / f"pack-{name}{suffix}").unlink()


class BlobStager:
    """Stages many files' contents (:func:`stage_blobs`) on a second thread, while the caller
    writes the same files to disk: git's two index passes overlap the file writes.

    ``wait`` returns whether the blobs were staged (False in a SHA-256 repository, whose files
    are then staged from disk); ``undo`` puts the index back if the disk writes failed.
    """

    def __init__(self, root: Path, blobs: Mapping[str, bytes], listing: HeadListing | None = None) -> None:
        import threading

        self.root, self.blobs, self._listing = root, blobs, listing
        self._staged = False
        self._pack = ""
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="secretctl-stage", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            # The pack and the index entries carry SHA-1 ids.
            if config_value(self.root, "extensions.objectFormat") in ("", "sha1"):
                # No listing: the batch's trees cannot pay (trees_may_pay), and reading HEAD's here
                # would put a whole-vault ls-tree on the commit's path for nothing.
                self._pack = stage_blobs(self.root, self.blobs, with_trees=self._listing is not None,
                                         listing=self._listing)
                self._staged = True
        except BaseException as exc:  # handed to the caller's thread by wait()
            self._error = exc
        finally:
            if self._listing is not None:
                self._listing.result()  # joined here in every case (a SHA-256 repository never reads it)

    def wait(self) -> bool:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._staged

    def undo(self) -> None:
        with contextlib.suppress(Exception):
            if self.wait():
                git(self.root, "reset", "-q", "--pathspec-from-file=-", "--pathspec-file-nul", check=False,
                    input=b"\0".join(p.encode() for p in self.blobs) + b"\0")
                remove_pack(self.root, self._pack)


def start_staging(root: Path, blobs: Mapping[str, bytes], listing: HeadListing | None = None) -> BlobStager | None:
    """A :class:`BlobStager` when there are enough blobs for a pack to pay off, else None."""
    return BlobStager(root, blobs, listing) if len(blobs) >= PACK_THRESHOLD else None
