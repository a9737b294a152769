"""Start-up of the installed `secretctl`: what the install itself costs every process.

An editable install puts a .pth file in site-packages that every Python start in the venv runs:
a plain path line costs nothing measurable, while setuptools' "lenient" finder imports a module
and installs an import hook. This prints which kind this venv has, then, interleaved in one run:
a bare interpreter without site (`python -S`), one with site (the .pth files run), and a cold
`secretctl get`. The ratios are against the bare interpreter.

    python benchmarks/bench_startup.py [--quick]
"""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from pathlib import Path

from common import Env, interleaved, ms

RUNS = 2 if "--quick" in sys.argv else 40


def editable_kind() -> str:
    site = Path(sysconfig.get_path("purelib"))
    kinds = []
    for pth in sorted(site.glob("*secretctl*.pth")):
        text = pth.read_text()
        kinds.append(f"{pth.name}: {'import hook (finder module)' if 'import ' in text else 'plain path entry'}")
    return "; ".join(kinds) or "no .pth for secretctl (a regular install)"


def main() -> None:
    print(f"install: {editable_kind()}")
    env = Env()
    try:
        env.vault()
        env.run("set", "app/token", input=b"startup-Value-123")
        bare, site = interleaved(lambda: subprocess.run([sys.executable, "-S", "-c", "pass"], check=True),
                                 lambda: subprocess.run([sys.executable, "-c", "pass"], check=True), RUNS)
        _, get = interleaved(lambda: subprocess.run([sys.executable, "-S", "-c", "pass"], check=True),
                             lambda: env.run("get", "app/token"), RUNS)
        print(f"python -S -c pass: median {ms(bare)} (baseline)")
        print(f"python -c pass (site and .pth files): median {ms(site)}, {site / bare:.2f}x baseline, "
              f"site costs {ms(site - bare)}")
        print(f"secretctl get (cold process): median {ms(get)}, {get / bare:.2f}x baseline (target < 80 ms)")
        # The CLI grammar decision (docs/architecture.md): the same `get` through the fast path,
        # and through Typer (`get -- KEY` is a form the fast path leaves to Typer).
        fast, typer_path = interleaved(lambda: env.run("get", "app/token"),
                                       lambda: env.run("get", "--", "app/token"), RUNS)
        print(f"get via the generated fast path: median {ms(fast)}; via Typer: median {ms(typer_path)} "
              f"({typer_path / fast:.2f}x, Typer adds {ms(typer_path - fast)})")
    finally:
        env.close()


if __name__ == "__main__":
    main()
