"""run, and the policy commands that explain what an agent may run."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from secretctl.cli.common import emit_json, info, open_vault
from secretctl.cli.options import JsonOpt
from secretctl.cli.running import load_policy

policy_app = typer.Typer(help="The agent policy: which commands may run, and with which keys.", no_args_is_help=True)


def run(
    command: Annotated[list[str], typer.Argument(help="-- COMMAND [ARGS...]", show_default=False)],
    key: Annotated[list[str] | None, typer.Option("-k", "--key", help="Secret or pattern to inject (aws/*, "
                                                  "aws/**); repeatable.")] = None,
    env_prefix: Annotated[str, typer.Option("--env-prefix", help="Prefix for every variable name, e.g. APP_.")] = "",
    env: Annotated[str | None, typer.Option("--env", help="Environment alias from the policy (dev, prod, ...).")]
    = None,
    timeout: Annotated[str | None, typer.Option("-t", "--timeout", help="Kill the command after this long (5m).")]
    = None,
    no_sanitize: Annotated[bool, typer.Option("--no-sanitize", help="Do not redact the output.")] = False,
    allow_short: Annotated[bool, typer.Option("--allow-short", help="Inject values under 4 characters (they "
                                              "cannot be redacted reliably).")] = False,
    use_policy: Annotated[bool, typer.Option("--policy", help="Apply the agent policy (also when "
                                             "SECRETCTL_AGENT=1).")] = False,
    with_agent: Annotated[bool, typer.Option("--with-agent", help="Tell the command where the unlock agent is "
                                             "(SECRETCTL_AGENT_SOCKET), so its own secretctl calls use it.")]
    = False,
    allow_expired: Annotated[bool, typer.Option("--allow-expired", help="Inject secrets past their expiry "
                                                "(refused otherwise).")] = False,
) -> None:
    """Run a command with secrets in its environment; its output comes back redacted.

    `$NAME` and `${NAME}` in the arguments are expanded by secretctl (no shell) when NAME is
    injected; an expanded value is visible in the process list. The exit code is the
    command's (124: timeout, 128+N: killed by signal N).
    """
    from secretctl.cli.running import run_command

    raise typer.Exit(run_command(command, key=key, env_prefix=env_prefix, env=env, timeout=timeout,
                                 no_sanitize=no_sanitize, allow_short=allow_short, use_policy=use_policy,
                                 with_agent=with_agent, allow_expired=allow_expired))


@policy_app.command("check")
def policy_check(
    command: Annotated[list[str], typer.Argument(help="-- COMMAND [ARGS...]", show_default=False)],
    key: Annotated[list[str] | None, typer.Option("-k", "--key", help="Keys it would receive.")] = None,
    worktree: Annotated[bool, typer.Option("--worktree", help="Check the policy file on disk, not the "
                                           "committed one agents get.")] = False,
    json_out: Annotated[bool, JsonOpt] = False,
) -> None:
    """Would an agent be allowed to run this? Prints allow/deny and the deciding rule; exit 0/5."""
    from secretctl.errors import PolicyError
    from secretctl.service import run

    v = open_vault()
    policy = load_policy(v, worktree)
    req = run.RunRequest(patterns=tuple(key or ()), command=command[0], args=tuple(command[1:]))
    try:
        decision = run.check_run(v, req, policy=policy)
    except PolicyError as exc:
        if json_out:
            emit_json({"allowed": False, "reason": exc.message})
        else:
            sys.stdout.write(f"deny: {exc.message}\n")
        raise typer.Exit(5) from None
    if json_out:
        emit_json({"allowed": True, "rule": decision.rule, "expand": decision.expand})
    else:
        sys.stdout.write(f"allow: {decision.rule}\n")


@policy_app.command("commit")
def policy_commit() -> None:
    """Check .secretctl/policy.yaml and commit it, with the scripts it allows by path, as one
    audited commit (agents get the committed policy only; a plain git commit fails `audit verify`)."""
    from secretctl.service.policyfile import commit_policy

    out = commit_policy(open_vault())
    if out.commit is None:
        info("nothing to commit: the policy and its scripts are as committed")
        return
    info(f"committed {', '.join(out.paths)}; agents use it from now on (secretctl sync shares it)")


@policy_app.command("show")
def policy_show(
    worktree: Annotated[bool, typer.Option("--worktree", help="The file on disk, not the committed one.")] = False,
    json_out: Annotated[bool, JsonOpt] = False,
) -> None:
    """The effective policy agents get: committed file narrowed by your personal one."""
    from secretctl.service import run as runsvc

    v = open_vault()
    policy = load_policy(v, worktree)
    desc = {**policy.describe(), **runsvc.sandbox_status(policy)}
    if json_out:
        emit_json(desc)
        return
    if not desc["usable"]:
        sys.stdout.write(f"every run is refused: {desc['reason']}\n")
        return
    sys.stdout.write(f"source: {desc['source']}\ndefault_action: {desc['default_action']}\n")
    for c in desc["commands"]:
        extra = " (expand $NAME)" if c["expand"] else ""
        for field in ("workspace", "read", "hosts"):
            if c.get(field):
                extra += f"; {field}: {', '.join(c[field])}"
        sys.stdout.write(f"allow {c['command']}: keys {', '.join(c['keys'])}{extra}\n")
    if desc["denied_commands"]:
        sys.stdout.write(f"denied: {', '.join(desc['denied_commands'])}\n")
    sys.stdout.write(f"always blocked: {', '.join(desc['always_blocked'])}\n")
    sys.stdout.write(f"sandbox: {desc['sandbox_status']}\n")
    lim = desc["limits"]
    sys.stdout.write(f"limits: timeout {lim['timeout_seconds']:.0f}s, output {lim['max_output_bytes']} bytes\n")


def register(app: typer.Typer) -> None:
    app.command("run", context_settings={"allow_interspersed_args": False})(run)
    app.add_typer(policy_app, name="policy")
