"""The walk that finds a vault's keys: Vault.key_names and `list`'s start-up fast path
(service/fastget.py) share it, so both list exactly the same names."""

from __future__ import annotations

import os

from secretctl.core import keys as keys_mod


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
