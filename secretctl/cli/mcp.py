"""mcp-server (alias mcp): the MCP server for agents, over stdio (cli/mcpserve.py serves)."""

from __future__ import annotations

from typing import Annotated

import typer


def mcp_server(
    vault: Annotated[str | None, typer.Option("--vault", help="Vault directory (default as for every command).")]
    = None,
) -> None:
    """Serve the vault to an agent over stdio (Claude Code, Claude Desktop, any MCP client).

    Decryption goes through the unlock agent (`secretctl unlock`) when one runs; else the identity
    is unlocked from SECRETCTL_PASSWORD (never a prompt: stdin is the protocol). While neither is
    there, the tools answer "vault locked". The committed .secretctl/policy.yaml decides what the
    agent may run."""
    from secretctl.cli.mcpserve import serve
    from secretctl.cli.state import STATE

    serve(vault or STATE.vault_dir)


def register(app: typer.Typer) -> None:
    app.command("mcp-server")(mcp_server)
    app.command("mcp", hidden=True)(mcp_server)
