"""The stream redactor in-process (issue 12): the outputs of bench_redact.py fed through
``Redactor.stream()`` in 64 KiB reads (as `run`'s pump reads a pipe), MB/s of CPU time per output
kind. For quick iteration on the redactor itself; bench_redact.py gives the figures through the
real `run` pipe. ``--profile KIND`` prints a cProfile of one kind. No baseline of its own: run it
from two checkouts in turn (``PYTHONPATH=CHECKOUT``) and compare the CPU figures."""

from __future__ import annotations

import base64
import os
import random
import sys
import time

from bench_redact import log_like
from common import SMOKE

from secretctl.core.redact import Redactor
from secretctl.core.secret import Secret

SIZE = 256 * 1024 if SMOKE else int(os.environ.get("BENCH_STREAM_MB", "16")) * 1024 * 1024
CHUNK = int(os.environ.get("BENCH_STREAM_CHUNK_KB", "64")) * 1024


def outputs() -> tuple[list[tuple[str, int, bytes]], dict[int, list[bytes]]]:
    rnd = random.Random(2)
    out: list[tuple[str, int, bytes]] = []
    vals = {n: [bytes(rnd.getrandbits(8) for _ in range(18)).hex().encode() for _ in range(n)] for n in (10, 1000)}
    for n in (10, 1000):
        out.append(("log-like text", n, log_like(SIZE, vals[n])))
    out.append(("random base64", 1000, base64.encodebytes(rnd.randbytes(SIZE * 3 // 4 + 3))[:SIZE]))
    digests = b"".join(rnd.randbytes(32).hex().encode() + b"  ./build/artifact-%d.tar\n" % i for i in range(20000))
    out.append(("hex digests", 1000, (digests * (SIZE // len(digests) + 1))[:SIZE]))
    out.append(("runs of one letter", 1000, ((b"x" * 100 + b"\n") * (SIZE // 101 + 1))[:SIZE]))
    return out, vals


def run_one(red: Redactor, data: bytes) -> tuple[float, float, int]:
    s = red.stream()
    c0, w0 = time.process_time(), time.perf_counter()
    total = 0
    for i in range(0, len(data), CHUNK):
        total += len(s.feed(data[i : i + CHUNK]))
    total += len(s.close())
    return time.process_time() - c0, time.perf_counter() - w0, len(s.found)


def main() -> None:
    outs, vals = outputs()
    reds = {n: Redactor.build({f"k{i}": Secret(v) for i, v in enumerate(vals[n])}) for n in vals}
    only = sys.argv[sys.argv.index("--profile") + 1] if "--profile" in sys.argv else None
    rounds = 1 if SMOKE else int(os.environ.get("BENCH_STREAM_ROUNDS", "3"))
    for kind, n, data in outs:
        if only and not kind.startswith(only):
            continue
        red = reds[n]
        if only:
            import cProfile
            import pstats

            prof = cProfile.Profile()
            prof.enable()
            run_one(red, data)
            prof.disable()
            pstats.Stats(prof).sort_stats("tottime").print_stats(25)
            continue
        cpus, walls, found = [], [], 0
        for _ in range(rounds):
            c, w, found = run_one(red, data)
            cpus.append(c)
            walls.append(w)
        cpus.sort()
        walls.sort()
        mb = len(data) / 1e6
        print(f"{kind}, {n} secrets: {mb / cpus[len(cpus) // 2]:.0f} MB/s CPU, "
              f"{mb / walls[len(walls) // 2]:.0f} MB/s wall "
              f"(median of {rounds}), {found} matches; load {os.getloadavg()[0]:.1f} "
              "(no target of its own: bench_redact.py has them)", flush=True)


if __name__ == "__main__":
    main()
