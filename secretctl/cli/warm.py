"""The warm MCP server process (``python -P -m secretctl.cli.warm --socket PATH``), which
`secretctl unlock` starts beside the unlock agent: it imports what `secretctl mcp` imports (the
MCP SDK alone is about 0.8 s of CPU), then forks one server per launcher
(service.warmserver has the socket and fork mechanics; cli/mcplaunch.py is the launcher).

Each child runs ``cli.main.main()`` on the launcher's argv and environment: the same code path a
cold `secretctl mcp` runs, from the start (the password hand-off, the undumpable flag, the
vault, the server). The parent imports modules and nothing else: no vault, no identity, no
setting (settings reads the environment only when asked, and the child asks with the client's).
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

from secretctl.cli import mcplaunch

TYPE_CHECKING = False
if TYPE_CHECKING:
    from secretctl.service import warmserver

# What `secretctl mcp-server` imports before its first answer, found with `python -X importtime`;
# a module missing here is imported by each child instead (slower, never wrong). Nothing here
# may read the environment, a file of the user's or start a thread at import: typer.rich_utils is
# left out on purpose (it reads TERMINAL_WIDTH, FORCE_COLOR... at import; a child imports it with
# its client's environment when it prints a usage error), and typer.core's one such read is
# redone in the child (_reread_import_time_settings).
PRELOAD = (
    "typer", "click", "rich", "logging", "json", "secretctl.cli.app", "secretctl.cli.mcp", "secretctl.cli.common",
    "secretctl.cli.mcpserve",
    "mcp", "mcp.server.mcpserver", "mcp.server.stdio", "anyio", "pydantic", "secretctl.mcp.server",
    "secretctl.service.session", "secretctl.service.vault", "secretctl.service.base", "secretctl.service.run",
    "secretctl.infra.identity", "secretctl.infra.crypto", "secretctl.infra.hardening", "secretctl.infra.pwhandoff",
    "secretctl.core.redact", "secretctl.core.policy", "secretctl.core.schema", "yaml", "pyrage", "hyperscan",
    "secretctl.cli.main", "secretctl.cli.grammar", "secretctl.infra.agentsock", "secretctl.infra.journal",
    "secretctl.core.intent", "secretctl.service.keywalk", "anyio._backends._asyncio", "anyio.streams.stapled",
    "rich.console", "rich.logging", "typer._click.decorators", "ctypes", "ctypes.util",
)


def preload() -> list[str]:
    """Import PRELOAD; the names that failed (an optional package missing is no reason to stop)."""
    missing = []
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except Exception:  # any import failure: that child imports it itself, or fails as cold would
            missing.append(name)
    return missing


def _serves(handoff: warmserver.Handoff) -> bool:
    """Only the MCP server is forked from here. Another command a same-uid peer names (`get`)
    would run with the warm process's start (no terminal, its session) rather than its own; the
    peer can run that command itself, cold."""
    import os

    return mcplaunch.is_mcp([os.fsdecode(a) for a in handoff.argv[1:]])


def _serve_child(_handoff: object) -> int:
    """In a forked child, with the launcher's stdio, folder, argv and environment adopted."""
    mcplaunch.WARM_CHILD = True  # this process is the server: never hand off again
    _reread_import_time_settings()
    from secretctl.cli import main as cli_main

    try:
        cli_main.main()
    except SystemExit as exc:
        code = exc.code
        if code is None:
            return 0
        if isinstance(code, int):
            return code & 0xFF
        sys.stderr.write(f"{code}\n")
        return 1
    return 0


def _reread_import_time_settings() -> None:
    """What a pre-imported package read from the environment at import, read again from the
    client's (the one found: Typer's TYPER_USE_RICH, which decides how usage errors look)."""
    typer_core = sys.modules.get("typer.core")
    if typer_core is not None:
        from secretctl.service import settings

        value = settings.get("TYPER_USE_RICH")
        typer_core.HAS_RICH = typer_core.parse_boolean_env_var(value, default=True)  # type: ignore[attr-defined]


def main(argv: list[str]) -> int:
    from secretctl.service import hardening, warmserver

    # No same-uid process may read or patch what every forked server starts from.
    hardening.set_not_dumpable()
    hardening.no_core_dumps()
    hardening.collect_promptly()  # it lives long; each forked child sets its own pace (cli/main.py)
    opts = dict(zip(argv[::2], argv[1::2], strict=False))
    socket_path = Path(opts["--socket"])
    preload()
    import gc

    # What is imported now lives as long as every fork: out of the collector's reach, so a child's
    # collections do not write to its pages (copy-on-write). Measured: a forked server's private
    # dirty memory after its first secret_run at 10,000 secrets 126 -> 111 MB (3 runs each); its
    # CPU did not change beyond noise.
    gc.collect()
    gc.freeze()
    line = sys.stdin.readline().strip()  # the unlock agent's pid, once `unlock` has it
    if not line.isdigit():
        return 0  # unlock failed (or was interrupted): nothing to serve
    try:
        held = warmserver.listen(socket_path)
    except Exception as exc:  # reported to `unlock`, which carries on without a warm server
        warmserver.report_ready({"state": "error", "error": type(exc).__name__})
        return 1
    if held is None:
        warmserver.report_ready({"state": "running"})  # another warm server serves this socket
        return 0
    listener, lock_fd = held
    server = warmserver.Server(listener, socket_path, agent_pid=int(line), child=_serve_child, lock_fd=lock_fd,
                               accepts=_serves)
    warmserver.report_ready({"state": "ok", "pid": server.status()["pid"]})
    warmserver.detach()
    try:
        server.serve()
    finally:
        import os

        os.close(lock_fd)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
