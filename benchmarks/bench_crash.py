"""What crash safety costs (issue 10 section 4), against baselines measured in the same run:

- the intent journal's own work (create it naming the files, fsync, remove it) beside the `set`
  and the 1,000-secret import that now include it;
- the check every command makes before reading (is a journal or a git lock pending?) beside
  `Vault.require()` without it;
- the recovery of a 1,000-secret import interrupted after staging, beside the import itself.

The interrupted import is made in process: the benchmark arms the crash point `git.staged`
(core/faults.py) to raise, and disables the in-process undo, so the vault is left exactly as a
SIGKILL there leaves it; then it times what the next command runs (`recovery.recover`).
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Callable

from common import Env, fill, interleaved, median_of, ms, runs_of

QUICK = "--quick" in sys.argv
BULK = 50 if QUICK else 1_000
RUNS = runs_of(3 if QUICK else 15)


class _Crash(BaseException):
    pass


def main() -> None:
    from secretctl.core import faults
    from secretctl.core.secret import Secret
    from secretctl.infra import gitrepo
    from secretctl.service import recovery
    from secretctl.service.results import SetRequest

    env = Env()
    try:
        root = env.vault()
        v = env.open(root)
        fill(v, BULK)
        git_dir = gitrepo.git_dir(root)

        # 1. One `set`, and the journal's share of it.
        n = [0]

        def one_set() -> None:
            n[0] += 1
            v.set("bench/one", SetRequest(value=Secret(b"value-%d" % n[0])))

        def journal_for_set() -> None:
            log = recovery.IntentLog(root, git_dir, "set", gitrepo.head(root), "2026-11-30T00:00:00Z")
            log.cover(["bench/one.age", "bench/one.meta.yaml", ".secretctl/audit/bench.jsonl"])
            log.finish()

        t_set, t_jset = interleaved(one_set, journal_for_set, RUNS * 2)
        print(f"set: {ms(t_set)} median; its journal alone: {ms(t_jset)} ({t_jset / t_set:.1%} of the set; "
              "target < 10%)")

        # 2. A bulk import, and the journal for its 2,000 files.
        batch = [0]

        def bulk_import() -> None:
            batch[0] += 1
            v.import_entries([(f"imp{batch[0]}/k{i}", Secret(os.urandom(18).hex().encode())) for i in range(BULK)])

        def journal_for_import() -> None:
            log = recovery.IntentLog(root, git_dir, "import", gitrepo.head(root), "2026-11-30T00:00:00Z")
            log.cover([f"imp/k{i}{suffix}" for i in range(BULK) for suffix in (".age", ".meta.yaml")])
            log.finish()

        runs = max(3, RUNS // 3)
        t_imp = median_of(bulk_import, runs)
        t_jimp = median_of(journal_for_import, runs * 3)
        print(f"import of {BULK}: {ms(t_imp)} median; its journal alone ({2 * BULK} paths): {ms(t_jimp)} "
              f"({t_jimp / t_imp:.1%} of the import; target < 5%)")

        # 3. The check before every read (no journal pending: the common case).
        from secretctl.service.vault import Vault

        def require_checked() -> None:
            Vault(root, identity_path=env.identity, password=lambda: "", actor="bench").require()

        def require_unchecked() -> None:
            w = Vault(root, identity_path=env.identity, password=lambda: "", actor="bench")
            w._recovery_checked = True
            w.require()

        t_chk, t_nochk = interleaved(require_checked, require_unchecked, RUNS * 20)
        print(f"Vault.require() with the recovery check: {t_chk * 1e6:.0f} us, without: {t_nochk * 1e6:.0f} us "
              f"(+{(t_chk - t_nochk) * 1e6:.0f} us per command; target < 100 us)")

        # 4. Recovery of an import killed after staging.
        def crash_at(point: str) -> None:
            def hook(name: str) -> None:
                if name == point:
                    raise _Crash

            faults._hook = hook

        def recovery_after(work: Callable[[], object]) -> float:
            times = []
            for _ in range(max(2, RUNS // 5)):
                batch[0] += 1
                crash_at("git.staged")
                undo = recovery.IntentLog.roll_back
                recovery.IntentLog.roll_back = lambda self: None  # type: ignore[method-assign,assignment,return-value]
                try:
                    work()
                except _Crash:
                    pass
                finally:
                    faults._hook = None
                    recovery.IntentLog.roll_back = undo  # type: ignore[method-assign]
                start = time.perf_counter()
                done = recovery.recover(root, git_dir)
                times.append(time.perf_counter() - start)
                if done is None or done.outcome != "rolled back":
                    raise SystemExit(f"the crash was not recovered as expected: {done}")
            return statistics.median(times)

        t_new = recovery_after(bulk_import)
        print(f"recovery of an import of {BULK} new secrets killed after staging: {ms(t_new)} median "
              f"({t_new / t_imp:.2f}x the import itself; target < 1x: it removes files)")
        first = [k for k in v.key_names() if k.startswith("svc")][:BULK]

        def overwrite() -> None:
            v.import_entries([(k, Secret(os.urandom(18).hex().encode())) for k in first], on_conflict="overwrite")

        t_over = median_of(overwrite, runs)
        t_back = recovery_after(overwrite)
        print(f"recovery of an import overwriting {BULK} secrets killed after staging: {ms(t_back)} median "
              f"({t_back / t_over:.2f}x that import, {ms(t_over)}; target < 2x: it rewrites every file)")
    finally:
        env.close()


if __name__ == "__main__":
    main()
