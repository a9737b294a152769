"""Sanitizer throughput (issue 3): `cat FILE` through a pipe, read in 64 KiB chunks, once passed
through RedactStream.feed and once plain (the baseline), in the same run; medians of RUNS."""

from __future__ import annotations

import os
import random
import resource
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from secretctl.core.redact import Redactor
from secretctl.core.secret import Secret

QUICK = "--quick" in sys.argv
SIZE_MB = 1 if QUICK else 100
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


def pipe_rate(path: str, size: int, r: Redactor | None) -> float:
    """MB/s of reading `cat path` from a pipe, through the redactor when ``r`` is given."""
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        proc = subprocess.Popen(["cat", path], stdout=subprocess.PIPE)
        assert proc.stdout is not None
        fd = proc.stdout.fileno()
        s = r.stream() if r is not None else None
        while True:
            chunk = os.read(fd, CHUNK)
            if not chunk:
                break
            if s is not None:
                s.feed(chunk)
        if s is not None:
            s.close()
        proc.wait()
        times.append(time.perf_counter() - start)
    times.sort()
    return size / times[len(times) // 2] / 1e6


def stream_rate(r: Redactor, data: bytes) -> float:
    """In memory, no pipe (used by tests and profiling)."""
    start = time.perf_counter()
    s = r.stream()
    for i in range(0, len(data), CHUNK):
        s.feed(data[i : i + CHUNK])
    s.close()
    return len(data) / (time.perf_counter() - start) / 1e6


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
            target = 30 if n == 10 else 12
            for leaks in (True, False):
                data = sample_output(size, values if leaks else [])
                with open(path, "wb") as out:
                    out.write(data)
                cat = pipe_rate(path, size, None)
                ours = pipe_rate(path, size, r)
                kind = "a leaked value every ~80 KB" if leaks else "no secret in it"
                print(f"{n} secrets ({r.pattern_count} patterns, built in {build:.2f} s), output with {kind}: "
                      f"{ours:.0f} MB/s over {SIZE_MB} MB from cat through a pipe; the same pipe read plainly "
                      f"{cat:.0f} MB/s; ratio {100 * ours / cat:.1f}% of cat (target >= {target}%)")
        usage = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak RSS of this process: {usage:.0f} MB")
    finally:
        os.unlink(path)


if __name__ == "__main__":
    main()
