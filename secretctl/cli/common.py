"""Shared plumbing for the CLI command groups: opening the vault, the password, output.

Only this package prints. Errors are raised as SecretctlError and printed by cli/main.py.
Typer-free: the start-up fast path for `get` uses it without loading Typer.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from secretctl.cli.state import STATE
from secretctl.errors import IdentityError, UsageError
from secretctl.service import Secret, settings

TYPE_CHECKING = False  # typing costs every start ~3 ms to import: for mypy only
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any


def stdin_is_tty() -> bool:
    try:
        return os.isatty(sys.stdin.fileno())
    except (ValueError, OSError, AttributeError):  # AttributeError: stdin closed at start (sys.stdin is None)
        return False


def read_stdin(limit: int, *, what: str) -> bytes:
    """Up to ``limit`` + 1 bytes of stdin; a closed stdin is a usage error, not a crash."""
    stream = getattr(sys.stdin, "buffer", None)
    if stream is None:
        raise UsageError(f"no {what}: stdin is closed",
                         hint="pipe it in (printf %s VALUE | secretctl ...), or run in a terminal")
    try:
        data: bytes = stream.read(limit + 1)
    except OSError as exc:
        raise UsageError(f"no {what}: cannot read stdin ({exc.strerror or type(exc).__name__})",
                         hint="pipe it in, or run in a terminal") from None
    return data


def stdout_is_tty() -> bool:
    try:
        return os.isatty(sys.stdout.fileno())
    except (ValueError, OSError):
        return False


class PasswordSource:
    """The master password: $SECRETCTL_PASSWORD, else a hidden prompt on a terminal. Never argv.
    ``tries``: how often the identity asks again after a wrong password (a person typing: 3;
    the variable: once, it would only fail the same way again)."""

    @property
    def tries(self) -> int:
        return 1 if settings.get(settings.ENV_PASSWORD) else 3

    def __call__(self) -> str:
        pw = settings.get(settings.ENV_PASSWORD)
        if pw:
            return pw
        if not stdin_is_tty():
            raise IdentityError("your identity is password-protected and there is no terminal to ask",
                                hint="run `secretctl unlock` first, set SECRETCTL_PASSWORD, or run in a terminal")
        import getpass

        pw = getpass.getpass("secretctl password: ")
        if not pw:
            raise IdentityError("no password given")
        return pw


password_source = PasswordSource()


def new_password(no_passphrase: bool) -> str | None:
    """The password for a new identity: None with --no-passphrase, $SECRETCTL_PASSWORD, or asked twice."""
    if no_passphrase:
        return None
    from secretctl.service import check_new_password

    pw = settings.get(settings.ENV_PASSWORD)
    if pw:
        check_new_password(pw)
        return pw
    if not stdin_is_tty():
        raise UsageError("a new identity needs a password and there is no terminal to ask",
                         hint="set SECRETCTL_PASSWORD, or pass --no-passphrase for automation")
    return _ask_new_password()


def read_new_password() -> str:
    """A replacement password (identity passwd): asked twice on a terminal, else one line of stdin.
    Never $SECRETCTL_PASSWORD: that one holds the current password."""
    from secretctl.service import check_new_password

    if stdin_is_tty():
        return _ask_new_password()
    line = sys.stdin.buffer.readline(64 * 1024).decode("utf-8", errors="replace").removesuffix("\n")
    line = line.removesuffix("\r")
    check_new_password(line)
    return line


def _ask_new_password() -> str:
    """A new password typed twice on the terminal (getpass reads /dev/tty, with no echo)."""
    import getpass

    from secretctl.service import check_new_password

    first = getpass.getpass("new secretctl password: ")
    if not first:
        raise UsageError("empty password", hint="choose one, or pass --no-passphrase")
    check_new_password(first)
    if getpass.getpass("repeat password: ") != first:
        raise UsageError("the passwords do not match", hint="run the command again and type the same password twice")
    return first


def open_vault(vault: str | None = None, *, require: bool = True) -> Any:
    from secretctl.service.base import locate
    from secretctl.service.vault import Vault

    root = locate(vault or STATE.vault_dir, settings.environ(), Path.cwd())
    v = Vault(root, identity_path=settings.identity_path(), password=password_source,
              actor=settings.get(settings.ENV_ACTOR), agent_socket=settings.agent_socket_path(), notify=say)
    return v.require() if require else v


def unlocked_identity() -> Any:
    """The identity for commands without a vault (restore, identity show): the unlock agent
    when one runs, else the identity file (which may prompt)."""
    from secretctl.service import agentsock
    from secretctl.service import identity as identity_mod

    path = settings.identity_path()
    try:
        return agentsock.AgentIdentity.open(settings.agent_socket_path(), path, identity_mod.pub_recipient(path))
    except agentsock.AgentUnavailable:
        return identity_mod.load(path, password_source)


def read_secret_input(prompt: str, *, confirm: bool = True) -> Secret:
    """A value from stdin (one trailing newline dropped) or a hidden prompt on a terminal."""
    if stdin_is_tty():
        import getpass

        first = getpass.getpass(prompt)
        if confirm and getpass.getpass("repeat: ") != first:
            raise UsageError("the values do not match")
        if not first:
            raise UsageError("empty value", hint="type a value, pipe one on stdin, or use --generate")
        return Secret(first.encode())
    data = read_stdin(64 * 1024 * 1024, what="value")
    if len(data) > 64 * 1024 * 1024:
        raise UsageError("value larger than 64 MiB")
    if data.endswith(b"\r\n"):
        data = data[:-2]
    elif data.endswith(b"\n"):
        data = data[:-1]
    if not data:
        raise UsageError("empty value on stdin", hint="pipe the value in, use --from-file, or --generate")
    return Secret(data)


def emit_json(data: Any) -> None:
    """Indented for a person at a terminal; compact for a pipe, as `gh --json` does. Python's
    JSON encoder is in C only without indentation: a 10,000-secret list is 0.6 s faster."""
    try:
        tty = os.isatty(sys.stdout.fileno())
    except (OSError, ValueError):
        tty = False
    sys.stdout.write(json.dumps(data, indent=2 if tty else None, ensure_ascii=False) + "\n")


def say(line: str) -> None:
    """One line on stderr, such as what the recovery of an interrupted command did."""
    sys.stderr.write(f"secretctl: {line}\n")


def warn(message: str) -> None:
    sys.stderr.write(f"secretctl: warning: {message}\n")


def info(message: str) -> None:
    sys.stderr.write(f"{message}\n")


def print_warnings(vault: Any, keys: list[str]) -> None:
    for w in vault.expiry_warnings(keys):
        warn(w.message)


def confirm(question: str) -> bool:
    if not stdin_is_tty():
        raise UsageError(f"{question} needs confirmation and there is no terminal", hint="pass -y/--yes")
    answer = input(f"{question} [y/N] ")
    return answer.strip().lower() in ("y", "yes")


class Progress:
    """A rich progress bar on a terminal's stderr for long work; silent otherwise.

    Redrawn from ``update`` (at most every 0.1 s), not by rich's refresh thread: a bulk command
    forks a worker for its cryptography only while it runs a single thread (infra/forked)."""

    def __init__(self, label: str, total: int | Callable[[], int] | None) -> None:
        """``total`` may be a function, called only when there is a terminal to draw on (a
        re-encryption counted every key with a walk of the vault that only the bar used)."""
        self.label, self._total = label, total
        self.total: int | None = None
        self._bar: Any = None
        self._task: Any = None
        self._drawn = 0.0

    def __enter__(self) -> Progress:
        if not os.isatty(2):
            return self
        self.total = self._total() if callable(self._total) else self._total
        if (self.total or 0) >= 50:
            from rich.console import Console
            from rich.progress import Progress as RichProgress

            self._bar = RichProgress(console=Console(stderr=True), transient=True, auto_refresh=False)
            self._bar.__enter__()
            self._task = self._bar.add_task(self.label, total=self.total)
        return self

    def update(self, done: int, total: int | None = None) -> None:
        if self._bar is not None:
            import time

            self._bar.update(self._task, completed=done, total=total or self.total)
            if time.monotonic() - self._drawn >= 0.1:
                self._bar.refresh()
                self._drawn = time.monotonic()

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)


def print_version() -> None:
    from importlib.metadata import version

    sys.stdout.write(f"secretctl {version('secretctl')}\n")
