"""`secretctl mcp-server` starts its all-values build (and on a big vault forks the collector that
reads and decrypts for it) before it imports the MCP SDK: the SDK's import then runs beside the
collector, and the fork happens while the server still runs one thread. Its plain forms start
without Typer, and nothing imports rich (the SDK's logging set-up would). Run in a fresh
interpreter, as the installed command starts; the plain forms read argv as Typer does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from secretctl.cli import mcplaunch
from secretctl.core.secret import Secret
from secretctl.service.vault import Vault

REPO = Path(__file__).resolve().parents[2]

SCENARIO = """
import json, sys, threading
from secretctl.service import allvalues
allvalues.FEED_MIN = 10
seen = []
real = allvalues.start_feed
def spy(vault):
    feed = real(vault)
    seen.append({"sdk": "mcp" in sys.modules, "threads": threading.active_count(), "forked": feed is not None})
    return feed
allvalues.start_feed = spy
from secretctl.core import valueframes
real_decode = valueframes.decode
def decode(frame):
    # The build's own work waits until the server is built (the SDK imported): it holds the GIL.
    sdk = sys.modules.get("secretctl.mcp.server")
    seen.append({"decoded once served": sdk is not None and hasattr(sdk, "build_server")})
    return real_decode(frame)
valueframes.decode = decode
from secretctl.service.session import AgentSession
sessions = []
real_start = AgentSession.start_redactor
def start_redactor(self, **kwargs):
    sessions.append(self)
    return real_start(self, **kwargs)
AgentSession.start_redactor = start_redactor
out = sys.argv.pop()
if sys.argv.pop() == "warm":
    from secretctl.cli import mcplaunch
    mcplaunch.WARM_CHILD = True  # as in a warm server's fork (cli/warm.py), which has the SDK imported
sys.argv = ["secretctl", "mcp-server", "--vault", sys.argv[1]]
from secretctl.cli.main import main
try:
    main()
finally:
    if sessions:  # the client left at once (stdin at its end): let the build finish before looking
        sessions[0].redactor
    seen.append({"typer": "typer" in sys.modules, "rich": "rich" in sys.modules})
    with open(out, "w") as fh:
        json.dump(seen, fh)
"""


def _start(vault: Vault, tmp_path: Path, road: str) -> list[dict[str, object]]:
    vault.import_entries([(f"svc/key{i}", Secret(os.urandom(16).hex().encode())) for i in range(12)])
    out = tmp_path / "seen.json"
    # stdin at its end: the server starts, builds, reads EOF and exits.
    proc = subprocess.run([sys.executable, "-c", SCENARIO, str(vault.root), road, str(out)], stdin=subprocess.DEVNULL,
                          capture_output=True, cwd=REPO, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr.decode()
    return list(json.loads(out.read_text()))


def test_the_build_and_its_collector_start_before_the_sdk_import(inproc: Vault, tmp_path: Path) -> None:
    assert _start(inproc, tmp_path, "cold") == [{"sdk": False, "threads": 1, "forked": True},
                                                {"decoded once served": True}, {"typer": False, "rich": False}]


def test_a_warm_servers_fork_takes_no_collector(inproc: Vault, tmp_path: Path) -> None:
    # It has the SDK imported: a collector would overlap nothing and cost a fork before the answer.
    assert _start(inproc, tmp_path, "warm") == [{"typer": False, "rich": False}]


FORMS = [
    ["mcp"], ["mcp-server"], ["--vault", "a", "mcp"], ["--vault=a", "mcp-server"], ["mcp", "--vault", "b"],
    ["mcp-server", "--vault=b"], ["--vault", "a", "mcp", "--vault", "b"], ["--vault=a", "mcp-server", "--vault=b"],
    # Typer's, each for its own reason (help, an unknown or repeated option, a value like an option)
    ["mcp", "--help"], ["mcp", "--vault"], ["mcp", "--vault", "b", "--vault", "c"], ["mcp", "x"],
    ["--vault", "-a", "mcp"], ["mcp", "--vault="], ["--vault", "a", "--vault", "b", "mcp"], ["mcpx"],
    ["mcp", "--vault", "b", "extra"], ["--version", "mcp"],
]


TYPER = """
import json, sys
from secretctl.cli import app, mcpserve
served = []
mcpserve.serve = served.append
try:
    app.run(json.loads(sys.argv[1]))
except SystemExit as exc:
    print(json.dumps([exc.code, served]))
"""


@pytest.mark.parametrize("argv", [f for f in FORMS if mcplaunch.plain_form(f) is not None], ids=" ".join)
def test_a_plain_form_serves_the_vault_typer_would(argv: list[str]) -> None:
    form = mcplaunch.plain_form(argv)
    assert form is not None
    # A fresh interpreter: the Typer app keeps only the command it ran.
    proc = subprocess.run([sys.executable, "-c", TYPER, json.dumps(argv)], capture_output=True, cwd=REPO, timeout=60,
                          check=True)
    assert json.loads(proc.stdout.decode().splitlines()[-1]) == [0, [form[0]]]


def test_the_plain_forms_are_the_ones_listed() -> None:
    taken = [argv for argv in FORMS if mcplaunch.plain_form(argv) is not None]
    assert taken == FORMS[:8]


HANDOFF = """
import json, os, sys
sys.argv = ["secretctl", "mcp-server", "--vault", sys.argv[1]]
def execve(*args):
    print(json.dumps(sorted(m for m in ("pathlib", "typer", "secretctl.service.vault", "mcp") if m in sys.modules)))
    os._exit(0)
os.execve = execve
from secretctl.cli.main import main
main()
"""


def test_the_password_hand_off_restarts_the_server_before_its_imports(inproc: Vault) -> None:
    # With SECRETCTL_PASSWORD the server restarts itself without it at once: the first process
    # imports neither Typer, the vault, pathlib nor the SDK (only the second one needs them).
    env = {**os.environ, "SECRETCTL_PASSWORD": "not-needed-here", "SECRETCTL_WARM": "0"}
    proc = subprocess.run([sys.executable, "-c", HANDOFF, str(inproc.root)], stdin=subprocess.DEVNULL, env=env,
                          capture_output=True, cwd=REPO, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr.decode()
    assert json.loads(proc.stdout.decode().splitlines()[-1]) == []
