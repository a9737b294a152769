"""Compare two checkouts on the same benchmark scripts, interleaved (issue 14: "no figure
regresses by more than 10%").

    python benchmarks/versions.py OLD NEW SCRIPT ROUNDS [ARGS...]

OLD and NEW are checkouts (git worktrees), each with its own `.venv` (`make .venv/.installed`);
SCRIPT is a benchmark of OLD's `benchmarks/` folder, run ROUNDS times by each side in turn
(old, new, then new, old, ...). The scripts written before the layered layout import the old
flat module names (`secretctl.vault`, `secretctl.secret`...): for a checkout that has the
layers, those names are aliased to their new homes inside the benchmark's process only (the
timed `secretctl` children never see it). Prints, per figure of the script's output, the
median of each side and new/old, plus each side's wall and CPU time (CPU is the honest figure
on a loaded machine).
"""

from __future__ import annotations

import os
import re
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

NUM = re.compile(r"(\d+(?:\.\d+)?)")
# Run by the checkout's python: aliases the flat names when the layers exist, then runs SCRIPT.
ALIAS = r"""
import importlib, importlib.abc, importlib.util, os, runpy, sys
OLD = {"secretctl.vault": "secretctl.service.vault", "secretctl.secret": "secretctl.core.secret",
       "secretctl.redact": "secretctl.core.redact", "secretctl.agent": "secretctl.service.session",
       "secretctl.mcp_server": "secretctl.mcp.server"}
class Alias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name, path=None, target=None):
        return importlib.util.spec_from_loader(name, self) if name in OLD else None
    def create_module(self, spec):
        return importlib.import_module(OLD[spec.name])
    def exec_module(self, module):
        pass
if importlib.util.find_spec("secretctl.service") is not None:
    sys.meta_path.insert(0, Alias())
script = sys.argv[1]
sys.argv = sys.argv[1:]
sys.path.insert(0, os.path.dirname(script))
runpy.run_path(script, run_name="__main__")
"""


def run(python: Path, script: Path, args: list[str]) -> tuple[str, float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run([str(python), "-c", ALIAS, str(script), *args], cwd=script.parent,
                          capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode:
        print(f"{python} {script.name} failed:\n{proc.stderr[-2000:]}", flush=True)
    return proc.stdout, wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def figures(out: str) -> dict[str, float]:
    """Every number of every output line, keyed by the line with its numbers blanked out (a
    repeated line gets its occurrence number); context lines are left out."""
    found: dict[str, float] = {}
    seen: dict[str, int] = {}
    for line in out.splitlines():
        if line.strip().startswith("context:") or "waited" in line:
            continue
        key = NUM.sub("#", line)
        seen[key] = seen.get(key, 0) + 1
        if seen[key] > 1:
            key = f"{key} (occurrence {seen[key]})"
        for i, n in enumerate(NUM.findall(line)):
            found[f"{key} [{i}]"] = float(n)
    return found


def main(argv: list[str]) -> int:
    if len(argv) < 4:
        print(__doc__)
        return 2
    old, new, name, rounds, args = Path(argv[0]), Path(argv[1]), argv[2], int(argv[3]), argv[4:]
    script = old / "benchmarks" / name
    sides = {"old": old / ".venv" / "bin" / "python", "new": new / ".venv" / "bin" / "python"}
    results: dict[str, list[tuple[dict[str, float], float, float]]] = {"old": [], "new": []}
    # OLD's script byte-compiles only OLD's sources: with PYTHONDONTWRITEBYTECODE set, NEW's edited
    # modules would be compiled again at every timed start.
    for side, python in sides.items():
        subprocess.run([str(python), "-m", "compileall", "-q", str((old if side == "old" else new) / "secretctl")],
                       check=True, stdout=subprocess.DEVNULL)
    for r in range(rounds):
        for side in (["old", "new"] if r % 2 == 0 else ["new", "old"]):
            out, wall, cpu = run(sides[side], script, args)
            results[side].append((figures(out), wall, cpu))
            print(f"round {r} {side}: wall {wall:.1f} s, CPU {cpu:.1f} s, load {os.getloadavg()[0]:.1f}", flush=True)
    print(f"== {name} {' '.join(args)}: {rounds} interleaved rounds, medians: old, new, new/old")
    for key in results["old"][0][0] if results["old"] else {}:
        o = [f[key] for f, _, _ in results["old"] if key in f]
        n = [f[key] for f, _, _ in results["new"] if key in f]
        if o and n and len(set(o + n)) > 1:  # a constant (a target, a size) is not a figure
            mo, mn = statistics.median(o), statistics.median(n)
            print(f"{key}: {mo:g} {mn:g} {mn / mo if mo else float('nan'):.2f}")
    for side, rows in results.items():
        print(f"{side}: script wall median {statistics.median(w for _, w, _ in rows):.1f} s, "
              f"CPU median {statistics.median(c for _, _, c in rows):.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
