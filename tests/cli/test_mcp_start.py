"""`secretctl mcp-server` starts its all-values build (and on a big vault forks the collector that
reads and decrypts for it) before it imports the MCP SDK: the SDK's import then runs beside the
collector, and the fork happens while the server still runs one thread. Run in a fresh
interpreter, as the installed command starts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

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
out = sys.argv.pop()
sys.argv = ["secretctl", "mcp-server", "--vault", sys.argv[1]]
from secretctl.cli.main import main
try:
    main()
finally:
    with open(out, "w") as fh:
        json.dump(seen, fh)
"""


def test_the_build_and_its_collector_start_before_the_sdk_import(inproc: Vault, tmp_path: Path) -> None:
    inproc.import_entries([(f"svc/key{i}", Secret(os.urandom(16).hex().encode())) for i in range(12)])
    out = tmp_path / "seen.json"
    # stdin at its end: the server starts, builds, reads EOF and exits.
    proc = subprocess.run([sys.executable, "-c", SCENARIO, str(inproc.root), str(out)], stdin=subprocess.DEVNULL,
                          capture_output=True, cwd=REPO, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr.decode()
    assert json.loads(out.read_text()) == [{"sdk": False, "threads": 1, "forked": True}]
