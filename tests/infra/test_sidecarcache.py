"""The sidecar cache (secretctl.infra.sidecarcache): reused only for unchanged files, never
trusted over them, kept in the git directory (also of a worktree)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from secretctl.infra import sidecarcache
from secretctl.infra.sidecarcache import SidecarCache


class Renders:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def __call__(self, data: bytes, rel: str) -> str:
        self.calls.append(rel)
        return data.decode().strip().upper()


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(sidecarcache, "RACY_SECONDS", 0.0)  # ctime is "now" for every file a test writes
    subprocess.run(["git", "init", "-q", str(tmp_path / "v")], check=True)
    root = tmp_path / "v"
    (root / "a").mkdir()
    (root / "a" / "x.meta.yaml").write_text("one\n")
    (root / "a" / "y.meta.yaml").write_text("two\n")
    return root


def _list(root: Path, render: Renders, names: list[str], *, complete: bool = True) -> list[str | None]:
    cache = SidecarCache(root, render, version="t1")
    out = [cache.view(n) for n in names]
    cache.save(complete=complete)
    return out


def test_unchanged_sidecars_are_not_read_again(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    r = Renders()
    assert _list(repo, r, ["a/x.meta.yaml", "a/y.meta.yaml"]) == ["ONE", "TWO"]
    assert len(r.calls) == 2
    assert (repo / ".git" / "secretctl" / "sidecar-cache").is_file()
    reads: list[str] = []
    real_read = SidecarCache._read
    monkeypatch.setattr(SidecarCache, "_read",
                        staticmethod(lambda full, rel: reads.append(rel) or real_read(full, rel)))
    assert _list(repo, r, ["a/x.meta.yaml", "a/y.meta.yaml"]) == ["ONE", "TWO"]
    assert len(r.calls) == 2
    assert reads == []  # the signatures matched: neither file was opened
    (repo / "a" / "y.meta.yaml").write_text("TWO\n")
    assert _list(repo, r, ["a/x.meta.yaml", "a/y.meta.yaml"]) == ["ONE", "TWO"]
    assert reads == ["a/y.meta.yaml"]


def test_a_file_edited_in_place_is_read_again_even_with_its_old_size_and_mtime(repo: Path) -> None:
    r = Renders()
    _list(repo, r, ["a/x.meta.yaml"])
    path = repo / "a" / "x.meta.yaml"
    st = path.stat()
    with open(path, "r+b") as fh:  # in place: same inode, same size
        fh.write(b"ONE")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # mtime put back; ctime cannot be
    assert _list(repo, r, ["a/x.meta.yaml"]) == ["ONE"]  # "ONE\n" rendered: read from the file
    assert r.calls == ["a/x.meta.yaml", "a/x.meta.yaml"]


def test_same_content_elsewhere_is_not_rendered_twice(repo: Path) -> None:
    r = Renders()
    _list(repo, r, ["a/x.meta.yaml"])
    (repo / "a" / "z.meta.yaml").write_text("one\n")  # new and untracked, same bytes as x
    assert _list(repo, r, ["a/x.meta.yaml", "a/z.meta.yaml"]) == ["ONE", "ONE"]
    assert r.calls == ["a/x.meta.yaml"]


def test_missing_sidecars_and_a_damaged_cache(repo: Path) -> None:
    r = Renders()
    _list(repo, r, ["a/x.meta.yaml", "a/y.meta.yaml"])
    (repo / "a" / "y.meta.yaml").unlink()
    assert _list(repo, r, ["a/x.meta.yaml", "a/y.meta.yaml"]) == ["ONE", None]
    cache_file = repo / ".git" / "secretctl" / "sidecar-cache"
    assert "y.meta.yaml" not in cache_file.read_text()
    cache_file.write_bytes(b"\xff\xfe garbage")
    assert _list(repo, r, ["a/x.meta.yaml"]) == ["ONE"]
    cache_file.write_text("secretctl-sidecar-cache 1 t0\nB\tdeadbeef\tSTALE\n")  # an older rendering
    assert _list(repo, r, ["a/x.meta.yaml"]) == ["ONE"]


def test_a_partial_listing_keeps_the_other_entries(repo: Path) -> None:
    r = Renders()
    _list(repo, r, ["a/x.meta.yaml", "a/y.meta.yaml"])
    _list(repo, r, ["a/x.meta.yaml"], complete=False)
    _list(repo, r, ["a/x.meta.yaml", "a/y.meta.yaml"])
    assert len(r.calls) == 2


def test_racy_signatures_are_not_recorded(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sidecarcache, "RACY_SECONDS", 3600.0)
    r = Renders()
    _list(repo, r, ["a/x.meta.yaml"])
    text = (repo / ".git" / "secretctl" / "sidecar-cache").read_text()
    assert "\nP\t" not in text  # the file changed too recently for its signature to prove anything


def test_a_worktree_keeps_its_cache_in_its_own_git_dir(repo: Path, tmp_path: Path) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@e", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@e"}
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    subprocess.run(["git", "commit", "-qm", "x"], cwd=repo, check=True, env=env)
    wt = tmp_path / "wt"
    subprocess.run(["git", "worktree", "add", "-q", str(wt)], cwd=repo, check=True)
    assert (wt / ".git").is_file()
    r = Renders()
    assert _list(wt, r, ["a/x.meta.yaml"]) == ["ONE"]
    gitdir = sidecarcache.git_dir(wt)
    assert (gitdir / "secretctl" / "sidecar-cache").is_file()
    assert gitdir.resolve() == Path(subprocess.run(["git", "rev-parse", "--absolute-git-dir"], cwd=wt, check=True,
                                                   capture_output=True, text=True).stdout.strip()).resolve()
