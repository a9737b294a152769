"""Process hardening: what secretctl does to itself and to the children it starts for itself.

DANGER: this module is where the OS boundary between secretctl and a same-user process
(an agent's shell next door) is drawn. Keep it small and keep every change tested by
tests/infra/test_hardening.py and the attack tests in tests/e2e/test_trust.py.

- ``set_not_dumpable``: no same-user process may read our memory or environment through
  ``/proc/<pid>/mem``, ``/proc/<pid>/environ`` or ptrace (Linux: PR_SET_DUMPABLE 0;
  macOS: PT_DENY_ATTACH, which stops debuggers but not every reader). Used by the MCP
  server and by the unlock agent, which also calls ``no_core_dumps`` and ``lock_memory``.
- ``collect_promptly``: Python's own garbage-collection pace again, for a process that holds
  values for long (short commands collect less often: ``cli/main.py``), so a reference cycle
  holding a value (an exception's frames) is freed within a few hundred allocations.
- ``child_env``: the environment of a child secretctl starts for itself (git, age, hooks,
  merge drivers): never a SECRETCTL_* variable that carries a secret.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Mapping

# secretctl's own children (a merge driver, textconv, a hook) are secretctl again and must
# find the same vault and identity; these names hold paths, never a secret. Every other
# SECRETCTL_* (the password above all) is dropped.
LOCATION_VARS = frozenset({"SECRETCTL_VAULT", "SECRETCTL_IDENTITY", "SECRETCTL_CONFIG_DIR", "SECRETCTL_DATA_DIR",
                           "SECRETCTL_ACTOR", "SECRETCTL_RUNTIME_DIR"})  # the last: where the unlock agent listens

_PR_SET_DUMPABLE = 4
_PR_GET_DUMPABLE = 3
_PT_DENY_ATTACH = 31
_MCL_CURRENT = 1


PYTHON_GC_THRESHOLD = (700, 10, 10)  # CPython's default (gc.get_threshold() in a fresh 3.11 interpreter)


def collect_promptly() -> None:
    """Collect garbage at Python's default pace (see the module's docstring)."""
    gc.set_threshold(*PYTHON_GC_THRESHOLD)


def child_env(base: Mapping[str, str]) -> dict[str, str]:
    """``base`` without any SECRETCTL_* variable except the location names."""
    return {k: v for k, v in base.items() if not k.startswith("SECRETCTL_") or k in LOCATION_VARS}


def _libc() -> object | None:
    import ctypes  # lazy: ~2 ms, needed only by long-lived processes that hold secrets
    import ctypes.util

    name = ctypes.util.find_library("c") if sys.platform == "darwin" else None
    try:
        return ctypes.CDLL(name, use_errno=True)
    except OSError:
        return None


def set_not_dumpable() -> bool:
    """Make this process unreadable by other processes of the same user. Returns whether the
    OS confirmed it (False on platforms without a way, or when the call failed)."""
    libc = _libc()
    if libc is None:
        return False
    if sys.platform.startswith("linux"):
        libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)  # type: ignore[attr-defined]  # ctypes resolves by name
        return is_dumpable() is False
    if sys.platform == "darwin":
        # The closest macOS has: debuggers (task_for_pid/ptrace) are refused; root and
        # processes with the debugging entitlement can still read memory.
        return int(libc.ptrace(_PT_DENY_ATTACH, 0, 0, 0)) == 0  # type: ignore[attr-defined]  # as above
    return False


def is_dumpable() -> bool | None:
    """This process's dumpable flag on Linux (None elsewhere)."""
    if not sys.platform.startswith("linux"):
        return None
    libc = _libc()
    if libc is None:
        return None
    return int(libc.prctl(_PR_GET_DUMPABLE, 0, 0, 0, 0)) != 0  # type: ignore[attr-defined]  # as above


def no_core_dumps() -> None:
    """RLIMIT_CORE 0 (every Unix): no core file, whatever the dumpable flag (the unlock agent)."""
    import contextlib
    import resource

    with contextlib.suppress(OSError, ValueError):
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def lock_memory() -> bool:
    """``mlockall(MCL_CURRENT)``: the pages holding a key now stay out of swap. Only the current
    pages, on purpose: with MCL_FUTURE a later allocation past RLIMIT_MEMLOCK would fail, and a
    Rust allocation failure aborts the process. Fails (False) where RLIMIT_MEMLOCK is smaller
    than the process, as it is by default for users without CAP_IPC_LOCK."""
    libc = _libc()
    if libc is None:
        return False
    return bool(libc.mlockall(_MCL_CURRENT) == 0)  # type: ignore[attr-defined]  # ctypes resolves by name
