"""The stream redactor in-process (issue 12): the outputs of bench_redact.py fed through
``Redactor.stream()`` in 256 KiB reads (as `run`'s pump reads a pipe), MB/s of CPU time per output
kind (all threads), of the reading thread's CPU time (the scan thread takes the rest: at idle, on
two cores, wall time follows the busier of the two), and wall; then the same with the scan thread
off, interleaved: the baseline for the thread (at idle, its gain is the wall ratio). For quick
iteration on the redactor itself; bench_redact.py gives the figures through the real `run` pipe.
``--profile KIND`` prints a cProfile of one kind (the reading thread only). For other changes run
it from two checkouts in turn (``PYTHONPATH=CHECKOUT``) and compare the CPU figures."""

from __future__ import annotations

import base64
import os
import random
import sys
import time

from bench_redact import colored_log, log_like, utf8_log
from common import SMOKE

from secretctl.core.redact import Redactor, redactor
from secretctl.core.redact.redactor import PARALLEL_MIN
from secretctl.core.secret import Secret

SIZE = 256 * 1024 if SMOKE else int(os.environ.get("BENCH_STREAM_MB", "16")) * 1024 * 1024
CHUNK = int(os.environ.get("BENCH_STREAM_CHUNK_KB", "256")) * 1024


def outputs() -> tuple[list[tuple[str, int, bytes]], dict[int, list[bytes]]]:
    rnd = random.Random(2)
    out: list[tuple[str, int, bytes]] = []
    vals = {n: [bytes(rnd.getrandbits(8) for _ in range(18)).hex().encode() for _ in range(n)] for n in (10, 1000)}
    for n in (10, 1000):
        out.append(("log-like text", n, log_like(SIZE, vals[n])))
    out.append(("log text, some UTF-8", 10, utf8_log(SIZE, vals[10])))
    out.append(("colored log text", 10, colored_log(SIZE, vals[10])))
    out.append(("random base64", 1000, base64.encodebytes(rnd.randbytes(SIZE * 3 // 4 + 3))[:SIZE]))
    digests = b"".join(rnd.randbytes(32).hex().encode() + b"  ./build/artifact-%d.tar\n" % i for i in range(20000))
    out.append(("hex digests", 1000, (digests * (SIZE // len(digests) + 1))[:SIZE]))
    out.append(("runs of one letter", 1000, ((b"x" * 100 + b"\n") * (SIZE // 101 + 1))[:SIZE]))
    return out, vals


def run_one(red: Redactor, data: bytes) -> tuple[float, float, float, int]:
    s = red.stream()
    c0, w0, t0 = time.process_time(), time.perf_counter(), time.thread_time()
    total = 0
    for i in range(0, len(data), CHUNK):
        total += len(s.feed(data[i : i + CHUNK]))
    total += len(s.close())
    return time.process_time() - c0, time.perf_counter() - w0, time.thread_time() - t0, len(s.found)


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
        # The scan thread on (as `run` reads) and off (every scan on the reading thread), interleaved.
        runs: dict[bool, list[tuple[float, float, float]]] = {True: [], False: []}
        found = 0
        for _ in range(rounds):
            for on in (True, False):
                redactor.PARALLEL_MIN = PARALLEL_MIN if on else 1 << 62
                c, w, t, found = run_one(red, data)
                runs[on].append((c, w, t))
        redactor.PARALLEL_MIN = PARALLEL_MIN
        mb = len(data) / 1e6
        med = {on: [sorted(x[k] for x in runs[on])[rounds // 2] for k in range(3)] for on in runs}
        (c_on, w_on, t_on), (c_off, w_off, _) = med[True], med[False]
        print(f"{kind}, {n} secrets: scan thread on: {mb / c_on:.0f} MB/s of CPU (both threads), "
              f"{mb / t_on:.0f} MB/s of the reading thread's CPU, {mb / w_on:.0f} MB/s wall; off: "
              f"{mb / c_off:.0f} MB/s of CPU, {mb / w_off:.0f} MB/s wall; wall on/off {w_off / w_on:.2f}x "
              f"(medians of {rounds}, interleaved), {found} matches; load {os.getloadavg()[0]:.1f} "
              "(no target of its own: bench_redact.py has them)", flush=True)

if __name__ == "__main__":
    main()
