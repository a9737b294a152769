"""The run policy (pure core): which commands an agent may run, and with which keys.

Deny by default. Evaluation order: always-blocked -> denied -> allowed -> default_action.
A policy that does not parse refuses every run, naming the file and line: it never falls
back to allowing anything. See docs/policy.md.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from secretctl.core import argrules, programs, schema
from secretctl.core.durations import parse_duration
from secretctl.core.envmap import Alias
from secretctl.core.frozen import field, frozen, replace
from secretctl.core.hosts import parse_host
from secretctl.core.keys import match_pattern
from secretctl.core.schema import Node
from secretctl.errors import PolicyError, UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing and dataclasses cost every hook (git runs one per commit) ~15 ms: for mypy only
    from typing import Any

_FIX = "fix the policy; until then every run is refused"

# What an agent's child inherits from the caller's environment unless the policy says otherwise.
AGENT_ENV_DEFAULT = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TERM", "TZ", "USER", "LOGNAME", "TMPDIR")

MAX_POLICY_BYTES = 256 * 1024
DEFAULT_TIMEOUT = 300.0
DEFAULT_MAX_OUTPUT = 1024 * 1024

# Commands that print the environment (or are shell builtins that do): never, whatever the policy says.
ALWAYS_BLOCKED = programs.ENV_PRINTERS
# Where commands are looked up when the policy names no `path:` (never the caller's PATH).
DEFAULT_PATH = ("/usr/local/bin", "/usr/bin", "/bin")
SANDBOX_MODES = ("auto", "none")
_TOP_FIELDS = {"version", "default_action", "allowed_commands", "denied_commands", "commands", "env_aliases",
               "limits", "redaction", "agent_env", "mcp", "sandbox", "path"}
_RULE_FIELDS = {"keys", "deny_args", "args_allow", "expand", "sha256", "inject_env", "workspace", "read", "hosts"}


@frozen
class CommandRule:
    name: str
    keys: tuple[str, ...] | None = None  # None: any key
    deny_args: tuple[str, ...] = ()
    args_allow: tuple[str, ...] = ()
    expand: bool = False
    sha256: str | None = None
    # Config-redirecting env names (KUBECONFIG, ...) this command may receive a secret as.
    inject_env: tuple[str, ...] = ()
    workspace: tuple[str, ...] = ()  # folders the sandboxed command may write
    read: tuple[str, ...] = ()  # extra paths it may read
    hosts: tuple[str, ...] = ()  # where its network traffic may go (through the proxy)
    # Extra limits added by narrowing: a key (the arguments) must match one pattern of every list.
    narrowed_keys: tuple[tuple[str, ...], ...] = ()
    narrowed_args: tuple[tuple[str, ...], ...] = ()
    specified: frozenset[str] = frozenset()  # fields the file set (narrowing uses only these)

    def key_allowed(self, key: str) -> bool:
        lists = ([self.keys] if self.keys is not None else []) + list(self.narrowed_keys)
        return all(any(match_pattern(p, key) for p in pats) for pats in lists)


@frozen
class RunCheck:
    """The facts a decision needs; the caller gathers them (PATH resolution, hashes)."""

    command: str  # as given
    resolved_name: str  # basename of the resolved real file
    args: tuple[str, ...] = ()
    keys: tuple[str, ...] = ()
    resolved_is: str | None = None  # the exec-capable program it really is (by inode, content or name)
    script_sha256: str | None = None  # for a command given by path
    committed_sha256: str | None = None  # the vault's committed version of that script, if any
    trusted: bool = True  # the program and every folder above it are writable by root only


@frozen
class Decision:
    """An allowed run (a refusal raises PolicyError): the deciding rule, and whether $NAME expands."""

    rule: str
    command: str
    expand: bool = False
    inject_env: tuple[str, ...] = ()


@frozen
class Policy:
    source: str
    version: int = 1
    default_action: str = "deny"
    allowed_commands: tuple[str, ...] = ()
    denied_commands: tuple[str, ...] = ()
    commands: Mapping[str, CommandRule] = field(default_factory=dict)
    env_aliases: Mapping[str, tuple[Alias, ...]] = field(default_factory=dict)
    timeout: float = DEFAULT_TIMEOUT
    max_output_bytes: int = DEFAULT_MAX_OUTPUT
    fragment_min: int = 8
    fragment_value_min: int = 16
    agent_env: tuple[str, ...] | None = None
    allow_generate: bool = False
    strike_limit: int = 3
    broken: str | None = None  # set: every run is refused with this reason
    specified: frozenset[str] = frozenset()  # top-level fields the file set (narrowing uses only these)
    sandbox: str = "auto"  # "none": agent runs without the OS sandbox (said loudly everywhere)
    path: tuple[str, ...] = DEFAULT_PATH  # where agent commands are looked up

    @classmethod
    def deny_all(cls, reason: str, source: str = "policy") -> Policy:
        return cls(source=source, broken=reason)

    # -------------------------------------------------------------- evaluation
    def check(self, req: RunCheck) -> Decision:
        """Raise PolicyError naming the command and the rule that refused it; else the Decision."""
        name = req.command
        base = name.rsplit("/", 1)[-1]
        real = req.resolved_name
        for n in sorted({base, real, req.resolved_is or ""} - {""}):
            if n in ALWAYS_BLOCKED:
                raise PolicyError(f"command not allowed: {base} (always blocked: {n} prints the environment)")
        if self.broken is not None:
            raise PolicyError(f"command not allowed: {base} ({self.broken})",
                              hint="fix .secretctl/policy.yaml and commit it")
        if argrules.reads_process_state(req.args):
            raise PolicyError(f"command not allowed: {base} (argument reads process memory or environment)")
        for cand in (name, base, real, req.resolved_is):
            if cand and cand in self.denied_commands:
                raise PolicyError(f"command not allowed: {base} (denied_commands: {cand})")
        allowed_as = next((n for n in (name, base) if n in self.allowed_commands), None)
        # `aws` on PATH may be a symlink to, or a renamed copy of, something else: judge what
        # runs. (sh -> dash or python3 -> python3.11 is the same kind of program; aws -> sed is not.)
        for really in dict.fromkeys(n for n in (real, req.resolved_is) if n and n != base):
            if (programs.is_exec_capable(really) and really not in self.allowed_commands
                    and not programs.same_kind(really, base)):
                raise PolicyError(f"command not allowed: {base} (it is really {really}, which runs other programs)")
        if allowed_as is None:
            if self.default_action != "allow":
                raise PolicyError(f"command not allowed: {base} (not in allowed_commands; default_action: deny)",
                                  hint="secretctl policy show lists what is allowed")
            if any(programs.is_exec_capable(n) for n in (base, real, req.resolved_is or "")):
                raise PolicyError(f"command not allowed: {base} (runs other programs; name it in allowed_commands)")
            if base == "find" and any(a in ("-exec", "-execdir", "-ok", "-okdir") for a in req.args):
                raise PolicyError(f"command not allowed: {base} (-exec runs other programs)")
        rule = self.rule_for(req.command)
        if rule is not None:
            self._check_rule(rule, req, base)
        elif "/" in name and req.committed_sha256 != req.script_sha256:
            raise PolicyError(f"command not allowed: {name} (script differs from the vault's committed version)",
                              hint="commit the script, or pin it with sha256: in its rule")
        if not req.trusted and "/" not in name and not (rule is not None and rule.sha256 is not None
                                                         and rule.sha256 == req.script_sha256):
            raise PolicyError(f"command not allowed: {base} (it lives in a folder someone other than root can write "
                              "to)", hint="install it in a system folder, or pin it with sha256: in its rule")
        # Without `expand: true` a $NAME in the args is passed on literally (a shell child may
        # expand it from its own environment); secretctl never puts the value in argv.
        why = f"allowed_commands: {allowed_as}" if allowed_as else "default_action: allow"
        return Decision(why, base, bool(rule and rule.expand), rule.inject_env if rule else ())

    def rule_for(self, command: str) -> CommandRule | None:
        base = command.rsplit("/", 1)[-1]
        allowed_as = next((n for n in (command, base) if n in self.allowed_commands), None)
        return self.commands.get(allowed_as or base) or self.commands.get(command)

    def _check_rule(self, rule: CommandRule, req: RunCheck, base: str) -> None:
        outside = [k for k in req.keys if not rule.key_allowed(k)]
        if outside:
            raise PolicyError(f"keys not allowed for {base}: {', '.join(outside[:5])}"
                              + (" ..." if len(outside) > 5 else ""),
                              hint=f"its rule allows {', '.join(rule.keys or ('any key',))}")
        for deny in rule.deny_args:
            if argrules.denied_by(deny, req.args):
                raise PolicyError(f"command not allowed: {base} (deny_args: {deny})")
        # The vault's patterns, then each narrowing list: the arguments must pass every one.
        for pats in ([rule.args_allow] if rule.args_allow else []) + list(rule.narrowed_args):
            if not any(argrules.allows(pat, req.args) for pat in pats):
                raise PolicyError(f"command not allowed: {base} (arguments match no args_allow pattern: "
                                  f"{', '.join(pats)})")
        if "/" in req.command:
            pinned = rule.sha256 is not None and rule.sha256 == req.script_sha256
            committed = req.committed_sha256 is not None and req.committed_sha256 == req.script_sha256
            if not (pinned or committed):
                raise PolicyError(f"command not allowed: {req.command} (script is neither committed unmodified "
                                  "nor pinned by sha256)", hint="commit it, or add sha256: to its rule")

    def agent_env_allow(self) -> tuple[str, ...]:

        return self.agent_env if self.agent_env is not None else AGENT_ENV_DEFAULT

    def describe(self) -> dict[str, Any]:
        """The effective policy as plain data (for `policy show` and the MCP `policy_show` tool)."""
        if self.broken is not None:
            return {"source": self.source, "usable": False, "reason": self.broken, "commands": []}
        cmds = []
        for name in self.allowed_commands:
            rule = self.commands.get(name)
            cmds.append({
                "command": name,
                "keys": list(rule.keys) if rule and rule.keys is not None else ["**"],
                "narrowed_by": [list(x) for x in rule.narrowed_keys] if rule else [],
                "deny_args": list(rule.deny_args) if rule else [],
                "args_allow": list(rule.args_allow) if rule else [],
                "expand": bool(rule and rule.expand),
                "pinned": bool(rule and rule.sha256),
                "inject_env": list(rule.inject_env) if rule else [],
                "workspace": list(rule.workspace) if rule else [],
                "read": list(rule.read) if rule else [],
                "hosts": list(rule.hosts) if rule else [],
            })
        return {
            "source": self.source, "usable": True, "default_action": self.default_action,
            "commands": cmds, "denied_commands": list(self.denied_commands),
            "always_blocked": sorted(ALWAYS_BLOCKED),
            "env_aliases": {k: [{"pattern": a.pattern, "target": a.target} for a in v]
                            for k, v in self.env_aliases.items()},
            "limits": {"timeout_seconds": self.timeout, "max_output_bytes": self.max_output_bytes},
            "mcp": {"allow_generate": self.allow_generate, "strike_limit": self.strike_limit},
            "sandbox": self.sandbox, "path": list(self.path),
        }


# ---------------------------------------------------------------------- parsing
def _unknown(fields: Mapping[str, Node], allowed: set[str], what: str) -> None:
    for k, n in fields.items():
        if k not in allowed:
            raise n.fail(f"{what}: unknown field {k!r}")


def load_policy(text: str | bytes, source: str) -> Policy:
    """Parse strictly; any problem is a PolicyError naming ``source`` and the line."""
    data = text.encode() if isinstance(text, str) else text
    if len(data) > MAX_POLICY_BYTES:
        raise PolicyError(f"{source}: larger than {MAX_POLICY_BYTES} bytes")
    root = schema.compose(data, source=source, error=PolicyError, hint=_FIX)
    if root is None:
        raise PolicyError(f"{source}: empty policy", hint="see docs/policy.md for the format")
    top = root.mapping("policy")
    _unknown(top, _TOP_FIELDS, "policy")
    if "version" not in top:
        raise root.fail("missing version: 1")
    version = top["version"].integer("version")
    if version != 1:
        raise top["version"].fail(f"unsupported version {version}")
    kw: dict[str, Any] = {"source": source, "version": version, "specified": frozenset(top)}
    if "default_action" in top:
        action = top["default_action"].text("default_action")
        if action not in ("deny", "allow"):
            raise top["default_action"].fail("default_action must be deny or allow")
        kw["default_action"] = action
    if "allowed_commands" in top:
        kw["allowed_commands"] = top["allowed_commands"].strings("allowed_commands")
    if "denied_commands" in top:
        kw["denied_commands"] = top["denied_commands"].strings("denied_commands")
    if "commands" in top:
        rules = {}
        for name, node in top["commands"].mapping("commands").items():
            rules[name] = _parse_rule(name, node)
        kw["commands"] = rules
    if "env_aliases" in top:
        aliases: dict[str, tuple[Alias, ...]] = {}
        for env, node in top["env_aliases"].mapping("env_aliases").items():
            items = []
            for item in node.seq(f"env_aliases.{env}"):
                m = item.mapping(f"env_aliases.{env} entry")
                _unknown(m, {"pattern", "target"}, f"env_aliases.{env}")
                if "pattern" not in m or "target" not in m:
                    raise item.fail("an alias needs pattern and target")
                items.append(Alias(m["pattern"].text("pattern"), m["target"].text("target")))
            aliases[env] = tuple(items)
        kw["env_aliases"] = aliases
    if "limits" in top:
        lim = top["limits"].mapping("limits")
        _unknown(lim, {"timeout", "max_output_bytes"}, "limits")
        if "timeout" in lim:

            try:
                kw["timeout"] = parse_duration(lim["timeout"].text("limits.timeout")).total_seconds()
            except UsageError as exc:
                raise lim["timeout"].fail(exc.message) from None
        if "max_output_bytes" in lim:
            n = lim["max_output_bytes"].integer("limits.max_output_bytes")
            if n <= 0:
                raise lim["max_output_bytes"].fail("max_output_bytes must be positive")
            kw["max_output_bytes"] = n
    if "redaction" in top:
        red = top["redaction"].mapping("redaction")
        _unknown(red, {"fragment_min", "fragment_value_min"}, "redaction")
        for k in ("fragment_min", "fragment_value_min"):
            if k in red:
                n = red[k].integer(f"redaction.{k}")
                if n < 4:
                    raise red[k].fail(f"{k} must be at least 4")
                kw[k] = n
    if "agent_env" in top:
        ae = top["agent_env"].mapping("agent_env")
        _unknown(ae, {"allow"}, "agent_env")
        kw["agent_env"] = ae["allow"].strings("agent_env.allow") if "allow" in ae else ()
    if "sandbox" in top:
        mode = top["sandbox"].text("sandbox")
        if mode not in SANDBOX_MODES:
            raise top["sandbox"].fail("sandbox must be auto or none")
        kw["sandbox"] = mode
    if "path" in top:
        kw["path"] = _abs_paths(top["path"], "path")
        if not kw["path"]:
            raise top["path"].fail("path must name at least one folder")
    if "mcp" in top:
        mc = top["mcp"].mapping("mcp")
        _unknown(mc, {"allow_generate", "strike_limit"}, "mcp")
        if "allow_generate" in mc:
            kw["allow_generate"] = mc["allow_generate"].boolean("mcp.allow_generate")
        if "strike_limit" in mc:
            n = mc["strike_limit"].integer("mcp.strike_limit")
            if n < 1:
                raise mc["strike_limit"].fail("strike_limit must be at least 1")
            kw["strike_limit"] = n
    return Policy(**kw)


def _parse_rule(name: str, node: Node) -> CommandRule:
    if node.is_null():
        return CommandRule(name)
    m = node.mapping(f"commands.{name}")
    _unknown(m, _RULE_FIELDS, f"commands.{name}")
    kw: dict[str, Any] = {"name": name, "specified": frozenset(m)}
    if "keys" in m:
        kw["keys"] = m["keys"].strings(f"commands.{name}.keys")
    if "deny_args" in m:
        kw["deny_args"] = m["deny_args"].strings(f"commands.{name}.deny_args")
    if "args_allow" in m:
        kw["args_allow"] = m["args_allow"].strings(f"commands.{name}.args_allow")
    if "expand" in m:
        kw["expand"] = m["expand"].boolean(f"commands.{name}.expand")
    if "inject_env" in m:
        kw["inject_env"] = m["inject_env"].strings(f"commands.{name}.inject_env")
    for field_name in ("workspace", "read"):
        if field_name in m:
            kw[field_name] = _abs_paths(m[field_name], f"commands.{name}.{field_name}")
    if "hosts" in m:
        hosts = m["hosts"].strings(f"commands.{name}.hosts")
        for h, item in zip(hosts, m["hosts"].seq("hosts"), strict=True):
            try:
                parse_host(h)
            except ValueError as exc:
                raise item.fail(f"commands.{name}.hosts: {exc}") from None
        kw["hosts"] = hosts
    if "sha256" in m:
        pin = m["sha256"].text(f"commands.{name}.sha256").removeprefix("sha256:").lower()
        if not re.fullmatch(r"[0-9a-f]{64}", pin):
            raise m["sha256"].fail("sha256 must be 64 hex characters")
        kw["sha256"] = pin
    return CommandRule(**kw)


def _abs_paths(node: Node, what: str) -> tuple[str, ...]:
    out = []
    for item in node.seq(what):
        p = item.text(f"{what} entries")
        if not p.startswith("/") or "\0" in p:
            raise item.fail(f"{what}: {p!r} must be an absolute path")
        out.append(p.rstrip("/") or "/")
    return tuple(out)


def _narrow_list(base: tuple[str, ...], personal: CommandRule, name: str) -> tuple[str, ...]:
    """A personal rule that names the field keeps only what both allow."""
    if name not in personal.specified:
        return base
    theirs = getattr(personal, name)
    return tuple(x for x in base if x in theirs)


def narrow(base: Policy, personal: Policy) -> Policy:
    """The personal policy can only take away: the result allows what both allow."""
    if base.broken is not None:
        return base
    if personal.broken is not None:
        return Policy.deny_all(personal.broken, personal.source)
    has = personal.specified
    allowed = tuple(c for c in base.allowed_commands
                    if "allowed_commands" not in has or c in personal.allowed_commands)
    rules = dict(base.commands)
    for name, prule in personal.commands.items():
        brule = rules.get(name, CommandRule(name))
        rules[name] = replace(
            brule,
            narrowed_keys=brule.narrowed_keys + ((prule.keys,) if prule.keys is not None else ()),
            deny_args=brule.deny_args + prule.deny_args,
            # Both lists must admit the arguments: a personal `s3 ls *` narrows the vault's `s3 *`.
            narrowed_args=brule.narrowed_args + ((prule.args_allow,) if prule.args_allow else ()),
            expand=brule.expand and prule.expand,
            inject_env=tuple(n for n in brule.inject_env if not prule.inject_env or n in prule.inject_env),
            workspace=_narrow_list(brule.workspace, prule, "workspace"),
            read=_narrow_list(brule.read, prule, "read"),
            hosts=_narrow_list(brule.hosts, prule, "hosts"),
        )
    base_env = base.agent_env_allow()
    return replace(
        base,
        source=f"{base.source} narrowed by {personal.source}",
        default_action="deny" if "default_action" in has and personal.default_action == "deny"
        else base.default_action,
        allowed_commands=allowed,
        denied_commands=tuple(dict.fromkeys(base.denied_commands + personal.denied_commands)),
        commands=rules,
        timeout=min(base.timeout, personal.timeout) if "limits" in has else base.timeout,
        max_output_bytes=min(base.max_output_bytes, personal.max_output_bytes) if "limits" in has
        else base.max_output_bytes,
        fragment_min=min(base.fragment_min, personal.fragment_min),
        fragment_value_min=min(base.fragment_value_min, personal.fragment_value_min),
        agent_env=tuple(e for e in base_env if personal.agent_env is None or e in personal.agent_env),
        allow_generate=base.allow_generate and (personal.allow_generate or "mcp" not in has),
        strike_limit=min(base.strike_limit, personal.strike_limit),
        # The sandbox is off only if both files turn it off (a file that does not name it keeps the team's).
        sandbox="none" if base.sandbox == "none" and ("sandbox" not in has or personal.sandbox == "none")
        else "auto",
        path=tuple(d for d in base.path if "path" not in has or d in personal.path),
    )
