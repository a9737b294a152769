"""The `secretctl` program: turns errors into one line and an exit code, and starts the
commands scripts and people call most without Typer.

Only this function (and the MCP server) catches every exception; an unknown exception's text is
never printed, since it could carry a value from a third-party library.

Importing Typer costs about 45 ms, 40% of a cold `get` (benchmarks/bench_core.py), and scripts
call `get` and `run` in loops (direnv, CI steps, shell prompts). So these exact forms skip it:

    secretctl [--vault DIR] get KEY [--masked] [--show-metadata] [--json] [--field NAME]
    secretctl [--vault DIR] run [-k PATTERN]... [--env-prefix P] [--env E] [-t|--timeout T]
                                [--no-sanitize] [--allow-short] [--policy] [--allow-expired]
                                [--] COMMAND [ARGS...]
    secretctl [--vault DIR] set KEY [--generate] [--no-symbols] [--expires E] [--notes N] [--url U]
                                [--tags T] [--template T] [--field F]... [--public F]... [--binding B]...
    secretctl [--vault DIR] list [PATTERN] [--json] [--tag T] [--expiring E]

Anything else (help, completion, an unknown, abbreviated or repeated option, a missing
argument) goes through Typer and gets its usual handling and usage errors. The fast path only
parses: what runs is ``cli/reading.py``, ``cli/running.py``, ``cli/storing.py`` or
``cli/listing.py``, which the Typer commands call too.
tests/cli/test_main.py checks, exhaustively for short argv and by property for longer, that it
reads argv exactly as Typer does; the options themselves come from the Typer commands, through
cli/grammar.py, which scripts/gen_cli_grammar.py generates (tests/cli/test_grammar.py fails when
it is stale).
"""

from __future__ import annotations

import atexit
import gc
import sys

from secretctl.cli.grammar import SPECS
from secretctl.cli.state import completing
from secretctl.service import settings

TYPE_CHECKING = False
if TYPE_CHECKING:  # importing typing costs every start about 10 ms: for mypy only
    from collections.abc import Mapping, Sequence
    from typing import Any


def _value_of(args: list[str], i: int, name: str) -> tuple[str, int] | None:
    """The value of option ``args[i]`` (``--opt V`` or ``--opt=V``) and the next index."""
    arg = args[i]
    if arg == name:
        if i + 1 < len(args) and not args[i + 1].startswith("-"):
            return args[i + 1], i + 2
        return None
    if name.startswith("--") and arg.startswith(name + "="):
        return arg[len(name) + 1 :], i + 1
    return None


def fast_parse(argv: Sequence[str], environ: Mapping[str, str]) -> tuple[str, str | None, dict[str, Any]] | None:
    """``(command, vault, keyword arguments)`` when ``argv`` is one of the plain forms above."""
    if completing(environ):
        return None
    args = list(argv)
    vault = None
    if args and args[0] == "--vault" and len(args) >= 2 and not args[1].startswith("-"):
        vault, args = args[1], args[2:]
    elif args and args[0].startswith("--vault="):
        vault, args = args[0].removeprefix("--vault="), args[1:]
    if not args or args[0] not in SPECS or vault == "":
        return None
    spec = SPECS[args[0]]
    kwargs: dict[str, Any] = {}
    positional: list[str] = []
    i = 1
    while i < len(args):
        arg = args[i]
        if spec.rest and (arg == "--" or not arg.startswith("-")):
            # `run` stops reading options at `--` or at the command's name, as Typer does there.
            positional = args[i + 1 :] if arg == "--" else args[i:]
            break
        if arg in spec.flags and spec.flags[arg] not in kwargs:
            kwargs[spec.flags[arg]] = True
            i += 1
            continue
        taken = next(((spec.values[n], v) for n in spec.values if (v := _value_of(args, i, n)) is not None), None)
        if taken is not None and taken[0] not in kwargs:
            kwargs[taken[0]], i = taken[1]
            continue
        many = next(((spec.multi[n], v) for n in spec.multi if (v := _value_of(args, i, n)) is not None), None)
        if many is not None:
            kwargs.setdefault(many[0], []).append(many[1][0])
            i = many[1][1]
            continue
        if arg.startswith("-"):
            return None
        positional.append(arg)
        i += 1
    if spec.rest:
        if not positional:
            return None
        kwargs[spec.arg] = positional
    elif len(positional) > 1 or (spec.required and not positional):
        return None
    elif positional:
        kwargs[spec.arg] = positional[0]
    return args[0], vault, kwargs


