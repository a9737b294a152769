"""infra/hardening and the hardened git calls of infra/gitrepo, against real git and real
planted programs (each writes its environment to a file if it ever runs)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from secretctl.errors import TamperedError
from secretctl.infra import gitcommit, gitobjects, gitrepo, hardening


def test_child_env_drops_every_secretctl_secret_and_keeps_locations() -> None:
    env = hardening.child_env({"SECRETCTL_PASSWORD": "pw", "SECRETCTL_AGENT_SOCKET": "/s", "SECRETCTL_VAULT": "/v",
                               "SECRETCTL_CONFIG_DIR": "/c", "SECRETCTL_RUNTIME_DIR": "/r", "PATH": "/bin",
                               "GIT_DIR": "/g"})
    # The runtime folder is a location (the merge driver finds the same unlock agent); the socket
    # variable is `run --with-agent`'s opt-in pointer and stays out.
    assert env == {"SECRETCTL_VAULT": "/v", "SECRETCTL_CONFIG_DIR": "/c", "SECRETCTL_RUNTIME_DIR": "/r",
                   "PATH": "/bin", "GIT_DIR": "/g"}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_DUMPABLE is Linux's")
def test_not_dumpable_in_a_child_process() -> None:
    code = ("from secretctl.infra import hardening as h; a = h.is_dumpable(); ok = h.set_not_dumpable(); "
            "print(a, ok, h.is_dumpable())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True, text=True).stdout.split()
    assert out == ["True", "True", "False"]


def test_processes_that_hold_values_for_long_collect_at_pythons_pace() -> None:
    """Short commands collect rarely (cli/main.py); the MCP server, the warm server and the
    foreground unlock agent hold values for hours and put Python's pace back, so a reference
    cycle holding a value is freed promptly. A fresh interpreter's pace is the one restored."""
    import inspect

    from secretctl.cli import mcpserve, warm
    from secretctl.infra import unlock_agent

    fresh = subprocess.run([sys.executable, "-c", "import gc; print(*gc.get_threshold())"], capture_output=True,
                           check=True, text=True).stdout.split()
    assert tuple(map(int, fresh)) == hardening.PYTHON_GC_THRESHOLD
    code = ("import gc; from secretctl.infra import hardening as h; gc.set_threshold(50000); h.collect_promptly(); "
            "print(*gc.get_threshold())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True, text=True).stdout.split()
    assert tuple(map(int, out)) == hardening.PYTHON_GC_THRESHOLD
    for fn in (mcpserve, warm.main, unlock_agent.serve_foreground):
        assert "hardening.collect_promptly()" in inspect.getsource(fn), fn


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    (home / ".gitconfig").write_text("[user]\n\tname = t\n\temail = t@example.com\n")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(home / ".gitconfig"))
    monkeypatch.setenv("SECRETCTL_PASSWORD", "pw-that-must-not-leak")
    root = tmp_path / "repo"
    gitrepo.init(root)
    (root / "f").write_text("one\n")
    gitcommit.commit_paths(root, ["f"], "first", actor="t")
    return root


def dumper(tmp_path: Path, name: str) -> tuple[Path, Path]:
    out = tmp_path / f"{name}.out"
    script = tmp_path / f"{name}.sh"
    script.write_text(f"#!/bin/sh\nenv >> {out}\ncat\n")
    script.chmod(0o755)
    return script, out


def test_global_program_keys_never_run_in_our_git_calls(repo: Path, tmp_path: Path) -> None:
    script, out = dumper(tmp_path, "g")
    with open(os.environ["GIT_CONFIG_GLOBAL"], "a") as fh:
        fh.write(f"[core]\n\tfsmonitor = {script}\n\tpager = {script}\n"
                 f"[filter \"evil\"]\n\tclean = {script}\n\tsmudge = {script}\n\tprocess = {script}\n")
    (repo / ".git/info/attributes").write_text("* filter=evil\n")
    for hook in ("post-index-change", "reference-transaction", "post-commit", "pre-commit"):
        (repo / ".git/hooks" / hook).write_text(f"#!/bin/sh\nenv >> {out}\n")
        (repo / ".git/hooks" / hook).chmod(0o755)
    (repo / "f").write_text("two\n")
    gitrepo.git(repo, "update-index", "--add", "f")
    gitrepo.git(repo, "status")
    gitrepo.git(repo, "diff", "--cached", "--name-only")
    assert not out.exists()
    # A plain git in the same repo does run them: the plant is real.
    subprocess.run(["git", "status"], cwd=repo, capture_output=True, check=False)
    assert out.exists()


