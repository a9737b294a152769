"""The vault repository's own git config (textconv, merge drivers, index format): in place from the
first git process of `init` and `clone` (a template), filled in for a repository made by hand, and
never in the way of a person's own git template."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from secretctl.infra import gitrepo
from tests.conftest import Member, git, member_environ

EXPECTED = {
    "diff.age.textconv": "secretctl textconv",
    "diff.age.cachetextconv": "false",
    "merge.secretctl-age.driver": "secretctl merge-driver age %O %A %B %P",
    "merge.secretctl-age.name": "secretctl: merge secrets by plaintext",
    "merge.secretctl-meta.driver": "secretctl merge-driver meta %O %A %B %P",
    "merge.secretctl-meta.name": "secretctl: merge metadata field by field",
    "index.version": "4",
    "core.splitIndex": "true",
}


def local_config(root: Path, env: dict[str, str]) -> dict[str, list[str]]:
    """What git itself reads: every value of each key, from the repository's own file."""
    out = {}
    for name in EXPECTED:
        proc = subprocess.run(["git", "config", "--local", "--get-all", name], cwd=root, env=env,
                              capture_output=True, text=True)
        out[name] = proc.stdout.splitlines()
    return out


@pytest.fixture
def gits(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[list[str]]]:
    """Every git command line started in this process (subprocess.run starts a Popen too)."""
    seen: list[list[str]] = []

    class Counting(subprocess.Popen):  # type: ignore[type-arg] - it passes every argument on
        def __init__(self, args: Any, *a: Any, **k: Any) -> None:
            argv = list(args) if isinstance(args, (list, tuple)) else [args]
            if argv[:1] == ["git"]:
                at = 1
                while argv[at:at + 1] == ["-c"]:  # the hardening overrides
                    at += 2
                seen.append(argv[at:])
            super().__init__(args, *a, **k)

    monkeypatch.setattr(subprocess, "Popen", Counting)
    yield seen


def test_init_makes_a_configured_repository_in_one_git_process(alice: Member, tmp_path: Path,
                                                               gits: list[list[str]]) -> None:
    root = tmp_path / "v"
    with member_environ(alice):
        gitrepo.init(root)
        gitrepo.configure_repo(root)
    # A config listing before, git init, a listing of the new config: 20 processes before.
    assert [g[0] for g in gits] == ["config", "init", "config"], gits
    assert local_config(root, alice.env) == {k: [v] for k, v in EXPECTED.items()}
    assert (root / ".git" / "hooks").is_dir() and not any((root / ".git" / "hooks").iterdir())  # no samples
    (root / "a").write_text("x")
    git(root, "add", "a", env=alice.env)
    index = (root / ".git" / "index").read_bytes()
    assert index[4:8] == (4).to_bytes(4, "big") and b"link" in index  # format 4, split
    assert list((root / ".git").glob("sharedindex.*"))


def test_a_repository_made_by_hand_gets_the_config_once(alice: Member, tmp_path: Path,
                                                        gits: list[list[str]]) -> None:
    root = tmp_path / "v"
    git(tmp_path, "init", "-q", "v", env=alice.env)  # as a passage store is
    with member_environ(alice):
        gitrepo.configure_repo(root)
        first = len(gits)
        gitrepo.configure_repo(root)
    assert first > len(EXPECTED) and len(gits) == first  # the second time: nothing to set, no git at all
    assert local_config(root, alice.env) == {k: [v] for k, v in EXPECTED.items()}


def test_a_key_changed_by_hand_is_set_back_without_a_second_value(alice: Member, tmp_path: Path) -> None:
    root = tmp_path / "v"
    with member_environ(alice):
        gitrepo.init(root)
        git(root, "config", "--local", "merge.secretctl-age.name", "mine", env=alice.env)
        gitrepo.configure_repo(root)
    assert local_config(root, alice.env)["merge.secretctl-age.name"] == [EXPECTED["merge.secretctl-age.name"]]


def test_a_persons_own_template_wins_and_ours_is_added(alice: Member, tmp_path: Path) -> None:
    template = tmp_path / "tpl"
    (template / "hooks").mkdir(parents=True)
    (template / "hooks" / "commit-msg").write_text("#!/bin/sh\nexit 0\n")
    with open(alice.env["GIT_CONFIG_GLOBAL"], "a") as fh:
        fh.write(f"[init]\n\ttemplateDir = {template}\n")
    root = tmp_path / "v"
    with member_environ(alice):
        gitrepo.init(root)
        gitrepo.configure_repo(root)
    assert (root / ".git" / "hooks" / "commit-msg").exists()
    assert local_config(root, alice.env) == {k: [v] for k, v in EXPECTED.items()}


def test_a_clone_carries_the_config(alice: Member, tmp_path: Path) -> None:
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", str(origin), env=alice.env)
    dest = tmp_path / "clone"
    with member_environ(alice):
        assert gitrepo.clone(str(origin), dest).returncode == 0
    assert local_config(dest, alice.env) == {k: [v] for k, v in EXPECTED.items()}
