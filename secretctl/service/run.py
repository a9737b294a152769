"""Running commands with secrets: the one path both `secretctl run` and the MCP server use.

``plan`` turns a request (key patterns, a command, its args) into exactly what will run:
the keys, the environment names, the resolved program, the policy's decision, and a
redactor over the injected values. ``run_person`` streams; ``run_agent`` captures.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Protocol

from secretctl.core import envmap
from secretctl.core import fields as fields_mod
from secretctl.core.injection import Injection
from secretctl.core.policy import Policy, RunCheck, load_policy, narrow
from secretctl.core.redact import Layered, PassThrough, Redactor, RedactStream
from secretctl.core.secret import Secret
from secretctl.errors import NotFoundError, PolicyError, SecretctlError, UsageError
from secretctl.infra import gitobjects, programs, runner, sandbox, settings
from secretctl.infra.programs import OpenedProgram
from secretctl.service import personrun
from secretctl.service.allvalues import values_redactor

if TYPE_CHECKING:
    import threading
    from datetime import datetime

    from secretctl.core.meta import Meta
    from secretctl.core.policy import Decision, Policy
    from secretctl.infra.runner import ResolvedCommand, StreamFilter
    from secretctl.infra.sandbox import SandboxedCommand
    from secretctl.service.vault import Vault

POLICY_PATH = ".secretctl/policy.yaml"
Injector = Callable[[str, Secret, str, bool], None]


@dataclass(frozen=True)
class RunRequest:
    patterns: tuple[str, ...]
    command: str
    args: tuple[str, ...] = ()
    env_prefix: str = ""
    env_name: str | None = None
    timeout: float | None = None
    bindings_key: str | None = None
    allow_short: bool = False
    allow_expired: bool = False


@dataclass(frozen=True)
class AgentRunResult:
    exit_code: int
    stdout: bytes
    stderr: bytes
    duration_ms: int
    sanitized: bool
    truncated: bool
    timed_out: bool
    keys: tuple[str, ...]
    rule: str
    redacted: tuple[str, ...] = ()  # labels of what was redacted (named in the output or not)
    sandbox: str = "none"  # the engine that contained the command ("bwrap", "sandbox-exec") or "none"


@dataclass
class Plan:
    argv: list[str]  # what runs (with $NAME expanded where allowed)
    shown_argv: list[str]  # as the caller wrote it, for logs
    env: dict[str, str]  # injected name -> value (text)
    values: dict[str, Secret]  # redaction label -> value
    keys: list[str]
    resolved: ResolvedCommand | OpenedProgram
    decision: Decision | None
    timeout: float | None
    warnings: list[str] = field(default_factory=list)

    def close(self) -> None:
        """Drop the injected values and the held program."""
        self.env.clear()
        if isinstance(self.resolved, OpenedProgram):
            self.resolved.close()


def policy_from_worktree(vault: Vault) -> Policy:
    """The vault's policy as it is on disk (for a person's `run --policy` and `policy check`)."""

    path = vault.root / POLICY_PATH
    if not path.exists():
        return Policy.deny_all("no policy: create .secretctl/policy.yaml", POLICY_PATH)
    return _with_personal(load_policy(path.read_bytes(), POLICY_PATH))


def load_agent_policy(vault: Vault) -> tuple[Policy, list[str]]:
    """The committed policy (uncommitted edits are ignored), narrowed by the personal one.

    Returns (policy, warnings). A broken file gives a deny-all policy whose reason names the
    line, never an exception: the server keeps serving, and refuses every run.
    """

    warnings: list[str] = []
    committed = gitobjects.show_committed(vault.root, POLICY_PATH)
    on_disk = vault.root / POLICY_PATH
    if on_disk.exists() and (committed is None or on_disk.read_bytes() != committed):
        warnings.append(f"{POLICY_PATH} has uncommitted changes; they are ignored until committed")
    if committed is None:
        return Policy.deny_all("no committed policy: create and commit .secretctl/policy.yaml", POLICY_PATH), warnings
    try:
        policy = _with_personal(load_policy(committed, f"{POLICY_PATH}@HEAD"))
    except SecretctlError as exc:
        warnings.append(exc.message)
        return Policy.deny_all(f"broken policy: {exc.message}", POLICY_PATH), warnings
    return policy, warnings


def _with_personal(policy: Policy) -> Policy:

    personal = settings.personal_policy_path()
    if personal.exists():
        return narrow(policy, load_policy(personal.read_bytes(), str(personal)))
    return policy


def _committed_script_sha(vault: Vault, resolved: ResolvedCommand | OpenedProgram) -> str | None:

    try:
        rel = Path(resolved.realpath).relative_to(vault.root)
    except ValueError:
        return None
    data = gitobjects.show_committed(vault.root, rel.as_posix())
    return None if data is None else hashlib.sha256(data).hexdigest()


def plan(vault: Vault, req: RunRequest, *, policy: Policy | None,
         base_env: Mapping[str, str] | None = None, cwd: Path | None = None) -> Plan:
    """Everything about a run, decided before anything starts. Raises on any refusal."""

    base_env = settings.environ() if base_env is None else base_env
    cwd = cwd or Path.cwd()
    if not req.command:
        raise UsageError("no command given", hint="secretctl run -k KEY -- COMMAND [ARGS...]")
    if req.env_name is None:
        aliases: Mapping[str, Sequence[envmap.Alias]] = {}
    else:
        aliases = policy.env_aliases if policy is not None else _worktree_aliases(vault)
    keys: list[str] = []
    seen: set[str] = set()  # `k not in keys` on the list made `-k '*'` quadratic in the vault's size
    names: dict[str, str] = {}  # key -> the key its env name derives from (aliases keep theirs)
    for pattern in req.patterns:
        target, strip = envmap.apply_alias(pattern, req.env_name, aliases)
        for k in envmap.expand_patterns([target], vault.key_names(under=envmap.pattern_folder(target))):
            if k not in seen:
                seen.add(k)
                keys.append(k)
                if strip and k.startswith(strip):
                    names[k] = k[len(strip):]
    injection = Injection(allow_short=req.allow_short)
    inject, env, values = injection.add, injection.env, injection.values

    # A run under a policy (an agent's: MCP, `run --policy`, SECRETCTL_AGENT=1) trusts the committed
    # sidecars only (a planted edit could make a field non-sensitive or add a binding); a person's
    # plain run reads the work tree, as every command does.
    bound = [*keys, *([req.bindings_key] if req.bindings_key else [])]
    metas = vault.committed_metas(bound) if policy is not None else {k: vault.meta(k) for k in bound}
    if not req.allow_expired:
        _refuse_expired(metas, vault.clock())
    single = [k for k in keys if not _multifield(metas[k])]
    read = dict(zip(single, vault.read_many(single), strict=True))  # one decrypt_many call for them all
    for k in keys:
        meta = metas[k]
        if _multifield(meta):
            _inject_bindings(vault, k, meta, req.env_prefix, inject)
        else:
            value = read[k]
            if isinstance(value, SecretctlError):
                raise value
            inject(envmap.env_name(names.get(k, k), req.env_prefix), value, k)
    read.clear()
    if req.bindings_key:
        if req.bindings_key not in keys:
            keys.append(req.bindings_key)
        _inject_bindings(vault, req.bindings_key, metas[req.bindings_key], "", inject, require=True)
    # A person's run has read the work tree's sidecars already; an agent's read HEAD's.
    warnings = [w.message for w in vault.expiry_warnings(keys, metas if policy is None else None)]

    decision = None
    resolved: ResolvedCommand | OpenedProgram
    if policy is None:
        resolved, args = personrun.command_line(req.command, req.args, env, path_env=base_env.get("PATH", os.defpath),
                                                cwd=cwd)
    else:
        refs = envmap.referenced(req.args, set(env))
        resolved, decision = decide(vault, policy, req.command, req.args, keys, cwd=cwd)
        try:
            # Names that point a program at other configuration only where a rule names them.
            envmap.check_redirects(env, decision.inject_env)
        except BaseException:
            resolved.close()
            raise
        args = envmap.expand_args(req.args, env, set(env)) if decision.expand and refs else list(req.args)
    timeout = req.timeout
    if policy is not None:
        timeout = policy.timeout if timeout is None else min(timeout, policy.timeout)
    return Plan([resolved.path, *args], [req.command, *req.args], env, values, keys, resolved, decision,
                timeout, warnings)


def decide(vault: Vault, policy: Policy, command: str, args: Sequence[str], keys: Sequence[str], *,
           cwd: Path) -> tuple[OpenedProgram, Decision]:
    """The run decision, once, for `run --policy`, the MCP tools and `policy check`: the program
    is looked up through the policy's path (never the caller's PATH), opened once, judged by what
    it is, and held. Returns the held program (close it) and the decision; raises on a refusal."""
    program = programs.open_program(command, policy.path, cwd)
    try:
        committed = _committed_script_sha(vault, program) if "/" in command else None
        decision = policy.check(RunCheck(
            command=command, resolved_name=program.name, args=tuple(args), keys=tuple(keys),
            resolved_is=program.identity, script_sha256=program.sha256, committed_sha256=committed,
            trusted=program.trusted,
        ))
    except BaseException:
        program.close()
        raise
    return program, decision


def check_run(vault: Vault, req: RunRequest, *, policy: Policy, cwd: Path | None = None) -> Decision:
    """Would an agent be allowed this run? The decision `plan` would take, without reading a value."""
    keys = envmap.expand_patterns(list(req.patterns), vault.key_names()) if req.patterns else []
    program, decision = decide(vault, policy, req.command, req.args, keys, cwd=cwd or Path.cwd())
    program.close()
    return decision


def private_paths(vault: Vault) -> list[str]:
    """What a sandboxed command must never see: the vault (and its git dir), the identity,
    secretctl's config, data, state and runtime folders."""
    out = [str(vault.root), *settings.private_paths()]
    dotgit = vault.root / ".git"
    if dotgit.is_file():  # a worktree: its git dir lives elsewhere
        text = dotgit.read_text(errors="replace").strip()
        if text.startswith("gitdir:"):
            gitdir = Path(text[7:].strip())
            gitdir = gitdir if gitdir.is_absolute() else vault.root / gitdir
            out += [str(gitdir), str(gitdir.parent.parent)]
    return out


