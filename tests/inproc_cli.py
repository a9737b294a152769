"""Run the CLI's own entry point (`secretctl.cli.main.main`) inside the test process.

Why: starting a Python interpreter and importing the CLI was most of the suite's time (a `set`
as a subprocess costs about 0.2 s, in-process about 30 ms). Everything below the entry point is
the real thing: real git processes, real files, real age files, the same argv parsing (fast path
and Typer), the same error printing and exit codes.

What differs from a subprocess, and how it is kept equal:
- the environment: ``os.environ`` is replaced by exactly the member's environment for the call,
  and restored after (git and every child get it as they would);
- stdin/stdout/stderr are in-memory byte streams, never a terminal (as `Member.run` promised);
- the working directory is changed for the call and restored;
- module state a fresh process would not have is reset (the CLI's --vault choice, the Typer
  app's command list, git-dir and config-guard caches).

- file descriptor 0 is the input too (a file holding it), for the children of `run`, which
  inherit it as they would inherit a pipe.

Commands that fork long-lived processes (`unlock`) or that re-execute themselves
(`mcp-server`) always run as a real subprocess, as does
every call from a thread other than the main one (concurrency tests), every call in a
test marked ``cli_subprocess`` and every call when
``SECRETCTL_TEST_CLI=subprocess`` is set (to run the whole suite the slow, literal way).
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

# Children live on after the call (unlock), or the command re-executes itself (mcp-server).
SUBPROCESS_ONLY = frozenset({"unlock", "mcp-server"})


def wants_subprocess(args: Sequence[str], env: Mapping[str, str]) -> bool:
    if os.environ.get("SECRETCTL_TEST_CLI") == "subprocess" or FORCE_SUBPROCESS[0]:
        return True
    if threading.current_thread() is not threading.main_thread():
        return True  # concurrent callers: the process's streams, environment and cwd are shared
    if "PYTHONPATH" in env:  # fault injection (tests/e2e/faultinject) works only at interpreter start
        return True
    return any(a in SUBPROCESS_ONLY for a in args[:3])


# Set by the autouse fixture in tests/conftest.py for tests marked ``cli_subprocess``.
FORCE_SUBPROCESS = [False]


def _snapshot_app() -> tuple[list[Any], list[Any]]:
    """The Typer app's whole command list, taken when the suite starts (before any command trims it)."""
    from secretctl.cli import app

    return list(app.app.registered_commands), list(app.app.registered_groups)


_FULL_APP = _snapshot_app()


def _reset_process_state() -> None:
    """What a fresh interpreter would not remember from an earlier command."""
    from secretctl.cli import app, common
    from secretctl.infra import gitrepo

    common.STATE.vault_dir = None
    # app.run keeps only the invoked command (a start-up saving that a fresh process repeats).
    app.app.registered_commands, app.app.registered_groups = list(_FULL_APP[0]), list(_FULL_APP[1])
    gitrepo._GIT_DIRS.clear()  # a fresh process starts with empty caches
    gitrepo._GUARDS.clear()
    shapes = sys.modules.get("secretctl.core.redact.shapes")
    if shapes is not None:  # the compiled detector set: a fresh process loads it (or fills the cache) again
        shapes.Shapes._instance = None
        shapes.Shapes.store = None
    hookcheck = sys.modules.get("secretctl.core.hookcheck")
    if hookcheck is not None:  # the hook's credential-only redactor, built once per process
        hookcheck._DETECTOR.clear()


def run_inprocess(argv0: str, args: Sequence[str], *, input: bytes, env: Mapping[str, str],
                  cwd: Path, typer_only: bool = False) -> subprocess.CompletedProcess[bytes]:
    """`secretctl ARGS` in this process; returns what a subprocess.run would. ``typer_only``
    sends every form through the Typer app, as if cli/main.py had no fast paths."""
    from secretctl.cli import main as cli_main

    dispatch = cli_main._dispatch
    if typer_only:
        def through_typer(argv: list[str]) -> None:
            from secretctl.cli import app

            app.run(argv)

        cli_main._dispatch = through_typer  # type: ignore[assignment]  # restored below

    out, err = io.BytesIO(), io.BytesIO()
    saved_env = dict(os.environ)
    saved_cwd = os.getcwd()
    saved = (sys.stdin, sys.stdout, sys.stderr, sys.argv)
    sys.stdin = io.TextIOWrapper(io.BytesIO(input), encoding="utf-8")
    sys.stdout = io.TextIOWrapper(out, encoding="utf-8", write_through=True)
    sys.stderr = io.TextIOWrapper(err, encoding="utf-8", errors="backslashreplace", write_through=True)
    sys.argv = [argv0, *args]
    os.environ.clear()
    os.environ.update(env)
    code: int = 0
    fd0 = os.dup(0)
    with tempfile.TemporaryFile() as held:
        held.write(input)
        held.seek(0)
        os.dup2(held.fileno(), 0)
    try:
        os.chdir(cwd)
        _reset_process_state()
        try:
            cli_main.main()
        except SystemExit as exc:
            if exc.code is None:
                code = 0
            elif isinstance(exc.code, int):
                code = exc.code
            else:  # sys.exit("text") prints the text and exits 1
                sys.stderr.write(f"{exc.code}\n")
                code = 1
        sys.stdout.flush()
        sys.stderr.flush()
        stdout, stderr = out.getvalue(), err.getvalue()
    finally:
        os.dup2(fd0, 0)
        os.close(fd0)
        sys.stdin, sys.stdout, sys.stderr, sys.argv = saved
        os.environ.clear()
        os.environ.update(saved_env)
        os.chdir(saved_cwd)
        cli_main._dispatch = dispatch  # type: ignore[assignment]  # what typer_only replaced
        _reset_process_state()  # and leave none behind for tests that read the app
    return subprocess.CompletedProcess([argv0, *args], code, stdout, stderr)
