"""Vault core figures (issue 2): cold `get`, `list --json`, bulk import and re-encryption
compared side by side with the age CLI run once per file (the way passage and gopass work)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

from common import Env, fill, median_of, ms

QUICK = "--quick" in sys.argv
VAULT_SIZE = 300 if QUICK else 10_000
BULK = 50 if QUICK else 1_000
RUNS = 3 if QUICK else 20


def main() -> None:
    env = Env()
    try:
        root = env.vault()
        v = env.open(root)
        t = time.perf_counter()
        keys = fill(v, VAULT_SIZE)
        print(f"setup: {VAULT_SIZE} secrets in one import: {time.perf_counter() - t:.1f} s")
        key = keys[len(keys) // 2]
        subprocess.run([sys.executable, "-m", "compileall", "-q", os.path.dirname(os.path.dirname(__file__))],
                       capture_output=True, check=False)
        get = median_of(lambda: env.run("get", key), RUNS)
        print(f"get (cold process, unprotected identity), {VAULT_SIZE} secrets: median {ms(get)} "
              f"(target < 80 ms)")
        lst = median_of(lambda: env.run("list", "--json"), max(3, RUNS // 4))
        print(f"list --json, {VAULT_SIZE} secrets: median {ms(lst)} (target < 1 s)")

        # Bulk import: one process and one commit vs. `age -e` once per file, then one commit.
        work = env.root / "bulk"
        work.mkdir()
        dotenv = work / "bulk.env"
        dotenv.write_text("".join(f"BULK_{i}={os.urandom(18).hex()}\n" for i in range(BULK)))
        plain = work / "plain"
        plain.mkdir()
        for i in range(BULK):
            (plain / f"k{i}").write_bytes(os.urandom(18).hex().encode())
        recipients = root / ".age-recipients"
        age = shutil.which("age")

        def ours() -> None:
            env.run("import", str(dotenv), "--prefix", f"imp{time.monotonic_ns()}")

        def theirs() -> None:
            out = work / f"age{time.monotonic_ns()}"
            out.mkdir()
            for i in range(BULK):
                subprocess.run([age, "-e", "-R", str(recipients), "-o", str(out / f"k{i}.age"), str(plain / f"k{i}")],
                               check=True)
            subprocess.run(["git", "add", "-A", "."], cwd=out, check=False, capture_output=True)

        if age is None:
            print("age CLI not installed: skipping the side-by-side comparisons")
            return
        runs = 1 if QUICK else 3
        t_ours, t_age = median_of(ours, runs), median_of(theirs, runs)
        print(f"import {BULK} secrets: secretctl median {ms(t_ours)}; age CLI per file median {ms(t_age)}; "
              f"ratio {t_age / t_ours:.1f}x (target >= 10x)")

        # Re-encryption for an added member: `member add` re-encrypts everything the member gains.
        small = env.vault("reenc")
        sv = env.open(small)
        fill(sv, BULK, prefix="r")
        helper = Env()
        try:
            recipient = helper.run("identity", "show").decode().strip()
        finally:
            helper.close()
        t = time.perf_counter()
        env.run("member", "add", "newbie", recipient)
        t_reenc = time.perf_counter() - t
        ident = env.identity

        def age_loop() -> None:
            out = work / f"re{time.monotonic_ns()}"
            out.mkdir()
            for i, p in enumerate(sorted(small.rglob("*.age"))):
                dec = subprocess.run([age, "-d", "-i", str(ident), str(p)], capture_output=True, check=True)
                subprocess.run([age, "-e", "-R", str(small / ".age-recipients"), "-o", str(out / f"{i}.age")],
                               input=dec.stdout, check=True)

        t_age_re = median_of(age_loop, 1)
        print(f"re-encrypt {BULK} secrets for an added member: secretctl {ms(t_reenc)}; age CLI per file "
              f"{ms(t_age_re)}; ratio {t_age_re / t_reenc:.1f}x (target >= 10x)")
    finally:
        env.close()


if __name__ == "__main__":
    main()
