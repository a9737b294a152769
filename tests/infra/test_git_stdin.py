"""git never reads our stdin: an MCP server's stdin is the client's protocol stream, and a git
child holding it could read (or wait on) what the client sends. Without input, git's stdin is
/dev/null."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time
from pathlib import Path

PROBE = """
import sys
from pathlib import Path
from secretctl.infra import gitrepo
root = Path(sys.argv[1])
print(gitrepo.git(root, "hash-object", "--stdin").stdout.decode().strip())
print(len(gitrepo.config_names(root)) > 0)
"""


def test_git_reads_dev_null_not_our_stdin(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    proc = subprocess.Popen([sys.executable, "-c", PROBE, str(tmp_path)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdin is not None
    proc.stdin.write(b"what the client sent\n")
    proc.stdin.flush()  # and left open: a git child reading it would wait for its end
    try:
        out = b""
        deadline = time.monotonic() + 30
        while proc.stdout is not None and time.monotonic() < deadline:
            ready, _, _ = select.select([proc.stdout], [], [], 1)
            chunk = os.read(proc.stdout.fileno(), 4096) if ready else b""
            if ready and not chunk:
                break
            out += chunk
        else:
            raise AssertionError("git waited on our stdin")
    finally:
        proc.stdin.close()
        proc.kill()
        proc.wait(timeout=30)
    blob, listed = out.decode().split()
    assert blob == "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"  # the empty blob: git read /dev/null
    assert listed == "True"
