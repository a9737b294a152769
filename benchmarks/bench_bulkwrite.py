"""Bulk-write choices (issues 14 and 15), each beside its alternative in the same run:

1. git staging of a bulk write's files: the hand-built pack that `git index-pack` verifies
   (infra/gitpack.stage_blobs) against `git fast-import` (kept only if within 10%).
2. Replacing 2,000 small files (a 1,000-secret re-key): a new temp file + rename each
   (store.write_many without in_place) against reusing the replaced files' inodes as the next
   temp files (link the old file aside, rewrite it, rename it over the next target: no inode is
   allocated, so ext4's scan of recently deleted inodes is skipped) and against overwriting in
   place (not atomic per file: what bulk writes do since issue 15, under the intent journal).
   CPU time (user + system) is printed beside wall time: the ext4 scan is kernel CPU time, and
   CPU time does not grow with other work on the machine.
"""

from __future__ import annotations

import os
import resource
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from common import SMOKE, Env, interleaved, ms, runs_of

QUICK = "--quick" in sys.argv
N = (20 if SMOKE else 200) if QUICK else 2_000
RUNS = runs_of(2 if QUICK else 7)


def fast_import(root: Path, blobs: dict[str, bytes]) -> None:
    from secretctl.infra import gitpack, gitrepo

    paths = sorted(blobs)
    stream = b"".join(b"blob\ndata %d\n%s\n" % (len(blobs[p]), blobs[p]) for p in paths) + b"done\n"
    gitrepo.git(root, "fast-import", "--quiet", "--done", input=stream)
    info = b"".join(b"100644 %s\t%s\0" % (gitpack.blob_id(blobs[p]).encode(), p.encode()) for p in paths)
    gitrepo.git(root, "update-index", "-z", "--index-info", input=info)


def some_blobs(n: int) -> dict[str, bytes]:
    out = {}
    folder = f"b{time.monotonic_ns()}"
    for i in range(n // 2):
        out[f"{folder}/k{i}.age"] = b"age-encryption.org/v1\n" + os.urandom(220)
        out[f"{folder}/k{i}.meta.yaml"] = b"version: 1\nupdated_by: bench\n" + os.urandom(8).hex().encode()
    return out


def staging(env: Env) -> None:
    from secretctl.infra import gitpack

    root = env.vault("staging")
    t_pack, t_fi = interleaved(lambda: gitpack.stage_blobs(root, some_blobs(N)),
                               lambda: fast_import(root, some_blobs(N)), RUNS)
    print(f"staging {N} files in git: hand-built pack + index-pack median {ms(t_pack)}; git fast-import median "
          f"{ms(t_fi)}; fast-import / pack {t_fi / t_pack:.2f}x (kept only if <= 1.1x: the target)")


def _cpu() -> float:
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime


def replacing(base: Path) -> None:
    def targets(root: Path) -> list[str]:
        return [os.path.join(root, f"d{i % 100}", f"f{i}") for i in range(N)]

    def make(name: str) -> Path:
        root = base / name
        for t in targets(root):
            os.makedirs(os.path.dirname(t), exist_ok=True)
            Path(t).write_bytes(os.urandom(300))
        return root

    def churn(root: Path) -> None:
        # What a re-encryption leaves behind: thousands of inodes freed nearby.
        for i in range(N):
            Path(root, f"d{i % 100}", f"j{i}").write_bytes(b"x")
        for i in range(N):
            os.unlink(os.path.join(root, f"d{i % 100}", f"j{i}"))

    def new_temp(root: Path) -> None:
        for t in targets(root):
            fd = os.open(t + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            os.write(fd, os.urandom(300))
            os.close(fd)
            os.rename(t + ".tmp", t)

    def reuse(root: Path) -> None:
        spare = root / ".spare"
        spare.mkdir(exist_ok=True)
        prev = ""
        for i, t in enumerate(targets(root)):
            aside = os.path.join(spare, f"s{i}")
            os.link(t, aside)  # the replaced file's inode stays alive: the next temp file
            src = prev or t + ".tmp"
            fd = os.open(src, os.O_WRONLY | os.O_TRUNC) if prev else os.open(src, os.O_WRONLY | os.O_CREAT, 0o644)
            os.write(fd, os.urandom(300))
            os.close(fd)
            os.rename(src, t)
            prev = aside
        os.unlink(prev)

    def in_place(root: Path) -> None:
        for t in targets(root):
            fd = os.open(t, os.O_WRONLY | os.O_TRUNC)
            os.write(fd, os.urandom(300))
            os.close(fd)

    ways: list[tuple[str, Callable[[Path], None]]] = [("new temp file + rename", new_temp),
                                                      ("reuse inodes", reuse), ("in place (not atomic)", in_place)]
    roots = {name: make(name.split()[0]) for name, _ in ways}
    results: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name, _ in ways}
    for _ in range(RUNS):
        for name, fn in ways:
            churn(roots[name])
            c, w = _cpu(), time.perf_counter()
            fn(roots[name])
            results[name][0].append(time.perf_counter() - w)
            results[name][1].append(_cpu() - c)
    base_cpu = statistics.median(results[ways[0][0]][1])
    for name, (wall, cpu) in results.items():
        print(f"replacing {N} files right after {N} deletions nearby, {name}: cpu median "
              f"{ms(statistics.median(cpu))} ({statistics.median(cpu) / base_cpu:.2f}x of new temp files), "
              f"wall median {ms(statistics.median(wall))} (no target: what is possible)")


def main() -> None:
    env = Env()
    try:
        staging(env)
        replacing(env.root / "files")
    finally:
        env.close()


if __name__ == "__main__":
    main()
