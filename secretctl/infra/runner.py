"""The one home of subprocess: resolving commands and running children with secrets.

Every child runs in its own session and process group. When it exits, times out or
secretctl is signalled, the whole group is killed (SIGTERM, then SIGKILL after a grace
period), so nothing it started outlives the run holding secrets in its environment.
Output is read from pipes and passed through a stream filter (the redactor) chunk by
chunk: memory stays bounded however much the child prints.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence

from secretctl.core.frozen import frozen
from secretctl.errors import RunError

TYPE_CHECKING = False
if TYPE_CHECKING:  # for mypy only: pathlib costs `run`'s start-up ~5 ms of imports
    from pathlib import Path
    from typing import IO, BinaryIO, Protocol

    class StreamFilter(Protocol):
        def feed(self, chunk: bytes) -> bytes: ...
        def flush_idle(self) -> bytes: ...
        def close(self) -> bytes: ...

# Up to this much is read at a time, and the child's pipes are grown to hold it (Linux: 64 KiB by
# default): each read costs the redactor a fixed ~0.1 ms of Python on top of its per-byte work, so
# a writer that runs ahead is read in fewer, larger pieces (log text in-process: 110 -> 126 MB/s of
# CPU with 10 values, 94 -> 113 with 1,000, 64 -> 256 KiB reads). A read returns what is there: a
# slow writer's lines still come out as they are written.
CHUNK = 256 * 1024
IDLE_FLUSH = 0.05
KILL_GRACE = 2.0
TIMEOUT_EXIT = 124
AGENT_ENV_FIXED = {"PAGER": "cat", "GIT_PAGER": "cat", "AWS_PAGER": "", "MANPAGER": "cat", "GIT_TERMINAL_PROMPT": "0",
                   "NO_COLOR": "1"}


class CommandNotFound(RunError):
    exit_code = 127


class CommandNotExecutable(RunError):
    exit_code = 126


@frozen
class ResolvedCommand:
    given: str
    path: str  # absolute path found through PATH (or given)
    realpath: str  # after following symlinks
    name: str  # basename of realpath: what it really is

    def sha256(self) -> str:
        import hashlib

        h = hashlib.sha256()
        with open(self.realpath, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        return h.hexdigest()


def _absolute(base: str | Path, name: str) -> str:
    """``str((Path(base) / name).absolute())``: pathlib's spelling of the path (no ``//`` or ``.``
    segments, no trailing slash), which the child sees as its argv[0]. A path already spelled that
    way (the usual PATH entry) skips pathlib, whose import costs `run`'s start-up ~5 ms."""
    joined = os.path.join(base, name)
    if (joined.startswith("/") and not joined.endswith(("/", "/.")) and "//" not in joined
            and "/./" not in joined):
        return joined
    from pathlib import Path

    return str(Path(joined).absolute())


def resolve_command(name: str, path_env: str | None, cwd: str | Path) -> ResolvedCommand:
    """Find ``name`` as the OS would (a name with a slash is a path), then follow symlinks."""
    if not name:
        raise CommandNotFound("empty command")
    if "/" in name:
        candidate = _absolute(cwd, name)
        found = candidate if os.path.exists(candidate) else None
    else:
        found = None
        for d in (path_env or os.defpath).split(os.pathsep):
            c = _absolute(d or ".", name)
            if os.path.isfile(c) and os.access(c, os.X_OK):
                found = c
                break
    if found is None:
        raise CommandNotFound(f"command not found: {name}", hint="check the name and PATH")
    real = os.path.realpath(found)
    if not os.path.isfile(real) or not os.access(real, os.X_OK):
        raise CommandNotExecutable(f"command not executable: {name}", hint="check its permissions")
    return ResolvedCommand(name, found, real, os.path.basename(real))


def person_env(base: Mapping[str, str], injected: Mapping[str, str]) -> dict[str, str]:
    """The caller's environment minus every SECRETCTL_* (the password never reaches a child)."""
    env = {k: v for k, v in base.items() if not k.startswith("SECRETCTL_")}
    env.update(injected)
    return env


def agent_env(base: Mapping[str, str], allow: Sequence[str], injected: Mapping[str, str]) -> dict[str, str]:
    """An allow-list of the caller's environment, pagers off, plus the injected values."""
    env = {k: base[k] for k in allow if k in base and not k.startswith("SECRETCTL_")}
    env.update(AGENT_ENV_FIXED)
    env.update(injected)
    return env


@frozen
class RunResult:
    exit_code: int
    duration_ms: int
    timed_out: bool = False
    signal: int | None = None


@frozen
class CapturedResult:
    exit_code: int
    stdout: bytes
    stderr: bytes
    duration_ms: int
    truncated: bool
    timed_out: bool


def _kill_group(proc: subprocess.Popen[bytes], grace: float = KILL_GRACE) -> None:
    """SIGTERM the child's process group, then SIGKILL whatever is left after ``grace``."""
    try:
        pgid = os.getpgid(proc.pid)
    except ProcessLookupError:
        pgid = proc.pid
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 0.0)):
        try:
            os.killpg(pgid, sig)
        except (ProcessLookupError, PermissionError):
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not _group_alive(pgid):
                return
            time.sleep(0.01)