def sandbox_for(vault: Vault, policy: Policy, plan: Plan, env: Mapping[str, str], *,
                cwd: Path) -> SandboxedCommand | None:
    """Wrap the planned command in the OS sandbox, or None when the policy says `sandbox: none`.
    Raises SandboxUnavailable when there is no sandbox and the policy did not opt out."""
    if policy.sandbox == "none":
        return None
    program = plan.resolved
    if not isinstance(program, OpenedProgram):
        raise PolicyError("internal: an agent run without a held program")
    rule = policy.rule_for(plan.shown_argv[0])
    grant = sandbox.Grant(workspace=rule.workspace if rule else (), read=rule.read if rule else (),
                          hosts=rule.hosts if rule else (), search_path=policy.path)
    return sandbox.wrap(program, plan.argv[1:], env, grant, private_paths(vault), caller_cwd=str(cwd))


def sandbox_status(policy: Policy) -> dict[str, str]:
    """For `policy show` / `policy_show`: which sandbox agent runs get, or why none."""
    if policy.sandbox == "none":
        return {"sandbox": "none", "sandbox_status": "SANDBOX OFF: the policy says `sandbox: none`; agent commands "
                "run with your full access to files, network and processes"}
    eng = sandbox.engine()
    if eng is None:
        return {"sandbox": "unavailable", "sandbox_status": "no OS sandbox on this machine: every agent run is "
                "refused (install bubblewrap, or opt out with `sandbox: none`)"}
    return {"sandbox": eng.name, "sandbox_status": f"agent commands run inside {eng.name}"}