def _dispatch(argv: list[str]) -> None:
    fast = fast_parse(argv, settings.environ())
    if fast is not None and fast[0] == "get" and fast[2].keys() == {"key"}:
        from secretctl.cli.fastget import fast_get

        if fast_get(fast[1], fast[2]["key"]):
            return
    if fast is not None and fast[0] == "run":
        from secretctl.cli.fastrun import fast_run

        code = fast_run(fast[1], fast[2])
        if code is not None:
            sys.exit(code)
    if fast is not None:
        from secretctl.cli.state import STATE

        command, STATE.vault_dir, kwargs = fast
        if command == "get":
            from secretctl.cli.reading import show_secret

            show_secret(**kwargs)
            return
        if command == "set":
            from secretctl.service import gitahead

            gitahead.prefetch_config(STATE.vault_dir, settings.environ())  # git lists its config during our imports
            from secretctl.cli.storing import store_secret

            store_secret(**kwargs)
            return
        if command == "list":
            from secretctl.cli.listing import list_secrets

            list_secrets(**kwargs)
            return
        from secretctl.cli.running import run_command

        sys.exit(run_command(**kwargs))
    if fast is None and argv[:1] in (["hook"], ["merge-driver"], ["textconv"]):
        # What git starts, per commit, push, merged or diffed file: without Typer too.
        from secretctl.cli import plumbing

        form = plumbing.fast_form(argv)
        if form is not None:
            code = plumbing.run_fast(*form)
            if code:
                sys.exit(code)
            return
    if fast is None and (argv[:2] == ["member", "add"] or argv[:1] == ["import"]):
        # Bulk commands in their plain forms: without Typer too (cli/bulk.py).
        from secretctl.cli import bulk

        bulk_form = bulk.fast_form(argv)
        if bulk_form is not None:
            from secretctl.service import gitahead

            gitahead.bulk_ahead(bulk_form[0], settings.environ())
            bulk.run_fast(*bulk_form)
            return
    if fast is None and not completing(settings.environ()):
        # `secretctl mcp`, what MCP clients start: a warm server's fork when `unlock` started one
        # (the SDK already imported), else this process serves, below.
        from secretctl.cli import mcplaunch

        if mcplaunch.is_mcp(argv):
            code = mcplaunch.launch(argv, settings.environ())
            if code is not None:
                sys.exit(code)
            plain = mcplaunch.plain_form(argv)
            if plain is not None:  # served here, without Typer (cli/mcpserve.py)
                from secretctl.cli.mcpserve import serve

                serve(plain[0])
                return
    if argv == ["--version"]:
        from secretctl.cli.common import print_version

        print_version()
        return
    # Lazily: the Typer app costs about 45 ms of start-up, which the plain forms above skip.
    from secretctl.cli import app

    app.run(argv)


def _skip_final_collection() -> None:
    """At exit, leave every object out of the interpreter's last garbage collection: it walks all
    that the imports made (5-7 ms of CPU at the end of a `run`, bench_unlock), and frees nothing
    the end of the process does not. Reference counting still frees what it frees; only objects
    in reference cycles are left to the operating system, which takes the whole memory back."""
    gc.freeze()


# A command's imports and work allocate ~40,000 objects that reference counting frees; at Python's
# default pace (a collection per 700 new container objects) a `set` on a 10,000-secret vault
# collected 24 times, walking the young objects each time: 3.5-5.7 ms of its CPU (6 ms in an
# interleaved A/B of 25 runs). At this pace a short command collects about never. Processes
# that hold values for long go back to Python's pace (hardening.collect_promptly).
GC_THRESHOLD = (50_000, 10, 10)


def main() -> None:
    from secretctl.errors import SecretctlError

    gc.set_threshold(*GC_THRESHOLD)
    atexit.unregister(_skip_final_collection)  # registered once however often main() runs (tests)
    atexit.register(_skip_final_collection)
    if settings.get(settings.ENV_PASSWORD):
        # Our environment holds the password from the first instruction on: a same-user process
        # (a hook git runs for us, an agent's shell) must not read it from /proc/<pid>/environ.
        from secretctl.service import hardening

        hardening.set_not_dumpable()
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
    except ModuleNotFoundError as exc:
        # A dependency missing from this installation (a venv made by hand, a package removed):
        # not a bug of ours. The module's name holds no value.
        sys.stderr.write(f"secretctl: error: this installation lacks the {exc.name} module\n"
                         "secretctl: hint: reinstall secretctl with its dependencies (pip install --force-reinstall "
                         "secretctl, or make .venv/.installed in a checkout)\n")
        sys.exit(70)
    except BaseException as exc:
        # Never print the text: it may contain a value. The type is enough to report a bug.
        sys.stderr.write(f"secretctl: error: internal error ({type(exc).__name__}); this is a bug, please report it\n")
        sys.exit(70)


if __name__ == "__main__":
    main()
