"""The MCP server for agents, over stdio: what `secretctl mcp-server` (and `mcp`) runs, from
Typer (cli/mcp.py) or, for its plain forms, straight from cli/main.py without Typer
(``mcplaunch.plain_form``): Typer's import and app were ~50 ms of every cold server's start, and
twice that with SECRETCTL_PASSWORD, whose hand-off restarts the process."""

from __future__ import annotations

import fcntl
import sys
from typing import TYPE_CHECKING, Any

from secretctl.service import settings

if TYPE_CHECKING:
    from secretctl.service.session import AgentSession


def serve(vault: str | None) -> None:
    """Serve the vault (``vault``: the --vault given, else None) until the client closes stdin."""
    from secretctl.service import hardening, pwhandoff

    # The server lives long and runs agent commands: its environment block (readable in
    # /proc/<pid>/environ) must not hold the password. This re-executes the server once,
    # before it is made undumpable (an exec makes a process dumpable again), and before the
    # imports below: the process it replaces would import them for nothing.
    held, handoff_warning = pwhandoff.take_password()
    from pathlib import Path

    from secretctl.errors import VaultLockedError
    from secretctl.service.base import locate
    from secretctl.service.vault import Vault

    if handoff_warning:
        sys.stderr.write(f"secretctl: warning: {handoff_warning}\n")
    # The server holds the unlocked identity and every value for its whole life: no other
    # process of this user may read its memory or environment (/proc/<pid>/mem, environ, ptrace).
    hardening.collect_promptly()  # cycles holding a value are freed at Python's pace (cli/main.py collects less)
    if not hardening.set_not_dumpable():
        sys.stderr.write("secretctl: warning: could not make the server undumpable on this OS; "
                         "same-user processes may read its memory\n")

    def password() -> str:
        pw = held
        if not pw:
            raise VaultLockedError("vault locked: run `secretctl unlock`",
                                   hint="the MCP server cannot prompt (stdin is the protocol): unlock the agent, "
                                        "or set SECRETCTL_PASSWORD in the MCP client's server config")
        return pw

    root = locate(vault, settings.environ(), Path.cwd())
    from secretctl.cli.common import say

    v = Vault(root, identity_path=settings.identity_path(), password=password,
              actor=settings.get(settings.ENV_ACTOR), agent_socket=settings.agent_socket_path(), notify=say).require()
    locked = False
    try:
        v.unlock()  # a wrong password fails now, with a clear message, not on the agent's first call
    except VaultLockedError as exc:
        locked = True
        sys.stderr.write(f"secretctl: warning: {exc.message}; the tools answer so until you do\n")

    from secretctl.service.session import AgentSession

    session = AgentSession(v)
    for w in session.warnings:
        sys.stderr.write(f"secretctl: warning: {w}\n")
    if not locked:
        # On a thread: tools/list and the read tools answer meanwhile; runs wait. Locked meanwhile
        # (the agent forgot the key): built on the first call after `unlock`. Started before the
        # SDK import (~0.5 s of CPU): on a big vault a forked child reads and decrypts meanwhile,
        # which it can only be forked while this process runs one thread (service/allvalues.py).
        # A warm server's fork has the SDK imported already: a collector would overlap nothing
        # there and cost a fork of that bigger process before the first answer.
        from secretctl.cli import mcplaunch

        session.start_redactor(head_start=not mcplaunch.WARM_CHILD)
    import logging

    # The SDK logs to stderr; keep it to warnings so the client's log stays readable.
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="secretctl-mcp: %(message)s")
    from secretctl.mcp import early

    # A warm server's fork has the SDK already; SECRETCTL_MCP_EARLY=0 lets the SDK answer all.
    answers = None if "mcp" in sys.modules or settings.get(settings.ENV_MCP_EARLY) == "0" else early.load_answers()
    if answers is None:
        from secretctl.mcp.server import build_server

        server = build_server(session)
        session.serving()
        server.run("stdio")
        return
    _serve_early(session, answers)


def _serve_early(session: AgentSession, answers: dict[str, Any]) -> None:
    """Answer `initialize` and `tools/list` while the SDK is imported on a thread (mcp/early.py),
    then hand the session to it. Threads start only now: the collector was forked before."""
    import os
    import threading

    from secretctl.mcp import early

    # As the SDK's stdio transport does: the wire moves to private descriptors, and fd 0 and 1
    # point at /dev/null and stderr, so no handler or child reads or writes the protocol.
    rfd, wfd = (fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3) for fd in (0, 1))
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(2, 1)
    rfile = os.fdopen(rfd, "rb")
    from secretctl.service import store

    def write(data: bytes) -> None:
        store.write_all(wfd, data)

    built: list[Any] = []
    failed: list[BaseException] = []

    def build() -> None:
        try:
            from secretctl.mcp.server import build_server

            built.append(build_server(session))
        except BaseException as exc:  # re-raised by the main thread, which owns the process
            failed.append(exc)
        session.serving()

    importer = threading.Thread(target=build, name="secretctl-mcp-import", daemon=True)
    importer.start()
    handover = early.serve(rfile, write, answers)
    importer.join()
    if failed:
        raise failed[0]
    if handover.eof:
        return
    from secretctl.mcp.server import run_handed_over

    run_handed_over(built[0], handover, rfile, write)