def test_hooks_kept_for_commits_see_no_password(repo: Path, tmp_path: Path) -> None:
    _, out = dumper(tmp_path, "h")
    (repo / ".git/hooks/pre-commit").write_text(f"#!/bin/sh\nenv >> {out}\n")
    (repo / ".git/hooks/pre-commit").chmod(0o755)
    (repo / "f").write_text("three\n")
    gitcommit.commit_paths(repo, ["f"], "second", actor="t")
    assert out.exists()
    assert b"pw-that-must-not-leak" not in out.read_bytes()
    assert b"SECRETCTL_PASSWORD" not in out.read_bytes()


def test_a_planted_local_key_stops_every_call_with_one_line(repo: Path, tmp_path: Path) -> None:
    script, out = dumper(tmp_path, "l")
    subprocess.run(["git", "config", "core.sshCommand", str(script)], cwd=repo, check=True)
    with pytest.raises(TamperedError) as exc:
        gitrepo.git(repo, "status")
    assert "core.sshcommand" in exc.value.message and "\n" not in exc.value.message
    assert "--unset-all core.sshcommand" in (exc.value.hint or "")
    subprocess.run(["git", "config", "--unset", "core.sshCommand"], cwd=repo, check=True)
    gitrepo.git(repo, "status")  # the check notices the config changed back
    assert not out.exists()


def test_a_config_listing_started_ahead_is_used_only_while_the_config_is_unchanged(
        repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`set` lists the config during its imports (gitrepo.prefetch_config). The attack: a
    program key planted after that listing ran, before the first git call. The guard compares
    the config files' stamp and lists again, so the planted key stops the command."""
    listed: list[list[str]] = []
    real = subprocess.run

    def spy(args: list[str], *a: object, **k: object) -> object:
        if list(args[:3]) == ["git", "config", "--list"]:
            listed.append(args)
        return real(args, *a, **k)  # type: ignore[call-overload]  # a pass-through spy

    monkeypatch.setattr(subprocess, "run", spy)
    monkeypatch.setattr(gitrepo, "_PREFETCHED", {})  # none left by other tests' in-process commands
    monkeypatch.setattr(gitrepo, "_GUARDS", {})
    gitrepo.prefetch_config(str(repo))
    gitrepo.verify_config(repo)
    assert listed == []  # the listing started ahead was the answer
    assert gitrepo._PREFETCHED == {}

    monkeypatch.setattr(gitrepo, "_GUARDS", {})
    gitrepo.prefetch_config(str(repo))
    gitrepo._PREFETCHED[os.path.realpath(repo)][2].wait()  # it listed the config before the plant
    script, out = dumper(tmp_path, "p")
    real(["git", "config", "core.fsmonitor", str(script)], cwd=repo, check=True)
    with pytest.raises(TamperedError) as exc:
        gitrepo.git(repo, "status")
    assert "core.fsmonitor" in exc.value.message
    assert len(listed) == 1  # listed again
    assert not out.exists()

    # A listing started ahead for a vault whose checked config is still cached is ended unused.
    real(["git", "config", "--unset", "core.fsmonitor"], cwd=repo, check=True)
    gitrepo.git(repo, "status")
    gitrepo.prefetch_config(str(repo))
    gitrepo.git(repo, "status")
    assert gitrepo._PREFETCHED == {}
    assert len(listed) == 2


def test_committed_many_and_uncommitted(repo: Path) -> None:
    (repo / "f").write_text("changed\n")
    (repo / "new").write_text("x\n")
    assert gitobjects.committed_many(repo, ["f", "missing", "f"]) == {"f": b"one\n", "missing": None}
    assert sorted(gitrepo.uncommitted(repo, ["f", "new"])) == [(" M", "f"), ("??", "new")]
