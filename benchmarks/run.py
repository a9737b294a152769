"""Run the benchmarks: `python benchmarks/run.py [--quick] [NAME ...]` (NAME: core, redact, run, mcp, git).

Each benchmark prints medians and ratios against a baseline measured in the same run.
Benchmarks are not tests: nothing here fails on a slow machine; tests/test_benchmarks_smoke.py
only checks that each one still runs in --quick mode.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    quick = "--quick" in argv
    names = [a for a in argv if not a.startswith("-")]
    scripts = sorted(HERE.glob("bench_*.py"))
    if names:
        scripts = [s for s in scripts if s.stem.removeprefix("bench_") in names]
    status = 0
    for script in scripts:
        print(f"\n=== {script.stem} ===", flush=True)
        rc = subprocess.call([sys.executable, str(script), *(["--quick"] if quick else [])])
        status = status or rc
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
