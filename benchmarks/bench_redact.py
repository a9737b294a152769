"""Redaction throughput through the real `run` pipe (issue 12): `secretctl run -k KEYS -- cat FILE`
against `secretctl run --no-sanitize -k KEYS -- cat FILE` (the same process, the same pipe and
pump, bytes passed through untouched), interleaved, medians of RUNS. Each side's start-up (the
same command on `true`) is measured too and taken off, so the ratio is the pipe's; both the raw
and the net ratio are printed. Also `run -k` start-up with 1,000 keys against `get`."""

from __future__ import annotations

import base64
import os
import random
import subprocess
import sys
import tempfile
import time

import common
from common import SECRETCTL, SMOKE, Env, interleaved, ms

QUICK = "--quick" in sys.argv
SIZE_MB = 1 if QUICK else 200
RUNS = 1 if QUICK else 3
COUNTS = (10, 40) if QUICK else (10, 1000)
SIZE = (128 * 1024 if SMOKE else SIZE_MB * 1024 * 1024)


def log_like(size: int, leaks: list[bytes]) -> bytes:
    rnd = random.Random(1)
    words = (b"GET /api/v1/users 200 OK latency=12ms user=alice request_id=3f2a9c INFO worker started "
             b"processing batch db.internal:5432 cache hit ratio=0.93 {\"status\":\"ok\",\"items\":[1,2,3]}").split()
    lines = []
    for i in range(20000):
        line = b" ".join(rnd.choice(words) for _ in range(10)) + b" id=%d\n" % i
        if i % 997 == 0 and leaks:
            line = b"leaked token=" + rnd.choice(leaks) + b"\n"
        lines.append(line)
    block = b"".join(lines)
    return (block * (size // len(block) + 1))[:size]


def utf8_log(size: int, leaks: list[bytes]) -> bytes:
    """log_like with a non-ASCII word on one line in ten (a check mark, an accent, an arrow): every
    read then holds some Unicode, which the skeleton view folds through NFKD."""
    lines = log_like(size, leaks).split(b"\n")
    rnd = random.Random(4)
    words = [w.encode() for w in ("caf\u00e9", "\u2192", "\u2713 done", "na\u00efve", "\u00dcn\u00efcode",
                                  "\u65e5\u672c")]
    for i in range(0, len(lines), 10):
        lines[i] += b" " + rnd.choice(words)
    return b"\n".join(lines)[:size]


def colored_log(size: int, leaks: list[bytes]) -> bytes:
    """log_like with each line's level in color (two escape sequences a line), as test runners
    and loggers print to a terminal."""
    lines = log_like(size, leaks).split(b"\n")
    return b"\n".join(b"\x1b[32mINFO\x1b[0m " + line for line in lines)[:size]


def timed(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def main() -> None:
    size = SIZE
    env = Env()
    tmp = tempfile.mkdtemp(prefix="bench-redact-")
    try:
        root = env.vault()
        v = env.open(root)
        from secretctl.core.secret import Secret

        values: dict[int, list[bytes]] = {}
        for n in COUNTS:
            values[n] = [os.urandom(18).hex().encode() for _ in range(n)]
            v.import_entries([(f"r{n}/key{i}", Secret(x)) for i, x in enumerate(values[n])])
        files = {}
        for n in COUNTS:
            files[(n, "log-like text")] = log_like(size, values[n])
        files[(COUNTS[0], "log text, some UTF-8")] = utf8_log(size, values[COUNTS[0]])
        files[(COUNTS[0], "colored log text")] = colored_log(size, values[COUNTS[0]])
        files[(COUNTS[-1], "random base64")] = base64.encodebytes(os.urandom(size * 3 // 4 + 3))[:size]
        # Long single-case runs (sha256sum lines, runs of one letter): each position of such a run
        # matched the old base32 candidate, and these ran at under 1 MB/s.
        digests = b"".join(os.urandom(32).hex().encode() + b"  ./build/artifact-%d.tar\n" % i for i in range(20000))
        files[(COUNTS[-1], "hex digests")] = (digests * (size // len(digests) + 1))[:size]
        files[(COUNTS[-1], "runs of one letter")] = ((b"x" * 100 + b"\n") * (size // 101 + 1))[:size]
        targets = {(COUNTS[0], "log-like text"): 50, (COUNTS[-1], "log-like text"): 30,
                   (COUNTS[-1], "random base64"): 10}
        if SMOKE:
            # The suite's smoke run only checks that the script works: every kind is built above,
            # and each goes through the same four timed runs below (secretctl processes).
            files = {key: files[key] for key in ((COUNTS[0], "log-like text"), (COUNTS[-1], "random base64"))}
        for (n, kind), data in files.items():
            path = os.path.join(tmp, "out")
            with open(path, "wb") as fh:
                fh.write(data)
            keys = ["-k", f"r{n}/*"]
            red = [SECRETCTL, "run", *keys, "--", "cat", path]
            raw = [SECRETCTL, "run", "--no-sanitize", *keys, "--", "cat", path]
            t_red, t_raw = interleaved(lambda a=red: timed(a, env.env), lambda a=raw: timed(a, env.env), RUNS)
            c_red, c_raw = common.LAST_CPU
            s_red, s_raw = interleaved(lambda k=keys: timed([SECRETCTL, "run", *k, "--", "true"], env.env),
                                       lambda k=keys: timed([SECRETCTL, "run", "--no-sanitize", *k, "--", "true"],
                                                            env.env), RUNS)
            cs_red, cs_raw = common.LAST_CPU
            mb = size / 1e6
            net_red, net_raw = max(t_red - s_red, 1e-6), max(t_raw - s_raw, 1e-6)
            print(f"{kind}, {n} secrets, {SIZE_MB} MB: run {mb / t_red:.0f} MB/s, run --no-sanitize "
                  f"{mb / t_raw:.0f} MB/s (medians of {RUNS}, interleaved): {100 * t_raw / t_red:.1f}% of cat "
                  f"through the same pipe; without each side's start-up ({s_red:.2f} s / {s_raw:.2f} s): "
                  f"{mb / net_red:.0f} vs {mb / net_raw:.0f} MB/s = {100 * net_raw / net_red:.1f}% "
                  f"(target >= {targets.get((n, kind), 0)}%); CPU time: {c_red:.2f} s vs {c_raw:.2f} s, without "
                  f"start-up ({cs_red:.2f} s / {cs_raw:.2f} s): "
                  f"{100 * max(c_raw - cs_raw, 1e-6) / max(c_red - cs_red, 1e-6):.1f}%", flush=True)
        n = COUNTS[-1]
        get, run = interleaved(lambda: env.run("get", f"r{n}/key0"),
                               lambda: env.run("run", "-k", f"r{n}/*", "--", "true"), 3 if QUICK else 9)
        c_get, c_run = common.LAST_CPU
        print(f"run -k with {n} keys -- true: median {ms(run)} ({ms(c_run)} CPU); get of one key {ms(get)} "
              f"({ms(c_get)} CPU) (target <= 300 ms with 1,000 keys)")
        peak = subprocess.run(["/usr/bin/time", "-f", "%M", SECRETCTL, "run", "-k", f"r{n}/*", "--", "true"],
                              env=env.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=True)
        print(f"peak RSS of run -k with {n} keys: {int(peak.stderr.split()[-1]) / 1024:.0f} MB (no target)")
    finally:
        env.close()
        subprocess.run(["rm", "-rf", tmp], check=False)


if __name__ == "__main__":
    main()
