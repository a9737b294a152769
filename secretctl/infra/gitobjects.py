"""Reading git objects: committed file contents and object sizes, many per `git cat-file` call.
Git runs through :func:`gitrepo.git` only."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from secretctl.core.digest import sha1, sha256
from secretctl.infra.gitrepo import common_dir, git, run


def show_committed(root: Path, relpath: str) -> bytes | None:
    """The committed (HEAD) content of a file, or None if it is not committed."""
    proc = git(root, "show", f"HEAD:{relpath}", check=False)
    return proc.stdout if proc.returncode == 0 else None


def read_objects(root: Path, names: Sequence[str]) -> dict[str, bytes]:
    """Contents of objects by name (an id, or ``<commit>:<path>``) through one `git cat-file
    --batch`; names that do not exist are left out."""
    wanted = [n for n in dict.fromkeys(names) if "\n" not in n]
    if not wanted:
        return {}
    out = git(root, "cat-file", "--batch", input=("\n".join(wanted) + "\n").encode()).stdout
    found: dict[str, bytes] = {}
    pos = 0
    for name in wanted:
        nl = out.index(b"\n", pos)
        header = out[pos:nl].split()
        if len(header) < 3 or header[-1] == b"missing" or header[1] in (b"missing", b"ambiguous"):
            pos = nl + 1
            continue
        size = int(header[2])
        found[name] = out[nl + 1 : nl + 1 + size]
        pos = nl + 1 + size + 1
    return found


def committed_many(root: Path, relpaths: Sequence[str]) -> dict[str, bytes | None]:
    """The committed (HEAD) content of each path (None where HEAD has none), with one
    ``git cat-file --batch`` call whatever their number."""
    wanted = list(dict.fromkeys(relpaths))
    found = read_objects(root, [f"HEAD:{p}" for p in wanted]) if wanted else {}
    return {p: found.get(f"HEAD:{p}") for p in wanted}


def object_sizes(root: Path, oids: Sequence[str]) -> dict[str, int]:
    """Sizes of objects by id (one ``cat-file --batch-check``); missing ones are left out."""
    wanted = [o for o in dict.fromkeys(oids) if o.isalnum()]
    if not wanted:
        return {}
    out = git(root, "cat-file", "--batch-check", input=("\n".join(wanted) + "\n").encode()).stdout
    sizes: dict[str, int] = {}
    for line in out.decode(errors="replace").splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2].isdigit():
            sizes[parts[0]] = int(parts[2])
    return sizes


def tree_of(root: Path, commit: str) -> str:
    """The tree id of ``commit``. A commit made here a moment ago is a loose object, read from
    disk (zlib, its id checked) without starting git; a packed one costs a `git rev-parse`."""
    import zlib

    path = common_dir(root) / "objects" / commit[:2] / commit[2:]
    try:
        with open(path, "rb") as fh:
            raw = zlib.decompress(fh.read())
    except (OSError, ValueError, zlib.error):
        raw = b""
    digest = sha1 if len(commit) == 40 else sha256
    if raw.startswith(b"commit ") and digest(raw).hexdigest() == commit:
        body = raw.split(b"\0", 1)[1]
        if body.startswith(b"tree "):
            return body[5 : body.index(b"\n")].decode()
    return run(root, "rev-parse", "--verify", "--end-of-options", f"{commit}^{{tree}}")
