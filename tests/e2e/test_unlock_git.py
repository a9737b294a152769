"""git's own calls into secretctl (textconv for `git diff`/`log -p`, the merge driver) decrypt
through the unlock agent: no password in the environment, no prompt."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.conftest import Member, git
from tests.e2e.test_unlock import VALUE, carol, stop_agent, unlock  # noqa: F401 - carol is a fixture


def log_p(m: Member, root: Path) -> bytes:
    return subprocess.run(["git", "log", "-p", "-1", "--", "app/token.age"], cwd=root, capture_output=True,
                          env=m.env, check=True, timeout=120).stdout


def test_textconv_shows_plaintext_through_the_agent(carol: Member) -> None:  # noqa: F811
    root = Path(carol.env["SECRETCTL_VAULT"])
    assert unlock(carol).returncode == 0
    carol.run("set", "app/token", input=b"second-Value-2222")
    diff = log_p(carol, root)
    assert b"+second-Value-2222" in diff
    assert b"-" + VALUE in diff
    stop_agent(carol)
    locked = log_p(carol, root)  # no agent, no password, no terminal: no plaintext, and no hang
    assert b"second-Value-2222" not in locked
    assert VALUE not in locked


def test_merge_driver_decrypts_both_sides_through_the_agent(carol: Member) -> None:  # noqa: F811
    root = Path(carol.env["SECRETCTL_VAULT"])
    assert unlock(carol).returncode == 0
    git(root, "checkout", "-q", "-b", "side", env=carol.env)
    carol.run("set", "app/token", input=b"same-New-Value-77")
    git(root, "checkout", "-q", "main", env=carol.env)
    carol.run("set", "app/token", input=b"same-New-Value-77")
    # Two different ciphertexts of one plaintext: only a driver that can decrypt both merges them.
    out = subprocess.run(["git", "merge", "-q", "--no-edit", "side"], cwd=root, capture_output=True,
                         env=carol.env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert carol.run("get", "app/token").stdout == b"same-New-Value-77"
    assert git(root, "status", "--porcelain") == ""
