"""The Typer app: wires the command groups. The program's entry point, which turns errors
into one line and an exit code, is ``cli/main.py``."""

from __future__ import annotations

from typing import Annotated

import typer

from secretctl.cli import common
from secretctl.cli.state import STATE, completing
from secretctl.service import settings

app = typer.Typer(
    name="secretctl",
    help="A git-friendly encrypted vault that gives AI agents access without exposure.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        common.print_version()
        raise typer.Exit(0)


@app.callback()
def _global(
    vault: Annotated[str | None, typer.Option("--vault", help="Vault directory (default: $SECRETCTL_VAULT, the "
                                              "vault around the current directory, else your default vault).")]
    = None,
    _version_flag: Annotated[bool, typer.Option("--version", help="Print the version and exit.",
                                                callback=_version, is_eager=True)] = False,
) -> None:
    STATE.vault_dir = vault


def _register() -> None:
    from secretctl.cli import agentcmds, audit, gitcmds, identity, mcp, members, migrate, run, secrets, vaultcmds

    for mod in (vaultcmds, secrets, members, identity, agentcmds, run, mcp, gitcmds, audit, migrate):
        mod.register(app)
    # Command groups added by later modules register here, one line each.


_register()


def _invoked_command(argv: list[str]) -> str | None:
    """The top-level command named in ``argv``, or None (help, completion, no command)."""

    if completing(settings.environ()):
        return None
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--vault":
            i += 2
            continue
        if arg.startswith("--vault="):
            i += 1
            continue
        return None if arg.startswith("-") else arg
    return None


def _only(name: str) -> None:
    """Keep just the invoked command: Typer builds all 39 commands from their signatures at
    every start (a third of a cold `get`). Help, completion and unknown names keep the whole
    app, so listings and "no such command" stay complete."""
    commands = [c for c in app.registered_commands if c.name == name]
    groups = [g for g in app.registered_groups if g.name == name]
    if commands or groups:
        app.registered_commands, app.registered_groups = commands, groups


def run(argv: list[str]) -> None:
    """Run the Typer app on ``argv`` (the arguments after the program name)."""
    name = _invoked_command(argv)
    if name is not None:
        _only(name)
    app(args=argv, prog_name="secretctl")
