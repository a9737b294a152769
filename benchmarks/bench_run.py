"""`secretctl run` overhead (issue 3): `run -k KEY -- true` vs `get KEY`, side by side; and the
peak memory of `secretctl run` while its child streams a large output."""

from __future__ import annotations

import subprocess
import sys

from common import SECRETCTL, Env, interleaved, ms

QUICK = "--quick" in sys.argv
RUNS = 2 if QUICK else 40
STREAM_MB = 1 if QUICK else 1024


def main() -> None:
    env = Env()
    try:
        env.vault()
        env.run("set", "bench/key", input=b"bench-Secret-Value-123456")
        # Interleaved (get, run, get, run, ...): a machine that slows down mid-run shifts both alike.
        get, run = interleaved(lambda: env.run("get", "bench/key"),
                               lambda: env.run("run", "-k", "bench/key", "--", "true"), RUNS)
        print(f"get: median {ms(get)}; run -k KEY -- true: median {ms(run)}; overhead {ms(run - get)} "
              f"(target < 30 ms)")
        cmd = ["/usr/bin/time", "-f", "%M", SECRETCTL, "run", "-k", "bench/key", "--", "sh", "-c",
               f"head -c {STREAM_MB * 1024 * 1024} /dev/zero | tr '\\0' 'x' | fold -w 100"]
        out = subprocess.run(cmd, env=env.env, cwd=env.root, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             check=True)
        peak_kb = int(out.stderr.decode().strip().splitlines()[-1])
        print(f"peak RSS of secretctl run while the child streams {STREAM_MB} MB: {peak_kb / 1024:.0f} MB "
              f"(target < 100 MB)")
    finally:
        env.close()


if __name__ == "__main__":
    main()
