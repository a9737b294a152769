"""`secretctl run -k PATTERN... [--env-prefix P] [--allow-short] [--no-sanitize] [--] COMMAND`,
called by cli/main.py before anything heavy is imported: service/fastrun.py reads, runs and
records; this reports the end of the run, as cli/running.py does for the normal path (which calls
``report`` too)."""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:  # for mypy only (hyperscan loads typing on `run`'s path; not every command loads hyperscan)
    from collections.abc import Iterable
    from typing import Any

# The options the fast path serves; any other (a policy, --env aliases, a timeout, --with-agent,
# --allow-expired) goes the normal way.
SERVED = frozenset({"command", "key", "env_prefix", "allow_short", "no_sanitize"})


def report(code: int, program: str, warnings: Iterable[str] = ()) -> int:
    """The warnings of a finished run on stderr; returns its exit code."""
    for w in warnings:
        sys.stderr.write(f"secretctl: warning: {w}\n")
    if code == 124:
        sys.stderr.write(f"secretctl: warning: {program}: timeout exceeded; its process group was killed\n")
    return code


def fast_run(vault: str | None, kwargs: dict[str, Any]) -> int | None:
    """Serve ``secretctl [--vault V] run ...``; None: not served, nothing ran or was recorded."""
    from secretctl.service import settings

    env = settings.environ()
    if not kwargs.keys() <= SERVED or settings.get(settings.ENV_AGENT) == "1":
        return None  # agent mode (SECRETCTL_AGENT=1) runs under the policy: the normal path
    from secretctl.service.fastrun import run_fast

    code = run_fast(vault, kwargs.get("key") or (), kwargs["command"], env, env_prefix=kwargs.get("env_prefix", ""),
                    allow_short=kwargs.get("allow_short", False), sanitize=not kwargs.get("no_sanitize", False),
                    out=sys.stdout.buffer, err=sys.stderr.buffer)
    return None if code is None else report(code, kwargs["command"][0])
