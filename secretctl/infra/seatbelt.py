"""The macOS engine: a sandbox-exec (Seatbelt) profile generated per run.

DANGEROUS CODE, kept apart. This text is unit-tested here; it cannot run on Linux.
Deny by default; read the system; read/write the workspace and a per-call HOME/TMPDIR;
never secretctl's own files; network only to the local proxy port when hosts are granted.
macOS has no pid namespace: a child that escapes the process group is not contained
(docs/security.md says so).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence

SYSTEM_READ = ("/usr", "/bin", "/sbin", "/System", "/Library", "/private/etc", "/etc", "/opt/homebrew",
               "/usr/local", "/dev", "/private/var/db/timezone", "/Applications/Xcode.app")


def quote(path: str) -> str:
    """A Seatbelt string literal: backslashes and quotes escaped, no control characters."""
    if any(ord(c) < 0x20 for c in path):
        raise ValueError("path holds a control character")
    return '"' + path.replace("\\", "\\\\").replace('"', '\\"') + '"'


def home_for_call() -> str:
    return tempfile.mkdtemp(prefix="secretctl-home-")


def profile(program: str, *, read: Sequence[str], workspace: Sequence[str], hidden: Sequence[str], home: str,
            proxy_port: int | None = None) -> str:
    """``read``: the system's search path and the rule's read paths; ``workspace``: writable."""
    lines = [
        "(version 1)",
        "(deny default)",
        "(allow process-fork)",
        "(allow process-exec)",
        "(allow signal (target same-sandbox))",
        "(allow sysctl-read)",
        "(allow mach-lookup (global-name \"com.apple.system.opendirectoryd.libinfo\"))",
        "(allow file-read-metadata)",
        "(allow file-read* (literal \"/\"))",
    ]
    reads = [*SYSTEM_READ, *read, program]
    lines.append("(allow file-read* " + " ".join(f"(subpath {quote(p)})" for p in reads) + ")")
    writes = [home, *workspace]
    lines.append("(allow file-read* file-write* " + " ".join(f"(subpath {quote(p)})" for p in writes) + ")")
    lines.append('(allow file-write* (literal "/dev/null"))')
    if hidden:
        # Last rule wins in SBPL: secretctl's own files stay unreadable even under a granted path.
        lines.append("(deny file-read* file-write* " + " ".join(
            f"(subpath {quote(os.path.realpath(h))})" for h in hidden) + ")")
    if proxy_port is not None:
        lines.append(f'(allow network-outbound (remote ip "localhost:{int(proxy_port)}"))')
    else:
        lines.append("(deny network*)")
    return "\n".join(lines) + "\n"
