"""A person's `run` once its values are read: the command line, the child streamed through the
redactor, and the access record's details. `run_person` (service/run.py) and `run`'s start-up
fast path (service/fastrun.py) both run the child through here, so the child, its output and the
record are the same whichever path read the values.

Its own module, away from service/run.py (policy, sandbox, program checks: ~50 ms of imports
that a person's run never uses).
"""

from __future__ import annotations

import threading

from secretctl.core import envmap
from secretctl.core.redact import Layered, Redactor, decode, load_detectors_meanwhile
from secretctl.infra import detcache, runner
from secretctl.service.buildthread import BackgroundBuild

# A person's run compiles its redactor at the child's first output, or this long after the child
# started: a command that ends silently before then never compiles (1,000 values: ~0.7 s of CPU).
LAZY_COMPILE = 0.05

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from pathlib import Path
    from typing import Any, BinaryIO

    from secretctl.core.policy import Policy
    from secretctl.core.redact import RedactStream
    from secretctl.core.secret import Secret
    from secretctl.infra.runner import ResolvedCommand, StreamFilter


def command_line(command: str, args: Sequence[str], env: Mapping[str, str], *, path_env: str,
                 cwd: str | Path) -> tuple[ResolvedCommand, list[str]]:
    """The program (found through the caller's PATH) and its arguments, ``$NAME`` expanded for
    the injected names; refuses a config-redirecting name (a person's run has no rule naming one)."""
    refs = envmap.referenced(args, set(env))
    resolved = runner.resolve_command(command, path_env, cwd)
    envmap.check_redirects(env, ())
    return resolved, envmap.expand_args(args, env, set(env)) if refs else list(args)


def child_env(base: Mapping[str, str], injected: Mapping[str, str], *, agent_socket: str | None = None
              ) -> dict[str, str]:
    """The caller's environment (no SECRETCTL_*) plus the injected values; the unlock agent's
    socket only where the person opted in (`run --with-agent`): the child's own secretctl calls
    may then use the agent. Otherwise nothing in its environment points at the socket."""
    env = runner.person_env(base, injected)
    if agent_socket is not None:
        from secretctl.infra import settings

        env[settings.ENV_AGENT_SOCKET] = agent_socket
    return env


def redactor(values: Mapping[str, Secret], policy: Policy | None, *, compiled: bool = True,
             detect: bool = True) -> Redactor:
    if detect:
        detcache.install()
    if policy is None:
        return Redactor.build(values, compiled=compiled, detect=detect)
    return Redactor.build(values, fragment_min=policy.fragment_min, fragment_value_min=policy.fragment_value_min,
                          compiled=compiled, detect=detect)


def _with_detectors(checker: Redactor) -> Redactor:
    """The output's redactor: the checker compiled, with the detector set (loaded meanwhile: a
    cold cache compiles it, and the two compiles overlap)."""
    detcache.install()  # here, not for the command line's check: it imports the detector set's module
    load_detectors_meanwhile()
    return checker.compile().with_detectors()


class _NotNeeded(Exception):
    """A lazy build the run ended without needing."""


class Deferred(BackgroundBuild[Redactor | Layered]):
    """The redactor, built on a thread while the child starts (compiling 1,000 values takes about
    a second): the child's first output (and an agent-mode run's access log) waits for it; a
    child that prints nothing never waits. A failed build fails the run (nothing is released
    unredacted).

    ``lazy``: the build starts at the child's first output or ``lazy`` seconds after the child
    started, whichever is first, and not at all once the run ended (``cancel``): a silent command
    never pays for a compile that would compete with it and with the exit for the cores."""

    def __init__(self, target: Callable[[], Redactor | Layered], *, lazy: float | None = None) -> None:
        self._wanted = threading.Event()
        self._cancelled = False
        if lazy is None:
            self._wanted.set()

        def when_wanted() -> Redactor | Layered:
            self._wanted.wait(lazy)
            if self._cancelled:
                raise _NotNeeded
            return target()

        super().__init__(when_wanted)

    def want(self) -> Redactor | Layered:
        self._wanted.set()
        return self.wait()

    def cancel(self) -> None:
        """The run is over: a build not started yet never starts (one under way just finishes)."""
        self._cancelled = True
        self._wanted.set()

    def stream(self) -> DeferredStream:
        return DeferredStream(self)


class DeferredStream:
    def __init__(self, deferred: Deferred) -> None:
        self._d = deferred
        self._s: RedactStream | None = None

    def feed(self, chunk: bytes) -> bytes:
        if self._s is None:
            self._s = self._d.want().stream()
        return self._s.feed(chunk)

    def flush_idle(self) -> bytes:
        return b"" if self._s is None else self._s.flush_idle()

    def close(self) -> bytes:
        return b"" if self._s is None else self._s.close()


def logged_argv(argv: Sequence[str], finder: Redactor | Layered, digest: Callable[[str], str]) -> list[str]:
    """argv for the access log (committed to git): as written (``$NAME`` unexpanded), except that
    an argument holding a value, an encoding or a fragment of one is replaced by a keyed hash
    (``digest``); a redacted copy would still show the rest of a guess."""
    return [digest(a) if finder.contains(a.encode("utf-8", errors="surrogateescape")) else a for a in argv]


def stream(argv: Sequence[str], shown_argv: Sequence[str], env: Mapping[str, str], values: Mapping[str, Secret], *,
           timeout: float | None, sanitize: bool, out: BinaryIO, err: BinaryIO,
           digest: Callable[[str], str]) -> tuple[int, dict[str, Any]]:
    """Run ``argv`` with ``env`` (the whole child environment), its output streamed through a
    redactor over ``values``; returns its exit code and the details of its access record."""
    # Forms and index built here, compiled on the thread when output comes (see Deferred): the
    # command line is checked with the uncompiled copy (below), without doing the work twice.
    # The check loads the detector set (hyperscan and typing: ~5 ms of a start) only where an
    # argument could hold a decode candidate: elsewhere that set finds only generic credentials,
    # which never decide whether an argument holds a value (a value's match keeps its label when
    # merged with one); the output's redactor always has it.
    shown = [a.encode("utf-8", errors="surrogateescape") for a in shown_argv]
    detect = any(map(decode.may_hold_candidate, shown))
    checker = redactor(values, None, compiled=False, detect=detect)
    red = Deferred(lambda: _with_detectors(checker), lazy=LAZY_COMPILE) if sanitize else None
    if red is not None:
        make_filter: Callable[[], StreamFilter] = red.stream
    else:
        from secretctl.core.redact import PassThrough  # here: core/redact loads its stream lazily

        make_filter = PassThrough
    try:
        result = runner.run_streaming(argv, env, make_filter=make_filter, out=out, err=err, timeout=timeout,
                                      stdin_passthrough=True)
    finally:
        if red is not None:
            red.cancel()
    # The command line is checked against the same values as the output, without the compile
    # (1,000 values: 0.5-1 s): a few short strings, searched for each form in Python.
    return result.exit_code, {"argv": logged_argv(shown_argv, checker, digest), "decision": "allow",
                              "rule": "person", "exit_code": result.exit_code,
                              "duration_ms": result.duration_ms}