def _refuse_expired(metas: Mapping[str, Meta | None], now: datetime) -> None:
    """An expired secret is not injected (as secretctl's Go CLI does): it is due for rotation,
    and a command using it would fail later in a less clear way. A person can insist."""
    expired = [(k, m.expires) for k, m in metas.items() if m is not None and m.expires is not None and m.expired(now)]
    if not expired:
        return
    from secretctl.core.meta import format_time

    (key, when), more = expired[0], (f" and {len(expired) - 1} more" if len(expired) > 1 else "")
    raise PolicyError(f"{key} expired on {format_time(when)}{more}; not injecting expired secrets",
                      hint="rotate it (secretctl set KEY); a person can pass `run --allow-expired` to use it anyway")


def _multifield(meta: Meta | None) -> bool:
    return meta is not None and meta.is_multifield


def _inject_bindings(vault: Vault, key: str, meta: Meta | None, prefix: str, inject: Injector, *,
                     require: bool = False) -> None:
    """A multi-field secret reaches the child through its bindings (PGHOST=host, ...)."""
    if meta is None or not meta.bindings:
        if require or (meta is not None and meta.is_multifield):
            raise UsageError(f"{key} has no bindings to inject",
                             hint="add them: secretctl set KEY --field ... --binding ENV=field")
        return
    values = vault.read_fields(key, meta)
    for env_var, fname in meta.bindings:
        f = meta.field(fname)
        if f is None:
            raise NotFoundError(f"{key}: binding {env_var} names unknown field {fname}")
        value = values.get(f.name)
        if value is None:
            raise NotFoundError(f"{key}: field {f.name} is missing from the encrypted document")
        # A public field is injected but never redacted; the name rule keeps a password sensitive
        # even where an old or hand-edited sidecar calls it public.
        inject(prefix + env_var, value, f"{key}:{f.name}", fields_mod.is_sensitive(f))


