"""A launcher confined otherwise than the warm server (here: no_new_privs, as `systemd-run -p
NoNewPrivileges=yes` or a container sets it) gets a server started cold, in its own confinement,
not a fork of the warm process (tests/infra/test_confinement.py covers namespaces and limits)."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from mcp.client.stdio import StdioServerParameters

from tests.conftest import Member
from tests.e2e.test_warm_mcp import RUN, _warm_in, params, session, warm_status

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux") or shutil.which("setpriv") is None,
                                reason="needs Linux and setpriv")


@pytest.fixture
def warm(tmp_path: Path) -> Iterator[Member]:
    yield from _warm_in(tmp_path)


def test_a_launcher_with_no_new_privs_is_served_cold(warm: Member) -> None:
    plain = params(warm)
    confined = StdioServerParameters(command="setpriv", args=["--no-new-privs", plain.command, *plain.args],
                                     env=plain.env, cwd=plain.cwd)
    tools, results, seen = session(confined, [RUN], during=lambda: warm_status(warm))
    assert seen is not None and seen["serving"] == 0, seen  # not a fork of the warm process
    assert tools.tools and results[0].structured_content["stdout"] == "[REDACTED:app/token]\n"
    _, _, seen = session(plain, [RUN], during=lambda: warm_status(warm))
    assert seen is not None and seen["serving"] == 1, seen  # the same client unconfined: warm
