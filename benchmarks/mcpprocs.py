"""The processes serving an MCP session, for the benchmarks: a cold `secretctl mcp-server` is this
process's child; with the warm server (`secretctl unlock`), the child is a launcher and the server
is a child of the warm process. CPU figures are read from /proc (user + system of each process
and of its waited-for children: git, sandboxed commands), in clock ticks (10 ms on Linux), plus
what the unlock agent and the warm process spent meanwhile (``Helpers``)."""

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


def cpu_seconds(pid: int, *, reaped: bool = True) -> float:
    """CPU seconds of ``pid`` so far, with its reaped children unless ``reaped`` is False (0 if
    it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(f) for f in fields[11:15 if reaped else 13]) / os.sysconf("SC_CLK_TCK")


class Helpers:
    """The CPU the long-lived helpers spend for a session: the unlock agent (it decrypts for the
    server) and the warm process itself (accept and fork; its reaped forks are counted apart)."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids
        self.start = self.now()

    def now(self) -> float:
        return sum(cpu_seconds(p, reaped=False) for p in self.pids)

    def spent(self) -> float:
        return self.now() - self.start


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


def status(secretctl: str, env: dict[str, str]) -> dict[str, object]:
    out = subprocess.run([secretctl, "status", "--json"], env=env, capture_output=True, check=False)
    return dict(json.loads(out.stdout or b"{}"))


def warm_pid(secretctl: str, env: dict[str, str]) -> int | None:
    warm = status(secretctl, env).get("warm")
    return int(warm["pid"]) if isinstance(warm, dict) else None


def agent_pid(secretctl: str, env: dict[str, str]) -> int | None:
    st = status(secretctl, env)
    return int(st["pid"]) if st.get("unlocked") else None  # type: ignore[call-overload]


def serving(warm: int | None) -> list[int]:
    """This process's children (the launcher, or a cold server) and the warm server's (a fork)."""
    return children_of(os.getpid()) + (children_of(warm) if warm else [])
