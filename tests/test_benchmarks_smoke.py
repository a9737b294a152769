"""Each benchmark still runs (in --quick mode, each timed function once: benchmarks/common.py's
SMOKE). Not timed: figures come from `make bench`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"


@pytest.mark.parametrize("script", sorted(p.name for p in BENCH.glob("bench_*.py")))
def test_benchmark_runs_quick(script: str) -> None:
    out = subprocess.run([sys.executable, str(BENCH / script), "--quick"], capture_output=True, timeout=600,
                         cwd=BENCH, env={**os.environ, "SECRETCTL_BENCH_SMOKE": "1"})
    assert out.returncode == 0, out.stderr.decode()[-2000:]
    assert b"target" in out.stdout
