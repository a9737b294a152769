"""Files shipped inside the package (``secretctl/data/``), read through importlib.resources.

The one source of truth for what a command copies from the install: it works the same from a
source checkout, an editable install, a wheel, a zipapp or any other loader, because nothing
here assumes the package is a folder on disk.
"""

from __future__ import annotations

from collections.abc import Iterator

from secretctl.errors import NotFoundError

TYPE_CHECKING = False  # typing costs every start ~3 ms to import: for mypy only

if TYPE_CHECKING:
    # Only a type here: importing importlib.resources at module level pulls in tempfile, shutil,
    # random, bz2 and lzma (17 modules) on every `get`, which never reads the package's data.
    from importlib.resources.abc import Traversable

VAULT_TEMPLATE = "vault-template"
_MAX_FILES = 256  # a template is a handful of files: bound the walk against a broken install


def _data() -> Traversable:
    from importlib.resources import files

    return files("secretctl").joinpath("data")


def _walk(node: Traversable, prefix: str) -> Iterator[tuple[str, bytes]]:
    for child in sorted(node.iterdir(), key=lambda c: c.name):
        rel = f"{prefix}{child.name}"
        if child.is_dir():
            yield from _walk(child, rel + "/")
        elif child.is_file():
            yield rel, child.read_bytes()


def vault_template() -> list[tuple[str, bytes]]:
    """Every file of the vault template: (path relative to the vault, exact bytes), sorted."""
    root = _data().joinpath(VAULT_TEMPLATE)
    out: list[tuple[str, bytes]] = []
    if root.is_dir():
        for item in _walk(root, ""):
            out.append(item)
            if len(out) > _MAX_FILES:
                break
    if not out or len(out) > _MAX_FILES:
        raise NotFoundError("the vault template is missing from this secretctl install",
                            hint="reinstall secretctl (pip install --force-reinstall secretctl)")
    return out
