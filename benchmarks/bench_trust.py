"""What trusting only committed state costs `set` (issue 16): the HEAD check of the governing
`.age-recipients` (one `git cat-file --batch`) and the git config check (one `git config --list`
per process, stat-cached after).

Baseline in the same run: the same `set`, through the same service, with the recipients read
from the work tree as before (no HEAD check), interleaved call by call. Then the CLI's `set` as a
person runs it (a cold process, which pays the config listing once) for scale.
"""

from __future__ import annotations

import os
import statistics
import sys
import time

from common import Env, fill, interleaved, ms, runs_of

QUICK = "--quick" in sys.argv
VAULT_SIZE = 20 if QUICK else 1_000
RUNS = runs_of(2 if QUICK else 30)


def main() -> None:
    from secretctl.core.secret import Secret
    from secretctl.service.results import SetRequest

    env = Env()
    try:
        root = env.vault("vault")
        v = env.open(root)
        fill(v, VAULT_SIZE)
        n = iter(range(10**9))

        def checked() -> None:
            v.set(f"svc1/new{next(n)}", SetRequest(value=Secret(os.urandom(18).hex().encode())))

        unchecked_vault = env.open(root)
        # The baseline: recipients from the work tree, as `set` did before the HEAD check.
        unchecked_vault.encryption_recipients = unchecked_vault.governing  # type: ignore[method-assign]

        def unchecked() -> None:
            unchecked_vault.set(f"svc1/old{next(n)}", SetRequest(value=Secret(os.urandom(18).hex().encode())))

        checked()  # warm both (imports, the config listing)
        unchecked()
        t_checked, t_unchecked = interleaved(checked, unchecked, RUNS)
        print(f"set in a {VAULT_SIZE}-secret vault, service call, median of {RUNS} interleaved: "
              f"with the HEAD recipients check {ms(t_checked)}, without {ms(t_unchecked)} "
              f"(ratio {t_checked / t_unchecked:.2f}, {(t_checked - t_unchecked) * 1000:+.1f} ms; "
              "target: one git call more, a few ms)")

        # The check alone, fresh each time (as each `set` process pays it): HEAD's files through one
        # `git cat-file --batch`, compared with the work tree's; baseline: reading the work tree's file.
        from secretctl.service.trust import CommittedRecipients

        def head_check() -> None:
            CommittedRecipients(root).governing("svc1/x")

        def disk_only() -> None:
            v._recipients_cache.clear()
            v.governing("svc1/x")

        t_head, t_disk = interleaved(head_check, disk_only, RUNS * 3)
        print(f"the HEAD recipients check alone, median of {RUNS * 3}: {ms(t_head)} "
              f"(reading the work tree's file as before: {ms(t_disk)})")

        cli = []
        for i in range(RUNS):
            start = time.perf_counter()
            env.run("set", f"svc2/cli{i}", input=os.urandom(18).hex().encode())
            cli.append(time.perf_counter() - start)
        print(f"`secretctl set` (a cold process, checks included), median of {RUNS}: {ms(statistics.median(cli))}")
    finally:
        env.close()


if __name__ == "__main__":
    main()
