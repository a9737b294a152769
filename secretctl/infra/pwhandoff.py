"""Take the master password out of a long-lived process's environment (the MCP server).

DANGEROUS CODE, kept apart: it replaces the running process.

Deleting a variable from the process's environment mapping does not scrub the process's environment block: any
same-user process can still read it in ``/proc/<pid>/environ`` for as long as the server runs.
So the server re-executes itself once at start, without the variable, and passes the password
through an inherited pipe; the new process reads it and closes the pipe. The pid stays the
same (stdio to the MCP client is untouched).
"""

from __future__ import annotations

import os
import sys

from secretctl.infra import settings

ENV_PASSWORD_FD = "SECRETCTL_PASSWORD_FD"
MAX_PASSWORD_BYTES = 64 * 1024


def take_password() -> tuple[str | None, str | None]:
    """(the password, a warning), with no copy left in this process's environment block.

    First call in a process whose environment holds SECRETCTL_PASSWORD: does not return (the
    process is replaced). In the replacement: reads the pipe and returns the password. With
    no password anywhere: None. If the process cannot be replaced, the password is taken out
    of the environment mapping only, and the warning says the block still holds it."""
    fd_text = settings.take(ENV_PASSWORD_FD)
    if fd_text is not None:
        return _read_pipe(int(fd_text)), None
    pw = settings.get(settings.ENV_PASSWORD)
    if not pw:
        return None, None
    try:
        _reexec_without(pw)
    except OSError as exc:
        settings.take(settings.ENV_PASSWORD)
        return pw, (f"could not restart without SECRETCTL_PASSWORD ({exc.strerror}): this process's environment "
                    "block still holds it")
    return None, None  # not reached


def _read_pipe(fd: int) -> str:
    chunks: list[bytes] = []
    try:
        while sum(len(c) for c in chunks) <= MAX_PASSWORD_BYTES:
            block = os.read(fd, 4096)
            if not block:
                break
            chunks.append(block)
    finally:
        os.close(fd)
    return b"".join(chunks).decode("utf-8", errors="surrogateescape")


def _reexec_without(pw: str) -> None:
    data = pw.encode("utf-8", errors="surrogateescape")
    if len(data) > MAX_PASSWORD_BYTES:
        data = data[:MAX_PASSWORD_BYTES]
    r, w = os.pipe()
    # A password fits the pipe's buffer (64 KiB on Linux, 16 KiB at least elsewhere): no reader needed yet.
    os.write(w, data)
    os.close(w)
    os.set_inheritable(r, True)
    env = {k: v for k, v in settings.environ().items() if k != settings.ENV_PASSWORD}
    env[ENV_PASSWORD_FD] = str(r)
    sys.stdout.flush()
    sys.stderr.flush()
    argv = list(getattr(sys, "orig_argv", None) or [sys.executable, *sys.argv])
    # /proc/self/exe is the very binary running now: no path lookup (which can fail where the
    # interpreter's folders are not searchable by this user) and nothing swapped in between.
    exe = "/proc/self/exe" if os.path.exists("/proc/self/exe") else sys.executable
    try:
        os.execve(exe, [sys.executable, *argv[1:]], env)  # noqa: S606 - re-exec ourselves, argv as started
    finally:
        os.close(r)  # only reached when the exec failed
