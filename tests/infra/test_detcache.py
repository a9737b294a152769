"""The detector-set cache: its key follows the installed detect-secrets and hyperscan, read
without importlib.metadata (whose import cost every `run` about 40 ms of CPU)."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata
from pathlib import Path

from secretctl.infra.detcache import FileShapesStore


def test_versions_are_what_importlib_metadata_says(tmp_path: Path) -> None:
    store = FileShapesStore(tmp_path)
    dists = ["detect-secrets", "hyperscan", "secretctl-no-such-dist"]
    assert store.versions(dists) == [metadata.version("detect-secrets"), metadata.version("hyperscan"), "-"]


def test_an_upgrade_changes_the_key(tmp_path: Path) -> None:
    """A dist-info folder earlier on sys.path (a newer install) wins, as for importlib.metadata."""
    (tmp_path / "hyperscan-99.1.dist-info").mkdir()
    sys.path.insert(0, str(tmp_path))
    try:
        assert FileShapesStore(tmp_path).versions(["hyperscan"]) == ["99.1"]
    finally:
        sys.path.remove(str(tmp_path))


def test_loading_the_cached_set_imports_no_importlib_metadata(tmp_path: Path) -> None:
    probe = (
        "import sys\n"
        "from pathlib import Path\n"
        "from secretctl.core.redact import shapes\n"
        "from secretctl.infra.detcache import FileShapesStore\n"
        f"shapes.use_shapes_store(FileShapesStore(Path({str(tmp_path)!r})))\n"
        "shapes.Shapes.get()\n"
        "print('importlib.metadata' in sys.modules)\n"
    )
    first = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    assert len(list(tmp_path.glob("detectors-*.hs"))) == 1  # the first process compiled and kept it
    again = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == "False"
