"""What the pre-push hook adds to a push: `git push` of one new commit (a `secretctl set`) in a
vault of 1,000 secrets, with the hooks `secretctl hook install` writes, against the same push
with `--no-verify` (no hook), interleaved in one run. Also the first push of the whole history
to an empty remote (every commit checked once), against `--no-verify`.

    python benchmarks/bench_hooks.py [--quick]
"""

from __future__ import annotations

import subprocess
import sys
import time

from common import Env, fill, interleaved, ms

QUICK = "--quick" in sys.argv
N = 10 if QUICK else 1_000
RUNS = 1 if QUICK else 15


def main() -> None:
    env = Env()
    try:
        root = env.vault()
        fill(env.open(root), N)
        env.run("hook", "install", cwd=root)
        e = env.env

        def git(*args: str, cwd: object = root) -> None:
            subprocess.run(["git", *args], cwd=cwd, env=e, check=True, capture_output=True)

        remotes = []
        for name in ("first-hooked", "first-bare"):
            path = env.root / f"{name}.git"
            subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(path)], check=True)
            remotes.append(str(path))
        t = time.perf_counter()
        git("push", "-q", remotes[0], "main")
        hooked_first = time.perf_counter() - t
        t = time.perf_counter()
        git("push", "-q", "--no-verify", remotes[1], "main")
        bare_first = time.perf_counter() - t
        print(f"first push of the history ({N} secrets, 3 commits): with the pre-push hook {ms(hooked_first)}, "
              f"--no-verify {ms(bare_first)} (one run each)")

        git("remote", "add", "origin", remotes[0])
        git("fetch", "-q", "origin")
        counter = iter(range(10_000))

        def new_commit() -> None:
            env.run("set", f"bench/k{next(counter)}", input=b"bench-Value-123456")

        def hooked() -> None:
            git("push", "-q", "origin", "main")

        def bare() -> None:
            git("push", "-q", "--no-verify", "origin", "main")

        t_hook, t_bare = interleaved(hooked, bare, RUNS, before=new_commit)
        print(f"push of one new commit, {N} secrets: with the pre-push hook median {ms(t_hook)}, --no-verify "
              f"median {ms(t_bare)}; the hook adds {ms(t_hook - t_bare)}, ratio {t_hook / t_bare:.2f}x "
              f"(target: under 0.5 s added)")
    finally:
        env.close()


if __name__ == "__main__":
    main()
