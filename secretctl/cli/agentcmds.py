"""unlock / lock / status: the unlock agent, which holds your identity so that commands stop
asking for the password (and stop paying for scrypt)."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from secretctl.cli.common import emit_json, info, stdin_is_tty
from secretctl.cli.options import JsonOpt
from secretctl.service import settings


def _seconds(text: str) -> float:
    from secretctl.service import parse_duration

    return parse_duration(text).total_seconds()


def _asker(protected: bool) -> Any:
    """The passphrase for attempt N: $SECRETCTL_PASSWORD once, a terminal three times, stdin once."""
    if not protected:
        return lambda _n: None
    env_pw = settings.get(settings.ENV_PASSWORD)
    tty = stdin_is_tty()

    def ask(attempt: int) -> str | None:
        if env_pw:
            return env_pw if attempt == 0 else None
        if tty:
            import getpass

            return getpass.getpass("secretctl password: ") or None
        if attempt:
            return None
        data = sys.stdin.buffer.read(64 * 1024)
        text = data.decode("utf-8", errors="replace")
        return text.removesuffix("\n").removesuffix("\r") or None

    return ask


class _KeyringAsker:
    """`unlock --keyring`: the kept passphrase is the first try; a wrong one (the passphrase was
    changed) is removed, and the usual prompt takes over; a right typed one is kept."""

    def __init__(self, path: Path, fallback: Any) -> None:
        from secretctl.service import oskeyring

        self.path, self.fallback, self.keyring = path, fallback, oskeyring
        self.kept = oskeyring.get(path)
        self.typed: str | None = None

    def ask(self, attempt: int) -> str | None:
        if self.kept is not None:
            if attempt == 0:
                return self.kept
            attempt -= 1
        self.typed = self.fallback(attempt)
        return self.typed

    def on_wrong(self, attempt: int) -> None:
        if self.kept is not None and attempt == 1:
            self.keyring.forget(self.path)
            info("the passphrase kept in the OS keyring is wrong (was it changed?); removed it")
        _on_wrong(attempt)

    def succeeded(self) -> None:
        if self.typed is not None:
            self.keyring.put(self.path, self.typed)
            info("kept the passphrase in the OS keyring; `secretctl lock --keyring` removes it")


def _on_wrong(attempt: int) -> None:
    from secretctl.service import MAX_TRIES

    if stdin_is_tty() and not settings.get(settings.ENV_PASSWORD):
        info(f"wrong password; try again ({MAX_TRIES - attempt} left)")


def _describe(st: Any) -> str:
    parts = []
    if st.expires_in is not None:
        parts.append(f"in {_fmt(st.expires_in)}")
    if st.idle_in is not None:
        parts.append(f"after {_fmt(st.idle_in)} unused")
    when = " or ".join(parts) if parts else "on `secretctl lock`"
    return f"unlocked: agent pid {st.pid} holds {st.recipient}; it forgets the key {when}"


def _fmt(seconds: float) -> str:
    s = max(0, int(seconds))
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def unlock(
    timeout: Annotated[str, typer.Option("--timeout", help="Forget the key this long after unlocking.")] = "15m",
    idle: Annotated[str, typer.Option("--idle", help="Forget the key after this long without a decryption.")]
    = "5m",
    foreground: Annotated[bool, typer.Option("--foreground", help="Serve in this process until locked "
                                             "(systemd and launchd units).")] = False,
    use_keyring: Annotated[bool, typer.Option("--keyring", help="Take the passphrase from the OS keyring, and "
                                              "keep it there once it is right (needs secretctl[keyring]; "
                                              "see docs/security.md for what it trades).")] = False,
    no_warm: Annotated[bool, typer.Option("--no-warm", help="Do not start the warm MCP server (a secret-free "
                                          "process that starts `secretctl mcp` servers fast; docs/mcp.md); "
                                          "SECRETCTL_WARM=0 does the same.")]
    = False,
) -> None:
    """Start the unlock agent: it asks for your password once (a terminal, $SECRETCTL_PASSWORD or
    stdin) and decrypts for your commands, the hooks and the MCP server until it forgets the key."""
    from secretctl.errors import IdentityError, VaultLockedError
    from secretctl.service import agentsock, unlock_agent
    from secretctl.service import identity as identity_mod

    timeout_s, idle_s = _seconds(timeout), _seconds(idle)
    no_warm = no_warm or not settings.warm_enabled()
    path = settings.identity_path()
    sock = settings.agent_socket_path()
    if not path.exists():
        raise IdentityError(f"no identity at {path}", hint="create one with `secretctl identity new`")
    try:
        client = agentsock.AgentClient(sock)
        st = client.status()
        client.close()
        info(f"already {_describe(st)}")
        if not no_warm and _warm_status() is None:
            _warm_ready(_warm_start(), st.pid)  # a killed warm server's socket is replaced
        return
    except agentsock.AgentUnavailable:
        pass
    protected = identity_mod.is_protected(path.read_bytes()[:64])
    keep = _KeyringAsker(path, _asker(protected)) if use_keyring and protected else None
    if use_keyring and not protected:
        info("the identity has no passphrase: there is nothing to keep in the OS keyring")
    ask = keep.ask if keep else _asker(protected)
    on_wrong = keep.on_wrong if keep else _on_wrong
    # Started now, so its imports overlap the passphrase prompt and the scrypt work.
    warm = None if no_warm else _warm_start()
    if foreground:
        def ready(agent: Any) -> None:
            if keep:
                keep.succeeded()
            if warm is not None:
                import os

                _warm_ready(warm, os.getpid())
            info(f"unlocked; serving at {sock} until the key is forgotten (memory locked: "
                 f"{'yes' if agent.memory_locked else 'no'})")

        try:
            unlock_agent.serve_foreground(path, sock, ask, timeout=timeout_s, idle=idle_s, ready=ready,
                                          on_wrong=on_wrong)
        finally:
            if warm is not None:
                warm.cancel()
        info("locked: the agent has forgotten the key")
        return
    try:
        pid = unlock_agent.spawn(path, sock, ask, protected=protected, timeout=timeout_s, idle=idle_s,
                                 environ=dict(settings.environ()), on_wrong=on_wrong)
    except BaseException:
        if warm is not None:
            warm.cancel()
        raise
    if keep:
        keep.succeeded()
    if warm is not None:
        _warm_ready(warm, pid)
    try:
        client = agentsock.AgentClient(sock)
        info(_describe(client.status()))
        client.close()
    except agentsock.AgentUnavailable:
        # It unlocked, then stopped before it could say so: a --timeout shorter than a busy
        # machine's start-up, or killed. It escaped as an internal error (exit 70).
        raise VaultLockedError(f"the unlock agent (pid {pid}) stopped right after it unlocked",
                               hint="its --timeout or --idle may have passed already; run `secretctl unlock` "
                                    "again (`secretctl status` shows whether an agent runs)") from None


def _warm_start() -> Any:
    from secretctl.service import warmctl

    return warmctl.Starting("secretctl.cli.warm", Path(settings.warm_socket_file()), settings.environ())


def _warm_ready(warm: Any, agent_pid: int) -> None:
    """Wait for the warm server to listen; if it cannot, `secretctl mcp` simply starts cold."""
    report = warm.ready(agent_pid)
    if report.get("state") == "ok":
        info(f"warm MCP server: pid {report['pid']} (`secretctl mcp` forks from it; `unlock --no-warm` skips it)")
    elif report.get("state") != "running":
        info(f"warning: the warm MCP server did not start ({report.get('error', 'unknown')}); "
             "`secretctl mcp` starts cold")


def _warm_status() -> dict[str, Any] | None:
    from secretctl.service import warmctl

    return warmctl.status(settings.warm_socket_file())


def _warm_stop() -> bool:
    from secretctl.service import warmctl

    return warmctl.stop(settings.warm_socket_file())


def lock(
    forget_keyring: Annotated[bool, typer.Option("--keyring", help="Also remove the passphrase that "
                                                 "`unlock --keyring` kept in the OS keyring.")] = False,
) -> None:
    """Make the unlock agent forget the key (it exits and removes its socket)."""
    from secretctl.service import agentsock

    if forget_keyring:
        from secretctl.service import oskeyring

        removed = oskeyring.forget(settings.identity_path())
        info("removed the passphrase from the OS keyring" if removed else "no passphrase was kept in the OS keyring")
    sock = settings.agent_socket_path()
    client = agentsock.AgentClient(sock)
    warm_stopped = _warm_stop()  # it would stop with the agent anyway; now, so `lock` returns with it gone
    try:
        client.lock()
    except agentsock.AgentUnavailable:
        info("locked (no agent was running)" + ("; stopped the warm MCP server" if warm_stopped else ""))
        return
    # Wait for the socket to go, so the next command cannot find it.
    deadline = time.monotonic() + 5
    while sock.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    info("locked: the agent has forgotten the key")


def status(json_out: Annotated[bool, JsonOpt] = False) -> None:
    """Whether an unlock agent holds your identity (exit 0), or not (exit 1)."""
    from secretctl.service import agentsock

    sock = settings.agent_socket_path()
    client = agentsock.AgentClient(sock)
    warm = _warm_status()
    try:
        st = client.status()
    except agentsock.AgentUnavailable:
        if json_out:
            emit_json({"unlocked": False, "socket": str(sock), "warm": warm})
        else:
            sys.stdout.write("locked: no unlock agent is running (secretctl unlock)\n")
            if warm is not None:
                sys.stdout.write(_describe_warm(warm) + "\n")
        raise typer.Exit(1) from None
    finally:
        client.close()
    if json_out:
        emit_json({"unlocked": True, "socket": str(sock), "pid": st.pid, "recipient": st.recipient,
                   "expires_in": st.expires_in, "idle_in": st.idle_in, "memory_locked": st.memory_locked,
                   "refused_peers": st.refused_peers, "warm": warm})
    else:
        sys.stdout.write(_describe(st) + "\n")
        sys.stdout.write((_describe_warm(warm) if warm is not None else "warm MCP server: not running "
                          "(`secretctl mcp` starts cold)") + "\n")


def _describe_warm(warm: dict[str, Any]) -> str:
    stale = "; stale (installed files changed): it stops at the next `secretctl mcp`" if warm.get("stale") else ""
    return f"warm MCP server: pid {warm.get('pid')}, serving {warm.get('serving')} MCP client(s){stale}"


def register(app: typer.Typer) -> None:
    app.command("unlock")(unlock)
    app.command("lock")(lock)
    app.command("status")(status)