def _worktree_aliases(vault: Vault) -> Mapping[str, Sequence[envmap.Alias]]:
    path = vault.root / POLICY_PATH
    if not path.exists():
        return {}

    return load_policy(path.read_bytes(), POLICY_PATH).env_aliases


def all_values_redactor(vault: Vault, policy: Policy) -> Redactor:
    """The MCP server's all-values redactor (service/allvalues: public field values known, lean on
    a big vault), with the policy's fragment lengths: CLI agent mode uses it too."""
    return values_redactor(vault, fragment_min=policy.fragment_min, fragment_value_min=policy.fragment_value_min)


def covering(red: Redactor, values: Mapping[str, Secret], policy: Policy) -> Redactor | Layered:
    """``red`` (an all-values redactor), with every form of a run's injected ``values`` layered on
    where it may lack some: a lean one (a big vault) has no fragments or base64 literals, and one
    built from the work tree's sidecars leaves out a field that an uncommitted edit calls public
    while HEAD, which the run trusts, calls it sensitive."""
    extra = dict(values) if red.lean else {k: v for k, v in values.items() if k not in red.labels}
    if not extra:
        return red
    return Layered([red, Redactor.build(extra, fragment_min=policy.fragment_min,
                                        fragment_value_min=policy.fragment_value_min, detect=False)])


class StreamSource(Protocol):
    def stream(self) -> StreamFilter: ...


class _Named:
    """A run's streams: markers name only the injected keys; each stream is kept (its ``found`` is
    the redactor's own report of what it matched, and how)."""

    def __init__(self, scan: Redactor | Layered, keys: Sequence[str]) -> None:
        self._scan, self._keys = scan, keys
        self.streams: list[RedactStream] = []

    def stream(self) -> RedactStream:
        self.streams.append(self._scan.stream(named=self._keys))
        return self.streams[-1]


def _logged_argv(vault: Vault, argv: Sequence[str], redactor: Redactor | Layered) -> list[str]:
    return personrun.logged_argv(argv, redactor, vault.log_digest)


def run_person(vault: Vault, req: RunRequest, *, policy: Policy | None, sanitize: bool,
               out: BinaryIO, err: BinaryIO, with_agent: bool = False) -> tuple[int, Plan]:
    """Stream a command's output as it comes; returns (exit code, plan).

    With a policy (``run --policy``, ``SECRETCTL_AGENT=1``) the child is agent-facing: an
    allow-listed environment, pagers off and stdin from /dev/null, as for the MCP server.
    """

    p = plan(vault, req, policy=policy)
    if policy is None:
        try:
            socket = str(vault.agent_socket) if with_agent and vault.agent_socket is not None else None
            env = personrun.child_env(settings.environ(), p.env, agent_socket=socket)
            code, details = personrun.stream(p.argv, p.shown_argv, env, p.values, timeout=p.timeout,
                                             sanitize=sanitize, out=out, err=err, digest=vault.log_digest)
        finally:
            p.close()
        vault.record_access("run", p.keys, **details)
        return code, p
    boxed = None
    try:
        env = runner.agent_env(settings.environ(), policy.agent_env_allow(), p.env)
        boxed = sandbox_for(vault, policy, p, env, cwd=Path.cwd())
        # Agent mode redacts every value this identity can decrypt, as the MCP server does:
        # a command may read a secret it was not given (a file, a cache) and print it.
        red = personrun.Deferred(lambda: covering(all_values_redactor(vault, policy), p.values, policy))
        make_filter: Callable[[], StreamFilter] = red.stream if sanitize else PassThrough
        if boxed is not None:
            result = runner.run_streaming(boxed.argv, boxed.env, make_filter=make_filter, out=out, err=err,
                                          timeout=p.timeout, stdin_passthrough=False, pass_fds=boxed.pass_fds,
                                          cwd=boxed.spawn_cwd)
        else:
            result = runner.run_streaming(p.argv, env, make_filter=make_filter, out=out, err=err, timeout=p.timeout,
                                          stdin_passthrough=False)
    finally:
        if boxed is not None:
            boxed.close()
            boxed.env.clear()
        p.close()
    if policy.sandbox == "none":
        p.warnings.append("SANDBOX OFF (policy says `sandbox: none`): the command could read your files, "
                          "the network and other processes")
    # An agent-mode run checks its command line against every value the identity can read, so it
    # waits for that build.
    vault.record_access("run", p.keys, argv=_logged_argv(vault, p.shown_argv, red.wait()), decision="allow",
                        rule=p.decision.rule if p.decision else "person", exit_code=result.exit_code,
                        duration_ms=result.duration_ms)
    return result.exit_code, p


