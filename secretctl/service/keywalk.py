"""The walk that finds a vault's keys: Vault.key_names and the start-up fast paths of `list`
(service/fastget.py) and `run` (service/fastrun.py) share it, so all list exactly the same names."""

from __future__ import annotations

import os

from secretctl.core import keys as keys_mod


def walkable(root: str, folder: str) -> bool:
    """Whether the full walk from the root would reach ``folder``: a valid key prefix (no
    hidden, `..` or secret-file-named segment), every segment a real directory, no symlink."""
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
    stack = [(start, os.path.join(root, start) if start else root)]
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
