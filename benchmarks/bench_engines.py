"""Engine choice (issue 12): Hyperscan against ahocorasick-rs on the same literals and the same
output, in the same run. Literals: the raw and skeleton forms and fragment anchors of N values (as
the redactor builds them); output: log-like text and random base64, 64 KiB chunks, overlapping matches reported.
Prints medians of RUNS interleaved runs and the ratio. ahocorasick-rs is no longer a dependency:
`pip install ahocorasick-rs` to rerun the comparison (skipped without it)."""

from __future__ import annotations

import base64
import os
import random
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from secretctl.core.redact.engine import LiteralSet
from secretctl.core.redact.forms import forms_of

QUICK = "--quick" in sys.argv
SIZE = (2 if QUICK else 16) * 1024 * 1024
RUNS = 1 if QUICK else 5
CHUNK = 64 * 1024


def log_like(size: int) -> bytes:
    rnd = random.Random(1)
    words = (b"GET /api/v1/users 200 OK latency=12ms user=alice request_id=3f2a9c INFO worker started "
             b"processing batch db.internal:5432 cache hit ratio=0.93 {\"status\":\"ok\"}").split()
    block = b"".join(b" ".join(rnd.choice(words) for _ in range(10)) + b"\n" for _ in range(20000))
    return (block * (size // len(block) + 1))[:size]


def rate(scan, data: bytes) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    for i in range(0, len(data), CHUNK):
        scan(data[i : i + CHUNK])
    return len(data) / (time.perf_counter() - start) / 1e6


def main() -> None:
    try:
        import ahocorasick_rs
    except ImportError:
        ahocorasick_rs = None
        print("ahocorasick-rs not installed: Hyperscan figures only")
    datas = {"log-like": log_like(SIZE), "random base64": base64.encodebytes(os.urandom(SIZE * 3 // 4))[:SIZE]}
    for n in (10, 1000, 10000) if not QUICK else (10,):
        values = [os.urandom(18).hex().encode() for _ in range(n)]
        forms = [forms_of(v) for v in values]
        pats = sorted({p for f in forms for p, _ in (*f.raw, *f.skel, *f.anchors)})
        t = time.perf_counter()
        hs = LiteralSet(pats)
        hs_build = time.perf_counter() - t
        ac = None
        if ahocorasick_rs is not None:
            t = time.perf_counter()
            ac = ahocorasick_rs.BytesAhoCorasick(pats, implementation=ahocorasick_rs.Implementation.ContiguousNFA)
            ac_build = time.perf_counter() - t
        line = f"{n} values, {len(pats)} literals: Hyperscan built in {hs_build:.2f} s"
        if ac is not None:
            line += f", ahocorasick-rs (contiguous NFA) in {ac_build:.2f} s"
        print(line)
        for name, data in datas.items():
            hs_r: list[float] = []
            ac_r: list[float] = []
            for _ in range(RUNS):
                hs_r.append(rate(hs.scan, data))
                if ac is not None:
                    ac_r.append(rate(lambda c, a=ac: a.find_matches_as_indexes(c, overlapping=True), data))
            msg = f"  {name}: Hyperscan median {statistics.median(hs_r):.0f} MB/s (no target: the engine's own speed)"
            if ac_r:
                msg += (f"; ahocorasick-rs median {statistics.median(ac_r):.0f} MB/s; "
                        f"ratio {statistics.median(hs_r) / statistics.median(ac_r):.1f}x (target: keep the faster)")
            print(msg, flush=True)


if __name__ == "__main__":
    main()