def run_agent(vault: Vault, req: RunRequest, *, policy: Policy, redactor: Redactor | None = None,
              base_env: Mapping[str, str] | None = None, cancel: threading.Event | None = None,
              make_filter: Callable[[StreamSource], Callable[[], StreamFilter]] | None = None
              ) -> AgentRunResult:
    """Run for an agent: policy-checked, allow-listed env, stdin /dev/null, captured, redacted.

    ``cancel`` set by the caller kills the child's whole group at once. ``make_filter`` wraps the
    redactor's stream filter (the session counts what it redacts). The access record is in the
    member's hash-chained log before this returns, whatever the outcome. A marker names only a
    secret this run injected; any other is ``[REDACTED]``. When ``redactor`` is lean (a big vault:
    no fragments, no base64 literals), every form of the injected values is added for this run;
    ``redacted`` in the result lists the labels the redactor matched (its own report)."""

    base_env = settings.environ() if base_env is None else base_env
    try:
        p = plan(vault, req, policy=policy, base_env=base_env)
    except PolicyError as exc:
        red0 = redactor if redactor is not None else personrun.redactor({}, policy)
        vault.record_access("run", _logged_argv(vault, req.patterns, red0),
                            argv=_logged_argv(vault, [req.command, *req.args], red0), decision="deny",
                            reason=exc.message)
        vault.seal_access_log()
        raise
    env = runner.agent_env(base_env, policy.agent_env_allow(), p.env)
    red = redactor if redactor is not None else personrun.redactor(p.values, policy)
    named = _Named(covering(red, p.values, policy), p.keys)
    boxed = None
    try:
        boxed = sandbox_for(vault, policy, p, env, cwd=Path.cwd())
        stream = make_filter(named) if make_filter else named.stream
        if boxed is not None:
            res = runner.run_captured(boxed.argv, boxed.env, make_filter=stream, timeout=p.timeout,
                                      max_output_bytes=policy.max_output_bytes, cancel=cancel,
                                      pass_fds=boxed.pass_fds, cwd=boxed.spawn_cwd)
        else:
            res = runner.run_captured(p.argv, env, make_filter=stream, timeout=p.timeout,
                                      max_output_bytes=policy.max_output_bytes, cancel=cancel)
    finally:
        if boxed is not None:
            boxed.close()
            boxed.env.clear()
        p.close()
        env.clear()
    vault.record_access("run", p.keys, argv=_logged_argv(vault, p.shown_argv, red), decision="allow",
                        rule=p.decision.rule if p.decision else "", exit_code=res.exit_code,
                        duration_ms=res.duration_ms)
    vault.seal_access_log()  # chained before the agent sees the result: nothing it does next erases it
    return AgentRunResult(res.exit_code, res.stdout, res.stderr, res.duration_ms, True, res.truncated,
                          res.timed_out, tuple(p.keys), p.decision.rule if p.decision else "",
                          tuple(sorted({m.label for s in named.streams for m in s.found})),
                          sandbox=boxed.engine if boxed is not None else "none")
