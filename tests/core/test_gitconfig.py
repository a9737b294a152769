"""core/gitconfig: which git config keys run a program, and the listing parser (checked against
git itself, which writes and lists the config)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from secretctl.core import gitconfig
from secretctl.core.gitconfig import ConfigEntry


@pytest.mark.parametrize(("name", "value"), [
    ("core.fsmonitor", "/tmp/x"), ("core.hooksPath", "/tmp/h"), ("core.pager", "less"), ("core.sshCommand", "x"),
    ("diff.external", "x"), ("filter.lfs.clean", "x"), ("filter.A.Weird.Name.process", "x"),
    ("diff.evil.textconv", "x"), ("diff.evil.command", "x"), ("merge.m.driver", "x"), ("credential.helper", "x"),
    ("credential.https://h.example.helper", "x"), ("gpg.program", "x"), ("gpg.ssh.defaultKeyCommand", "x"),
    ("core.editor", "x"), ("sequence.editor", "x"), ("core.askPass", "x"), ("uploadpack.packObjectsHook", "x"),
    ("remote.origin.uploadpack", "x"), ("remote.origin.vcs", "x"), ("include.path", "x"),
    ("includeIf.gitdir:/x/.path", "x"), ("alias.st", "!sh -c x"), ("pager.log", "less -R"),
    ("submodule.s.update", "!x"), ("core.alternateRefsCommand", "x"), ("difftool.d.cmd", "x"),
])
def test_program_running_keys(name: str, value: str) -> None:
    assert gitconfig.runs_program(name, value)


@pytest.mark.parametrize(("name", "value"), [
    ("user.name", "x"), ("core.bare", "false"), ("alias.st", "status -s"), ("pager.log", "false"),
    ("submodule.s.update", "rebase"), ("merge.m.name", "x"), ("diff.age.cachetextconv", "false"),
    ("remote.origin.url", "/x"), ("index.version", "4"),
])
def test_keys_that_run_nothing(name: str, value: str) -> None:
    assert not gitconfig.runs_program(name, value)


def test_our_own_values_are_trusted_exactly() -> None:
    ours = [ConfigEntry("local", k, v) for k, v in gitconfig.OURS.items()]
    assert gitconfig.untrusted_local(ours) == []
    changed = ConfigEntry("local", "merge.secretctl-age.driver", "sh -c evil %A")
    assert gitconfig.untrusted_local([changed]) == [changed]
    # Only the repository's files are refused; global ones are neutralized instead.
    assert gitconfig.untrusted_local([ConfigEntry("global", "core.fsmonitor", "x")]) == []
    assert gitconfig.untrusted_local([ConfigEntry("worktree", "core.fsmonitor", "x")]) != []


def test_overrides_name_every_filter_and_foreign_driver() -> None:
    entries = [ConfigEntry("global", "filter.lfs.clean", "git-lfs clean"),
               ConfigEntry("global", "merge.theirs.driver", "x"),
               ConfigEntry("local", "merge.secretctl-age.driver", gitconfig.OURS["merge.secretctl-age.driver"])]
    args = gitconfig.overrides(entries)
    pairs = [args[i + 1] for i in range(0, len(args), 2)]
    assert all(args[i] == "-c" for i in range(0, len(args), 2))
    for expected in ("core.fsmonitor=false", "core.hooksPath=/dev/null", "filter.lfs.clean=", "filter.lfs.smudge=",
                     "filter.lfs.process=", "merge.theirs.driver=false", "credential.helper=",
                     "protocol.ext.allow=never", "gpg.program=gpg"):
        assert expected in pairs
    assert not any(p.startswith("merge.secretctl-age.driver") for p in pairs)
    kept = gitconfig.overrides([], hooks=True, network=True, signing=True)
    assert "core.hooksPath=/dev/null" not in kept and "credential.helper=" not in kept and "gpg.program=gpg" not in kept


_section = st.from_regex(r"[a-z][a-z0-9-]{0,8}", fullmatch=True)
_sub = st.one_of(st.none(), st.text(st.characters(min_codepoint=33, max_codepoint=126, exclude_characters='"\\'),
                                    min_size=1, max_size=12))
_key = st.from_regex(r"[a-z][a-zA-Z0-9-]{0,8}", fullmatch=True)
_value = st.text(st.characters(min_codepoint=32, max_codepoint=0x2FF, exclude_categories=("Cs",)), max_size=30)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(_section, _sub, _key, _value), min_size=1, max_size=6))
def test_listing_parser_reads_what_git_lists(tmp_path: Path, items: list[tuple[str, str | None, str, str]]) -> None:
    cfg = tmp_path / "cfg"
    cfg.unlink(missing_ok=True)
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": str(cfg)}
    expected = []
    for section, sub, key, value in items:
        name = f"{section}.{sub}.{key}" if sub is not None else f"{section}.{key}"
        subprocess.run(["git", "config", "--file", str(cfg), "--add", name, value], check=True, env=env,
                       capture_output=True)
        expected.append(ConfigEntry("global", f"{section}.{sub}.{key.lower()}" if sub is not None
                                    else f"{section}.{key.lower()}", value))
    raw = subprocess.run(["git", "config", "--list", "--show-scope", "-z"], check=True, env=env, cwd=tmp_path,
                         capture_output=True).stdout
    # git groups entries by section when it adds them: compare as multisets.
    assert sorted(gitconfig.parse_listing(raw), key=repr) == sorted(expected, key=repr)
