"""The exec-capable list (core/programs.py): its shape, and the names the issue calls out."""

from __future__ import annotations

import pytest

from secretctl.core import programs


@pytest.mark.parametrize("name", [
    "sh", "bash", "dash", "zsh", "busybox", "python3", "python3.11", "pypy3", "perl", "perl5.36.0", "ruby", "node",
    "node20", "php8.2", "lua5.4", "tclsh8.6", "awk", "gawk", "sed", "jq", "find", "xargs", "vim", "ed", "less",
    "tar", "git", "env", "nice", "taskset", "setarch", "prlimit", "timeout", "stdbuf", "ssh", "make", "gdb",
    "ld-linux-x86-64.so.2",
])
def test_exec_capable(name: str) -> None:
    assert programs.is_exec_capable(name)


@pytest.mark.parametrize("name", ["cat", "ls", "echo", "true", "base64", "curl", "aws", "kubectl", "grep", "sort",
                                  "python-config", "sedx", "gitk2"])
def test_not_exec_capable(name: str) -> None:
    assert not programs.is_exec_capable(name)


def test_same_kind() -> None:
    assert programs.same_kind("sh", "dash")
    assert programs.same_kind("python3", "python3.11")
    assert programs.same_kind("awk", "mawk")
    assert not programs.same_kind("sed", "awk")
    assert not programs.same_kind("nice", "timeout")  # each wrapper is its own kind
    assert not programs.same_kind("aws", "python3")


def test_one_kind_per_name_and_env_printers_blocked() -> None:
    seen: dict[str, str] = {}
    for name, kind in programs.KIND_OF.items():
        assert name not in seen, name
        seen[name] = kind
        assert name == name.strip() and "/" not in name
    assert {"env", "printenv"} <= programs.ENV_PRINTERS
