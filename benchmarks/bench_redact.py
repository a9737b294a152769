"""Sanitizer throughput (issue 3): MB/s through RedactStream.feed in 64 KiB chunks, as a ratio to
`cat` through a pipe measured in the same run; and peak memory over a long stream."""

from __future__ import annotations

import os
import random
import resource
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from secretctl.redact import Redactor
from secretctl.secret import Secret

QUICK = "--quick" in sys.argv
SIZE_MB = 4 if QUICK else 100
RUNS = 1 if QUICK else 5
CHUNK = 64 * 1024


def sample_output(size: int, secrets: list[bytes]) -> bytes:
    rnd = random.Random(1)
    words = (b"GET /api/v1/users 200 OK latency=12ms user=alice request_id=3f2a9c INFO worker started "
             b"processing batch db.internal:5432 cache hit ratio=0.93 {\"status\":\"ok\",\"items\":[1,2,3]}").split()
    lines = []
    for i in range(20000):
        line = b" ".join(rnd.choice(words) for _ in range(10)) + b" id=%d\n" % i
        if i % 997 == 0 and secrets:
            line = b"leaked token=" + rnd.choice(secrets) + b"\n"
        lines.append(line)
    block = b"".join(lines)
    return (block * (size // len(block) + 1))[:size]


def stream_rate(r: Redactor, data: bytes) -> float:
    best = []
    for _ in range(RUNS):
        s = r.stream()
        start = time.perf_counter()
        for i in range(0, len(data), CHUNK):
            s.feed(data[i : i + CHUNK])
        s.close()
        best.append(time.perf_counter() - start)
    best.sort()
    return len(data) / best[len(best) // 2] / 1e6


def cat_rate(path: str, size: int) -> float:
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        with open(path, "rb") as fh:
            subprocess.run(["cat"], stdin=fh, stdout=subprocess.PIPE, check=True)
        times.append(time.perf_counter() - start)
    times.sort()
    return size / times[len(times) // 2] / 1e6


def main() -> None:
    size = SIZE_MB * 1024 * 1024
    with tempfile.NamedTemporaryFile(delete=False) as fh:
        path = fh.name
    try:
        for n in (10, 1000):
            values = [os.urandom(18).hex().encode() for _ in range(n)]
            t = time.perf_counter()
            r = Redactor.build({f"svc/key{i}": Secret(v) for i, v in enumerate(values)})
            build = time.perf_counter() - t
            data = sample_output(size, values)
            with open(path, "wb") as out:
                out.write(data)
            cat = cat_rate(path, size)
            ours = stream_rate(r, data)
            target = 30 if n == 10 else 12
            print(f"{n} secrets ({r.pattern_count} patterns, built in {build:.2f} s): {ours:.0f} MB/s over "
                  f"{SIZE_MB} MB; cat through a pipe {cat:.0f} MB/s; ratio {100 * ours / cat:.1f}% of cat "
                  f"(target >= {target}%)")
        usage = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak RSS of this process: {usage:.0f} MB")
    finally:
        os.unlink(path)


if __name__ == "__main__":
    main()
