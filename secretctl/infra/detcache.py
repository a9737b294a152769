"""The compiled credential-detector set, kept between runs in the data directory.

It holds public patterns only (detect-secrets' and ours, and the decode candidates): never a
value, nor anything derived from one. The redactor's database of vault values is never written
anywhere: it is plaintext-equivalent and lives in memory only.
"""

from __future__ import annotations

import os
import sys

from secretctl.infra import settings

TYPE_CHECKING = False
if TYPE_CHECKING:  # for mypy only: pathlib costs `run`'s start-up ~5 ms of imports
    from collections.abc import Sequence
    from os import PathLike

_LIMIT = 16 * 1024 * 1024


class FileShapesStore:
    def __init__(self, folder: str | PathLike[str]) -> None:
        self.folder = os.fspath(folder)

    def load(self, key: str) -> bytes | None:
        path = os.path.join(self.folder, f"detectors-{key}.hs")
        try:
            with open(path, "rb") as fh:
                data = fh.read(_LIMIT + 1)
        except OSError:
            return None
        return data if len(data) <= _LIMIT else None

    def versions(self, dists: Sequence[str]) -> list[str]:
        """Each distribution's version, read from its ``<name>-<version>.dist-info`` folder on
        sys.path (first found wins, as importlib.metadata's). importlib.metadata only when that
        finds none (an egg, an odd layout): its import alone cost every `run` about 40 ms CPU."""
        found = {d: "" for d in dists}
        wanted = {d.lower().replace("-", "_") + "-": d for d in dists}
        for entry in sys.path:
            try:
                names = os.listdir(entry or ".")
            except OSError:
                continue
            for name in names:
                if not name.endswith(".dist-info"):
                    continue
                for prefix, dist in wanted.items():
                    if not found[dist] and name.lower().startswith(prefix):
                        found[dist] = name[len(prefix):-len(".dist-info")]
            if all(found.values()):
                break
        for dist in [d for d, v in found.items() if not v]:
            from importlib import metadata

            try:
                found[dist] = metadata.version(dist)
            except metadata.PackageNotFoundError:
                found[dist] = "-"
        return [found[d] for d in dists]

    def save(self, key: str, blob: bytes) -> None:
        from secretctl.errors import SecretctlError
        from secretctl.infra import store

        try:
            from pathlib import Path

            os.makedirs(self.folder, exist_ok=True)
            store.atomic_write(Path(self.folder, f"detectors-{key}.hs"), blob)
        except (OSError, SecretctlError):
            pass  # a cache: the next run compiles again


def install() -> None:
    """Let the redactor load its detector set from the cache (and fill it on first use)."""
    from secretctl.core.redact.shapes import use_shapes_store

    use_shapes_store(FileShapesStore(os.path.join(settings.data_dir_str(), "cache")))
