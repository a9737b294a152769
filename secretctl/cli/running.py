"""What `secretctl run` does, without Typer: called by the Typer command and by the start-up
fast path in ``cli/main.py`` alike."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from secretctl.cli.common import open_vault, warn
from secretctl.service import settings

if TYPE_CHECKING:
    from secretctl.service import Policy
    from secretctl.service.vault import Vault


def load_policy(vault: Vault, worktree: bool) -> Policy:
    from secretctl.service import run

    if worktree:
        return run.policy_from_worktree(vault)
    policy, warnings = run.load_agent_policy(vault)
    for w in warnings:
        warn(w)
    return policy


def run_command(command: list[str], *, key: list[str] | None = None, env_prefix: str = "", env: str | None = None,
                timeout: str | None = None, no_sanitize: bool = False, allow_short: bool = False,
                use_policy: bool = False, with_agent: bool = False,
                allow_expired: bool = False) -> int:
    """Run ``command`` with the secrets in its environment; returns its exit code."""
    from secretctl.service import run

    agent = use_policy or settings.get(settings.ENV_AGENT) == "1"
    v = open_vault()
    policy = load_policy(v, worktree=False) if agent else None
    if agent and no_sanitize:
        from secretctl.errors import PolicyError

        raise PolicyError("--no-sanitize is not allowed under the agent policy")
    if agent and with_agent:
        from secretctl.errors import PolicyError

        raise PolicyError("--with-agent is not allowed under the agent policy",
                          hint="an agent's commands never get a way to the unlock agent")
    if timeout:
        from secretctl.service import parse_duration

        seconds: float | None = parse_duration(timeout).total_seconds()
    else:
        seconds = None
    req = run.RunRequest(
        patterns=tuple(key or ()), command=command[0], args=tuple(command[1:]), env_prefix=env_prefix,
        env_name=env, timeout=seconds, allow_short=allow_short, allow_expired=allow_expired,
    )
    code, plan = run.run_person(v, req, policy=policy, sanitize=not no_sanitize,
                                   out=sys.stdout.buffer, err=sys.stderr.buffer, with_agent=with_agent)
    from secretctl.cli.fastrun import report

    return report(code, command[0], plan.warnings)
