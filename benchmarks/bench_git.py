"""Team workflow figures (issue 5): `secretctl sync` pulling 1,000 changed secrets, and the
pre-commit hook over a commit staging 1,000 files (both target under 3 s)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from common import Env, fill, ms

QUICK = "--quick" in sys.argv
N = 10 if QUICK else 1_000


def git(cwd: object, *args: str, env: dict[str, str]) -> None:
    subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True)


def main() -> None:
    env = Env()
    try:
        root = env.vault("alice")
        v = env.open(root)
        fill(v, N)
        remote = env.root / "remote.git"
        subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(remote)], check=True)
        git(root, "remote", "add", "origin", str(remote), env=env.env)
        git(root, "push", "-q", "-u", "origin", "main", env=env.env)
        other = env.root / "other"
        env.run("clone", str(remote), str(other))
        git(other, "branch", "-q", "--set-upstream-to=origin/main", env=env.env)
        # The other clone changes every secret in one import; this one pulls them.
        from secretctl.core.secret import Secret

        ov = env.open(other)
        ov.import_entries([(k, Secret(os.urandom(18).hex().encode())) for k in ov.key_names()], on_conflict="overwrite")
        git(other, "push", "-q", env=env.env)
        env.env["SECRETCTL_VAULT"] = str(root)
        start = time.perf_counter()
        env.run("sync", "--no-push")
        print(f"sync pulling {N} changed secrets: {ms(time.perf_counter() - start)} (target < 3 s)")

        # The hook over a commit staging N files (secretctl writes them; git commit runs the hook).
        env.run("hook", "install", cwd=root)
        staged = env.root / "staged"
        staged.mkdir()
        dotenv = staged / "many.env"
        dotenv.write_text("".join(f"H_{i}={os.urandom(18).hex()}\n" for i in range(N)))
        start = time.perf_counter()
        env.run("import", str(dotenv), "--prefix", "hooked")
        with_hook = time.perf_counter() - start
        # The same check alone, on the commit just made (2 files per secret: N*2 staged files).
        git(root, "reset", "-q", "--soft", "HEAD~1", env=env.env)
        start = time.perf_counter()
        env.run("hook", "pre-commit", cwd=root)
        hook = time.perf_counter() - start
        print(f"pre-commit hook over a commit staging {2 * N} files: {ms(hook)} (target < 3 s); "
              f"the whole import with the hook: {ms(with_hook)}")
    finally:
        env.close()


if __name__ == "__main__":
    main()