def _group_alive(pgid: int) -> bool:
    """Whether any process of the group still runs. Zombies do not count: they hold no
    secrets and cannot be killed (in a container nothing may ever reap them)."""
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    try:
        return any(group == pgid and state not in (b"Z", b"X") for _pid, state, _parent, group in _proc_stats())
    except OSError:
        return True


def _proc_stats() -> Iterator[tuple[int, bytes, int, int]]:
    """(pid, state, parent pid, process group) of each process in /proc, read one at a time
    (a process that ends meanwhile is skipped); OSError when /proc cannot be listed."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2 :].split()  # after the command name, which may hold spaces
        if len(fields) > 2:
            yield int(entry), fields[0], int(fields[1]), int(fields[2])


def _spawn(argv: Sequence[str], env: Mapping[str, str], stdin: int | None, cwd: Path | None,
           pass_fds: Sequence[int] = ()) -> subprocess.Popen[bytes]:
    try:
        return subprocess.Popen(
            list(argv), env=dict(env), stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            start_new_session=True, close_fds=True, cwd=cwd, pass_fds=tuple(pass_fds),
        )
    except FileNotFoundError:
        raise CommandNotFound(f"command not found: {argv[0]}") from None
    except PermissionError:
        raise CommandNotExecutable(f"command not executable: {argv[0]}") from None
    except OSError as exc:
        raise RunError(f"could not start {argv[0]}: {exc.strerror}") from None


def _pipes(proc: subprocess.Popen[bytes]) -> tuple[IO[bytes], IO[bytes]]:
    if proc.stdout is None or proc.stderr is None:
        raise RunError("internal: the child's output pipes are missing")
    return proc.stdout, proc.stderr


def _exit_code(proc: subprocess.Popen[bytes], timed_out: bool) -> tuple[int, int | None]:
    if timed_out:
        return TIMEOUT_EXIT, None
    rc = proc.returncode
    if rc is None:
        return 125, None
    if rc < 0:
        return 128 - rc, -rc
    return rc, None


def _pump(
    proc: subprocess.Popen[bytes],
    sinks: dict[int, Callable[[bytes], None]],
    filters: dict[int, StreamFilter],
    timeout: float | None,
    cancel: threading.Event | None = None,
) -> bool:
    """Read both pipes until EOF, through the filters into the sinks. Returns True on timeout."""
    sel = selectors.DefaultSelector()
    stdout, stderr = _pipes(proc)
    for f in (stdout, stderr):
        os.set_blocking(f.fileno(), False)
        _grow_pipe(f.fileno())
        sel.register(f.fileno(), selectors.EVENT_READ)
    open_fds = {stdout.fileno(), stderr.fileno()}
    deadline = None if timeout is None else time.monotonic() + timeout
    last_data = time.monotonic()
    idle_flushed = True
    timed_out = False
    exited_at: float | None = None
    try:
        while open_fds:
            now = time.monotonic()
            if deadline is not None and now >= deadline and not timed_out:
                timed_out = True
                _kill_escaped(proc)
                _kill_group(proc)
            if _cancelled(cancel, proc):
                deadline = None
            if exited_at is None and proc.poll() is not None:
                exited_at = now
                # The child is gone: anything it left running in its group goes too (and with it
                # the last writers of our pipes).
                threading.Thread(target=_kill_group, args=(proc, 0.5), daemon=True).start()
            wait = IDLE_FLUSH
            if deadline is not None and not timed_out:
                wait = max(0.0, min(wait, deadline - now))
            events = sel.select(wait)
            if not events:
                if not idle_flushed:
                    for fd in open_fds:
                        out = filters[fd].flush_idle()
                        if out:
                            sinks[fd](out)
                    idle_flushed = True
                if exited_at is not None and time.monotonic() - exited_at > KILL_GRACE + 1:
                    break  # a descendant escaped the group and holds the pipe: stop waiting
                continue
            for key, _ in events:
                fd = int(key.fd)
                try:
                    data = os.read(fd, CHUNK)
                except BlockingIOError:
                    continue
                if not data:
                    sel.unregister(fd)
                    open_fds.discard(fd)
                    continue
                out = filters[fd].feed(data)
                if out:
                    sinks[fd](out)
                last_data = time.monotonic()
                idle_flushed = False
        for fd, flt in filters.items():
            out = flt.close()
            if out:
                sinks[fd](out)
    finally:
        sel.close()
    del last_data
    return timed_out


def _grow_pipe(fd: int) -> None:
    """Let the pipe hold a whole CHUNK; where it cannot (no F_SETPIPE_SZ off Linux, or the user's
    pipe-size limit reached), it stays as it is and reads are just smaller."""
    import fcntl  # not flock: the pipe-size call (a built-in module, no import cost to speak of)

    setsize = getattr(fcntl, "F_SETPIPE_SZ", None)
    if setsize is not None:
        with contextlib.suppress(OSError):
            fcntl.fcntl(fd, setsize, CHUNK)


@contextlib.contextmanager
def _forward_signals(proc: subprocess.Popen[bytes]) -> Iterator[None]:
    """While the child runs, SIGINT/SIGTERM/SIGHUP sent to secretctl go to the child's group."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def forward(signum: int, _frame: object) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signum)

    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        previous[sig] = signal.signal(sig, forward)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _cancelled(cancel: threading.Event | None, proc: subprocess.Popen[bytes]) -> bool:
    """The caller gave up on this run (an MCP call cancelled or timed out by the client): kill
    the whole group at once, so nothing holding the secrets outlives the call."""
    if cancel is None or not cancel.is_set():
        return False
    _kill_escaped(proc)
    _kill_group(proc, 0.0)  # SIGTERM then SIGKILL at once: the caller is waiting on us
    return True


