"""The processes serving an MCP session, for the benchmarks: a cold `secretctl mcp-server` is this
process's child; with the warm server (`secretctl unlock`), the child is a launcher and the server
is a child of the warm process. CPU figures are read from /proc (user + system of each process
and of its waited-for children: git, sandboxed commands), in clock ticks (10 ms on Linux)."""

from __future__ import annotations

import json
import os
import subprocess


def children_of(parent: int) -> list[int]:
    out = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/stat") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[1] == str(parent):
                out.append(int(pid))
    return out


def cpu_seconds(pid: int) -> float:
    """CPU seconds of ``pid`` so far, its reaped children included (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def peak_rss_mb(pids: list[int]) -> float:
    peak = 0.0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as fh:
                for line in fh:
                    if line.startswith("VmHWM:"):
                        peak = max(peak, int(line.split()[1]) / 1024)
        except OSError:
            continue
    return peak


def warm_pid(secretctl: str, env: dict[str, str]) -> int | None:
    out = subprocess.run([secretctl, "status", "--json"], env=env, capture_output=True, check=False)
    warm = json.loads(out.stdout or b"{}").get("warm")
    return int(warm["pid"]) if warm else None


def serving(warm: int | None) -> list[int]:
    """This process's children (the launcher, or a cold server) and the warm server's (a fork)."""
    return children_of(os.getpid()) + (children_of(warm) if warm else [])
