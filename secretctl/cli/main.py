"""The `secretctl` program: turns errors into one line and an exit code, and starts `get`
without Typer.

Only this function (and the MCP server) catches every exception; an unknown exception's text is
never printed, since it could carry a value from a third-party library.

Importing Typer costs about 45 ms, 40% of a cold `get` (benchmarks/bench_core.py), and
scripts call `get` in loops (direnv, CI steps, shell prompts). So these exact forms skip it:

    secretctl [--vault DIR] get KEY [--masked] [--show-metadata] [--json] [--field NAME]

Anything else (help, completion, an unknown or repeated option, ``--``, a second argument)
goes through Typer and gets its usual handling and usage errors. The fast path only parses:
what it prints comes from ``cli/reading.py``, the function the Typer command calls too.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any

_FLAGS = {"--masked": "masked", "--show-metadata": "show_metadata", "--json": "json_out"}


def fast_get(argv: Sequence[str], environ: Mapping[str, str]) -> tuple[str | None, dict[str, Any]] | None:
    """``(vault, keyword arguments of show_secret)`` when ``argv`` is a plain `get`, else None."""
    if any(k.startswith("_SECRETCTL_COMPLETE") for k in environ):
        return None
    args = list(argv)
    vault = None
    if args and args[0] == "--vault" and len(args) >= 2 and not args[1].startswith("-"):
        vault, args = args[1], args[2:]
    elif args and args[0].startswith("--vault="):
        vault, args = args[0].removeprefix("--vault="), args[1:]
    if not args or args[0] != "get":
        return None
    kwargs: dict[str, Any] = {}
    key = None
    i = 1
    while i < len(args):
        arg = args[i]
        if arg in _FLAGS and _FLAGS[arg] not in kwargs:
            kwargs[_FLAGS[arg]] = True
        elif arg == "--field" and "field" not in kwargs and i + 1 < len(args) and not args[i + 1].startswith("-"):
            kwargs["field"] = args[i + 1]
            i += 1
        elif arg.startswith("--field=") and "field" not in kwargs:
            kwargs["field"] = arg.removeprefix("--field=")
        elif not arg.startswith("-") and key is None:
            key = arg
        else:
            return None
        i += 1
    if key is None or vault == "":
        return None
    kwargs["key"] = key
    return vault, kwargs


def print_version() -> None:
    from importlib.metadata import version

    sys.stdout.write(f"secretctl {version('secretctl')}\n")


def _dispatch(argv: list[str]) -> None:
    fast = fast_get(argv, os.environ)
    if fast is not None:
        from secretctl.cli import common
        from secretctl.cli.reading import show_secret

        common.STATE.vault_dir = fast[0]
        show_secret(**fast[1])
        return
    if argv == ["--version"]:
        print_version()
        return
    from secretctl.cli import app

    app.run(argv)


def main() -> None:
    from secretctl.errors import SecretctlError

    try:
        _dispatch(sys.argv[1:])
    except SecretctlError as exc:
        sys.stderr.write(f"secretctl: error: {exc.message}\n")
        if exc.hint:
            sys.stderr.write(f"secretctl: hint: {exc.hint}\n")
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.stderr.write("secretctl: interrupted\n")
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(141)
    except SystemExit:
        raise
    except BaseException as exc:
        # Never print the text: it may contain a value. The type is enough to report a bug.
        sys.stderr.write(f"secretctl: error: internal error ({type(exc).__name__}); this is a bug, please report it\n")
        sys.exit(70)


if __name__ == "__main__":
    main()
