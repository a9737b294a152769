"""Helpers shared by the benchmarks: an isolated environment, a vault, timing."""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

BIN = Path(sys.executable).parent
SECRETCTL = str(BIN / "secretctl")
# Set by tests/test_benchmarks_smoke.py: the script must run end to end, its figures do not
# matter, so every timed function runs once (on top of the script's own --quick sizes).
SMOKE = os.environ.get("SECRETCTL_BENCH_SMOKE") == "1"


def runs_of(runs: int) -> int:
    return 1 if SMOKE else runs


def _compile_sources() -> None:
    """Byte-compile secretctl first: with PYTHONDONTWRITEBYTECODE set (CI sets it) and sources
    edited since install, every timed start-up would recompile them (seen: +25 ms per `run`)."""
    import compileall

    compileall.compile_dir(str(Path(__file__).resolve().parent.parent / "secretctl"), quiet=2)


_compile_sources()


class Env:
    """A throwaway home with its own identity (unprotected) and git config."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="secretctl-bench-"))
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("SECRETCTL_", "GIT_"))}
        self.env.update(HOME=str(self.root), SECRETCTL_CONFIG_DIR=str(self.root / "config"),
                        SECRETCTL_DATA_DIR=str(self.root / "data"), GIT_CONFIG_GLOBAL=str(self.root / "gitconfig"),
                        SECRETCTL_ACTOR="bench", NO_COLOR="1", PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
        (self.root / "gitconfig").write_text("[user]\n\tname = bench\n\temail = bench@example.com\n")
        self.run("identity", "new", "--no-passphrase")
        self.identity = self.root / "config" / "identity.age"

    def run(self, *args: str, input: bytes = b"", check: bool = True, cwd: Path | None = None) -> bytes:
        out = subprocess.run([SECRETCTL, *args], input=input, capture_output=True, env=self.env,
                             cwd=cwd or self.root, check=False)
        if check and out.returncode:
            raise SystemExit(f"secretctl {' '.join(args)} failed: {out.stderr.decode()}")
        return out.stdout

    def vault(self, name: str = "vault") -> Path:
        path = self.root / name
        self.run("init", str(path), "--name", "bench")
        self.env["SECRETCTL_VAULT"] = str(path)
        return path

    def open(self, path: Path):  # type: ignore[no-untyped-def]
        from secretctl.service.vault import Vault

        os.environ.update(self.env)
        return Vault(path, identity_path=self.identity, password=lambda: "", actor="bench")

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def fill(vault, n: int, prefix: str = "svc") -> list[str]:  # type: ignore[no-untyped-def]
    """n secrets in one commit, through the service (import_entries)."""
    from secretctl.core.secret import Secret

    keys = [f"{prefix}{i % 100}/key{i}" for i in range(n)]
    vault.import_entries([(k, Secret(os.urandom(18).hex().encode())) for k in keys])
    return keys


def median_of(fn: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs_of(runs)):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def interleaved(a: Callable[[], object], b: Callable[[], object], runs: int,
                before: Callable[[], object] | None = None) -> tuple[float, float]:
    """Medians of ``a`` and ``b`` run in turn (a, b, a, b, ...): a machine that slows down or
    speeds up mid-run shifts both sides alike, so their ratio stays honest. ``before`` runs,
    untimed, before each timed call."""
    ta, tb = interleaved_all([a, b], runs, before)
    return ta, tb


def interleaved_all(fns: Sequence[Callable[[], object]], runs: int,
                    before: Callable[[], object] | None = None) -> list[float]:
    """:func:`interleaved` for any number of functions: their medians, in order. The median CPU
    time (user + system) of the child processes each one ran is kept in ``LAST_CPU``: on a
    loaded machine a process waits for a core, and its wall time grows with how much CPU it needs."""
    import resource

    times: list[list[float]] = [[] for _ in fns]
    cpu: list[list[float]] = [[] for _ in fns]
    for _ in range(runs_of(runs)):
        for fn, out, out_cpu in zip(fns, times, cpu, strict=True):
            if before is not None:
                before()
            usage = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            fn()
            out.append(time.perf_counter() - start)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            out_cpu.append(after.ru_utime + after.ru_stime - usage.ru_utime - usage.ru_stime)
    LAST_CPU[:] = [statistics.median(c) for c in cpu]
    return [statistics.median(t) for t in times]


LAST_CPU: list[float] = []


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"
