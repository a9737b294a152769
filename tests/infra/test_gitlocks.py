"""git's lock files and temp objects: removed when their owner is dead, kept while a git runs
(real repositories, real git processes)."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from secretctl.infra import gitcommit, gitlocks, gitrepo


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True,
                   env={**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
                        "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"})


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    _git(root, "init", "-q", "-b", "main")
    (root / "a").write_text("a")
    _git(root, "add", "a")
    _git(root, "commit", "-qm", "one")
    return root


@pytest.fixture
def live_git(repo: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A git process working in the repository (it waits for stdin)."""
    proc = subprocess.Popen(["git", "hash-object", "--stdin"], cwd=repo, stdin=subprocess.PIPE,
                            stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while not gitlocks.git_processes([repo]):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    yield proc
    proc.kill()
    proc.wait()


def _old(path: Path) -> Path:
    path.write_bytes(b"")
    os.utime(path, (time.time() - 5, time.time() - 5))
    return path


def test_a_dead_owners_locks_are_removed(repo: Path) -> None:
    gitdir = repo / ".git"
    index, ref = _old(gitdir / "index.lock"), _old(gitdir / "refs" / "heads" / "main.lock")
    assert sorted(gitlocks.clear_stale(repo, wait=0)) == [".git/index.lock", ".git/refs/heads/main.lock"]
    assert not index.exists() and not ref.exists()
    _git(repo, "commit", "-q", "--allow-empty", "-m", "git works again")


def test_a_fresh_lock_is_removed_only_after_the_grace_period(repo: Path) -> None:
    lock = repo / ".git" / "index.lock"
    lock.write_bytes(b"")
    start = time.monotonic()
    assert gitlocks.clear_stale(repo, wait=0) == [".git/index.lock"]
    assert time.monotonic() - start >= gitlocks.GRACE * 0.9


def test_a_live_gits_lock_is_kept(repo: Path, live_git: subprocess.Popen[bytes]) -> None:
    lock = _old(repo / ".git" / "index.lock")
    assert gitlocks.git_processes([repo]) == [live_git.pid]
    assert gitlocks.clear_stale(repo, wait=0.2) == []
    assert lock.exists()


def test_a_git_elsewhere_does_not_count(repo: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    proc = subprocess.Popen(["git", "hash-object", "--stdin"], cwd=other, stdin=subprocess.PIPE,
                            stdout=subprocess.DEVNULL)
    try:
        _old(repo / ".git" / "index.lock")
        assert gitlocks.clear_stale(repo, wait=0) == [".git/index.lock"]
    finally:
        proc.kill()
        proc.wait()


def test_git_temp_objects_go_only_when_no_git_runs(repo: Path) -> None:
    objects = repo / ".git" / "objects"
    leftovers = [objects / "ab" / "tmp_obj_x1", objects / "pack" / "tmp_pack_x2"]
    for p in leftovers:
        p.parent.mkdir(exist_ok=True)
        p.write_bytes(b"half an object")
    keep = objects / "pack" / "not-a-temp"
    keep.write_bytes(b"x")
    proc = subprocess.Popen(["git", "hash-object", "--stdin"], cwd=repo, stdin=subprocess.PIPE,
                            stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not gitlocks.git_processes([repo]):
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert gitlocks.clear_git_temps(repo) == 0
    finally:
        proc.kill()
        proc.wait()
    assert gitlocks.clear_git_temps(repo) == 2
    assert not any(p.exists() for p in leftovers) and keep.exists()


def test_the_index_of_exactly_the_named_paths_goes_back_to_head(repo: Path) -> None:
    (repo / "b").write_text("b")
    (repo / "keep").write_text("mine")
    _git(repo, "add", "b", "keep")
    _git(repo, "commit", "-qm", "two")
    (repo / "a").write_text("changed")  # modified, staged
    _git(repo, "add", "a")
    (repo / "b").unlink()  # deleted
    (repo / "c").write_text("new")  # new, staged
    _git(repo, "add", "c")
    (repo / "keep").write_text("not named: left alone")
    entries = gitcommit.head_entries(repo, ["a", "b", "c"])
    gitcommit.reset_index(repo, ["a", "b", "c"], entries)
    assert sorted(entries) == ["a", "b"] and all(mode == "100644" for mode, _ in entries.values())
    staged = subprocess.run(["git", "diff", "--cached", "--name-only"], cwd=repo, capture_output=True, text=True)
    assert staged.stdout == ""  # c is no longer staged, a is HEAD's again
    assert (repo / "a").read_text() == "changed"  # the work tree is the caller's
    gitcommit.checkout_paths(repo, ["a", "b"])
    assert (repo / "a").read_text() == "a" and (repo / "b").read_text() == "b"
    (repo / "c").unlink()
    status = subprocess.run(["git", "status", "--porcelain"], cwd=repo, capture_output=True, text=True).stdout
    assert status == " M keep\n"


def test_head_is_read_in_a_worktree(repo: Path, tmp_path: Path) -> None:
    wt = tmp_path / "wt"
    _git(repo, "worktree", "add", "-q", str(wt))
    assert gitrepo.git_dir(wt).resolve() == (repo / ".git" / "worktrees" / "wt").resolve()
    assert gitrepo.common_dir(wt).resolve() == (repo / ".git").resolve()
    assert gitrepo.head(wt) == gitrepo.head(repo)  # HEAD in the worktree's git dir, the branch in the common one
