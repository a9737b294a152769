"""`secretctl mcp` (and `mcp-server`) through the warm MCP server, on the CLI's fast path: no
Typer, mcp or pydantic import here. cli/main.py calls ``launch`` before anything heavy; None
means "run the server in this process, as without a warm server".
"""

from __future__ import annotations

WARM_CHILD = False  # set in a warm server's forked child, which is the server itself
COMMANDS = ("mcp", "mcp-server")

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs the fast path about 10 ms: for mypy only
    from collections.abc import Mapping


def is_mcp(argv: list[str]) -> bool:
    """Whether ``argv`` names the MCP server command (after the global --vault, if any)."""
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--vault":
            i += 2
        elif arg.startswith("--vault="):
            i += 1
        else:
            return arg in COMMANDS
    return False


def _vault_option(args: list[str], i: int) -> tuple[str, int] | None:
    """``--vault DIR`` or ``--vault=DIR`` at ``args[i]``: (DIR, next index); None otherwise, or
    for a value Typer might read otherwise (empty, or starting with a dash)."""
    arg = args[i]
    if arg == "--vault" and i + 1 < len(args):
        value, end = args[i + 1], i + 2
    elif arg.startswith("--vault="):
        value, end = arg[len("--vault="):], i + 1
    else:
        return None
    return (value, end) if value and not value.startswith("-") else None


def plain_form(argv: list[str]) -> tuple[str | None] | None:
    """``(vault,)`` for the plain forms ``[--vault DIR] mcp|mcp-server [--vault DIR]`` (the
    command's own --vault wins, as in Typer), which cli/main.py serves without Typer; None for
    anything else (help, another option, a repeated one), which Typer handles as always."""
    i, vault = 0, None
    if argv and (got := _vault_option(argv, 0)) is not None:
        vault, i = got
    if i >= len(argv) or argv[i] not in COMMANDS:
        return None
    i += 1
    if i < len(argv):
        got = _vault_option(argv, i)
        if got is None or got[1] != len(argv):
            return None
        vault = got[0]
    return (vault,)


def launch(argv: list[str], environ: Mapping[str, str]) -> int | None:
    """The exit status of a warm server's child that ran ``argv``; None: serve it here."""
    from secretctl.service import settings

    if WARM_CHILD or not is_mcp(argv):
        return None
    from secretctl.service import pwhandoff

    # The password hand-off re-executes the server, which a fork cannot keep warm: cold, as before
    # (and the re-executed server, which reads the password from a pipe of its own, stays cold too).
    if environ.get(settings.ENV_PASSWORD) or environ.get(pwhandoff.ENV_PASSWORD_FD):
        return None
    if not settings.warm_enabled(environ):
        return None  # SECRETCTL_WARM=0 in the client's config: this server starts cold
    import sys

    from secretctl.service import warmclient

    # The whole argv, program name included: the child's sys.argv, read by cli/main.py as ours is.
    return warmclient.hand_off(settings.warm_socket_file(environ), [sys.argv[0], *argv])