def _kill_escaped(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL every descendant of the child that left its process group (``setsid``), found
    through /proc while the child still holds them; the group kill gets the rest. (An agent
    run's pid namespace, where there is one, kills everything anyway.)"""
    try:
        pgid = os.getpgid(proc.pid)
    except ProcessLookupError:
        return
    children: dict[int, list[int]] = {}
    groups: dict[int, int] = {}
    try:
        for pid, _state, parent, group in _proc_stats():
            children.setdefault(parent, []).append(pid)
            groups[pid] = group
    except OSError:
        return
    todo, tree = [proc.pid], []
    while todo:
        pid = todo.pop()
        for child in children.get(pid, []):
            tree.append(child)
            todo.append(child)
    for pid in tree:
        if groups.get(pid) != pgid:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)


def _supervise(proc: subprocess.Popen[bytes], sinks: dict[int, Callable[[bytes], None]],
               make_filter: Callable[[], StreamFilter], timeout: float | None, *, forward_signals: bool,
               cancel: threading.Event | None = None) -> bool:
    """Pump the child's output to the sinks until it is done, then make sure nothing of its
    group survives. Returns True on timeout."""
    stdout, stderr = _pipes(proc)
    filters = {fd: make_filter() for fd in sinks}
    try:
        with _forward_signals(proc) if forward_signals else contextlib.nullcontext():
            timed_out = _pump(proc, sinks, filters, timeout, cancel)
            proc.wait()
    finally:
        if proc.poll() is None:
            _kill_group(proc)
            proc.wait()
        _kill_group(proc, 0.2)
        stdout.close()
        stderr.close()
    return timed_out


def run_streaming(
    argv: Sequence[str],
    env: Mapping[str, str],
    *,
    make_filter: Callable[[], StreamFilter],
    out: BinaryIO,
    err: BinaryIO,
    timeout: float | None = None,
    stdin_passthrough: bool = True,
    cwd: Path | None = None,
    pass_fds: Sequence[int] = (),
) -> RunResult:
    """Run for a person: stdin passes through, output streams (filtered) as it is produced."""
    start = time.monotonic()
    proc = _spawn(argv, env, None if stdin_passthrough else subprocess.DEVNULL, cwd, pass_fds)
    stdout, stderr = _pipes(proc)

    def writer(stream: BinaryIO) -> Callable[[bytes], None]:
        def write(data: bytes) -> None:
            with contextlib.suppress(BrokenPipeError):
                stream.write(data)
                stream.flush()
        return write

    sinks = {stdout.fileno(): writer(out), stderr.fileno(): writer(err)}
    timed_out = _supervise(proc, sinks, make_filter, timeout, forward_signals=True)
    code, sig = _exit_code(proc, timed_out)
    return RunResult(code, int((time.monotonic() - start) * 1000), timed_out, sig)


def run_captured(
    argv: Sequence[str],
    env: Mapping[str, str],
    *,
    make_filter: Callable[[], StreamFilter],
    timeout: float | None,
    max_output_bytes: int,
    cwd: Path | None = None,
    cancel: threading.Event | None = None,
    pass_fds: Sequence[int] = (),
) -> CapturedResult:
    """Run for an agent: stdin is /dev/null, no TTY, output captured (filtered) up to a cap.

    Past the cap the output is still read (and discarded) so the child never blocks on a
    full pipe; ``truncated`` says so.
    """
    start = time.monotonic()
    proc = _spawn(argv, env, subprocess.DEVNULL, cwd, pass_fds)
    stdout, stderr = _pipes(proc)
    bufs = {stdout.fileno(): bytearray(), stderr.fileno(): bytearray()}
    truncated = False

    def sink(fd: int) -> Callable[[bytes], None]:
        def write(data: bytes) -> None:
            nonlocal truncated
            room = max_output_bytes - len(bufs[fd])
            if room <= 0:
                truncated = True
                return
            if len(data) > room:
                truncated = True
                data = data[:room]
            bufs[fd] += data
        return write

    timed_out = _supervise(proc, {fd: sink(fd) for fd in bufs}, make_filter, timeout, forward_signals=False,
                           cancel=cancel)
    code, _ = _exit_code(proc, timed_out)
    out_fd, err_fd = list(bufs)
    return CapturedResult(code, bytes(bufs[out_fd]), bytes(bufs[err_fd]),
                          int((time.monotonic() - start) * 1000), truncated, timed_out)
