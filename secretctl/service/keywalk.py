"""The walk that finds a vault's keys: Vault.key_names and the start-up fast paths of `list`
(service/fastget.py) and `run` (service/fastrun.py) share it, so all list exactly the same names.

`list` of names can also walk through a cache of each folder's listing (:func:`walk_cached`),
checked against the folder itself on every call, as git's untracked cache is: a folder's
entry is used only while the folder's device, inode and modification time are the ones it was
read at. Adding, removing or renaming an entry changes its folder's modification time, so only
changed folders are read again; on a 10,000-secret vault a listing then stats 101 folders
instead of reading 20,000 names (benchmarks/bench_core.py). As in git, a folder whose time is
not older than the cache file's own is "racy" (it may have changed again within the same clock
tick, which leaves its time as it was) and is read again; this holds for any timestamp
granularity, since both times come from the same file system. Honest limit: a folder whose
time is set back by hand (``touch -d``) to the cached one after a change keeps its old names
until it changes again.
"""

from __future__ import annotations

import os

CACHE_HEADER = "secretctl key-name cache 1"


def _scan(root: str, folder: str) -> tuple[list[str], list[str]]:
    """The keys stored directly in ``folder`` and its subfolders that can hold keys, each sorted
    (so the walk's final sort finds long sorted runs)."""
    # Here, not at the top: core.keys imports and compiles regular expressions (~5 ms), which a
    # listing whose folders are all unchanged never needs.
    from secretctl.core import keys as keys_mod

    path = os.path.join(root, folder) if folder else root
    names = os.listdir(path)
    keys = keys_mod.keys_in_folder(folder, names)
    subs = []
    # Only names that can be key folders cost a stat: not hidden, and no segment may end
    # in .age or .meta.yaml (a folder named x.age would be listed as a key and fail to read).
    for name in names:
        if name[0] != "." and not name.endswith((".age", ".meta.yaml")):
            sub = f"{folder}/{name}" if folder else name
            full = os.path.join(path, name)
            if os.path.isdir(full) and not os.path.islink(full) and keys_mod.folder_ok(sub):
                subs.append(sub)
    keys.sort()
    subs.sort(reverse=True)  # popped from the walk's stack in sorted order
    return keys, subs


def walkable(root: str, folder: str) -> bool:
    """Whether the full walk from the root would reach ``folder``: a valid key prefix (no
    hidden, `..` or secret-file-named segment), every segment a real directory, no symlink."""
    from secretctl.core import keys as keys_mod  # lazily: see _scan

    if not keys_mod.folder_ok(folder):
        return False
    path = root
    for seg in folder.split("/"):
        path = os.path.join(path, seg)
        if os.path.islink(path) or not os.path.isdir(path):
            return False
    return True


def keys_under(root: str, folder: str) -> list[str]:
    """The keys inside ``folder`` (every key for ''), found by walking that folder alone; nothing
    for a folder the full walk would not enter."""
    if not folder:
        return walk(root, "")
    return walk(root, folder) if walkable(root, folder) else []


def walk(root: str, start: str) -> list[str]:
    """Every key under folder ``start`` ('' for all) of the vault at ``root``, sorted."""
    found: list[str] = []
    stack = [start]
    while stack:
        folder = stack.pop()
        try:
            keys, subs = _scan(root, folder)
        except OSError:
            continue
        found += keys
        stack += subs
    found.sort()
    return found


def count_upto(root: str, limit: int) -> int:
    """How many keys the vault at ``root`` holds, counted only until there are more than
    ``limit``: the pre-commit hook's "small enough to decrypt whole" reads a tenth of a
    10,000-secret vault's folders instead of all of them."""
    count = 0
    stack = [""]
    while stack and count <= limit:
        try:
            keys, subs = _scan(root, stack.pop())
        except OSError:
            continue
        count += len(keys)
        stack += subs
    return count


# One cached folder: (device, inode, mtime in ns, keys, subfolders).
Entry = tuple[int, int, int, list[str], list[str]]


def _load(cache: str) -> tuple[dict[str, Entry], int]:
    """The cache file's entries and its modification time; nothing when it is missing,
    unreadable or not ours."""
    try:
        with open(cache, encoding="utf-8") as fh:
            written = os.fstat(fh.fileno()).st_mtime_ns
            lines = fh.read().split("\n")
    except (OSError, UnicodeDecodeError):
        return {}, 0
    entries: dict[str, Entry] = {}
    if not lines or lines[0] != CACHE_HEADER:
        return {}, 0
    i = 1
    try:
        while i < len(lines) and lines[i]:
            folder, dev, ino, mtime, nkeys, nsubs = lines[i].split("\t")
            k, s = int(nkeys), int(nsubs)
            start = i + 1
            if k < 0 or s < 0 or start + k + s > len(lines):
                return {}, 0  # cut short: never trust a partial listing
            entries[folder] = (int(dev), int(ino), int(mtime), lines[start:start + k],
                               lines[start + k:start + k + s])
            i = start + k + s
    except ValueError:
        return {}, 0  # damaged: walk as if there were none, and write it anew
    return entries, written


def _save(cache: str, entries: dict[str, Entry]) -> None:
    parts = [CACHE_HEADER]
    for folder, (dev, ino, mtime, keys, subs) in entries.items():
        parts.append(f"{folder}\t{dev}\t{ino}\t{mtime}\t{len(keys)}\t{len(subs)}")
        parts += keys
        parts += subs
    tmp = f"{cache}.{os.getpid()}.tmp"
    try:
        os.makedirs(os.path.dirname(cache), exist_ok=True)
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write("\n".join(parts) + "\n")
        os.replace(tmp, cache)  # whole or not at all: a reader never sees half a file
    except OSError:
        # Only a speed-up: a full disk or a read-only .git costs the next listing a full walk.
        try:  # noqa: SIM105 - contextlib is an import `list`'s start-up path does without
            os.unlink(tmp)
        except OSError:
            pass


def walk_cached(root: str, cache: str) -> list[str]:
    """What ``walk(root, "")`` returns, reading only the folders that changed since ``cache``
    (a file under the vault's .git) was written; the cache is brought up to date."""
    old, written = _load(cache)
    fresh: dict[str, Entry] = {}
    found: list[str] = []
    stack = [""]
    dirty = False
    while stack:
        folder = stack.pop()
        try:
            st = os.stat(os.path.join(root, folder) if folder else root)
            entry = old.get(folder)
            if (entry is not None and entry[:3] == (st.st_dev, st.st_ino, st.st_mtime_ns)
                    and st.st_mtime_ns < written):
                keys, subs = entry[3], entry[4]
            else:
                keys, subs = _scan(root, folder)
                dirty = True
        except OSError:
            dirty = True
            continue
        fresh[folder] = (st.st_dev, st.st_ino, st.st_mtime_ns, keys, subs)
        found += keys
        stack += subs
    if dirty or fresh.keys() != old.keys():
        _save(cache, fresh)
    found.sort()
    return found
