"""Keys to environment variables (pure core): names, patterns, aliases, ``$NAME`` expansion."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from secretctl.core.keys import match_pattern
from secretctl.errors import NotFoundError, PolicyError, UsageError

_ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")
_REF = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")

# Names that change how programs start or where they look: injecting them is code execution.
_REFUSED_EXACT = frozenset({
    "LD_PRELOAD", "LD_LIBRARY_PATH", "LD_AUDIT", "LD_DEBUG", "NODE_OPTIONS", "NODE_PATH", "BASH_ENV", "ENV",
    "PYTHONSTARTUP", "PYTHONPATH", "PYTHONHOME", "PYTHONINSPECT", "PERL5OPT", "PERL5LIB", "PERLLIB", "RUBYOPT",
    "RUBYLIB", "GIT_SSH", "GIT_SSH_COMMAND", "GIT_EXEC_PATH", "GIT_ASKPASS", "SSH_ASKPASS", "PROMPT_COMMAND",
    "IFS", "PATH", "HOME", "SHELL", "SHELLOPTS", "BASHOPTS", "PS4", "JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS",
    "JDK_JAVA_OPTIONS", "DOTNET_STARTUP_HOOKS", "EDITOR", "VISUAL", "PAGER", "GIT_PAGER", "LESSOPEN",
    "MANPAGER", "TMPDIR", "ZDOTDIR", "XDG_CONFIG_HOME",
})
_REFUSED_PREFIXES = ("LD_", "DYLD_", "GIT_CONFIG", "SECRETCTL_", "BASH_FUNC_")


def env_name(key: str, prefix: str = "") -> str:
    """``aws/access_key`` -> ``AWS_ACCESS_KEY`` (``/``, ``-``, ``.`` become ``_``), then the prefix."""
    name = prefix + re.sub(r"[/.\-:]", "_", key).upper()
    if not _ENV_NAME.fullmatch(name):
        raise UsageError(f"key {key} does not make a valid environment variable name ({name})",
                         hint="use --env-prefix, or rename the key")
    return name


def check_injectable(name: str) -> None:
    if name in _REFUSED_EXACT or name.startswith(_REFUSED_PREFIXES):
        raise PolicyError(f"refusing to inject {name}: it changes how programs start",
                          hint="rename the key, or use --env-prefix")


def build_env_map(keys: Sequence[str], prefix: str = "", *, names: Mapping[str, str] | None = None) -> dict[str, str]:
    """Env name -> key. ``names`` gives the name to use for a key (aliases keep their
    un-aliased names). Two keys mapping to one name is an error naming both."""
    out: dict[str, str] = {}
    for key in keys:
        name = env_name(names[key] if names and key in names else key, prefix)
        if name in out and out[name] != key:
            raise UsageError(f"keys {out[name]} and {key} both map to {name}",
                             hint="select fewer keys, or rename one")
        out[name] = key
    return out


def expand_patterns(patterns: Iterable[str], all_keys: Sequence[str]) -> list[str]:
    """Keys matching any pattern: pattern by pattern, each in vault order, without repeats; a
    pattern that matches nothing is an error."""
    chosen: dict[str, None] = {}
    for pattern in patterns:
        hits = [k for k in all_keys if match_pattern(pattern, k)]
        if not hits:
            raise NotFoundError(f"no secret matches {pattern}", hint="secretctl list shows the keys")
        for k in hits:
            chosen[k] = None
    return list(chosen)


@dataclass(frozen=True)
class Alias:
    pattern: str
    target: str


def apply_alias(pattern: str, env: str | None, aliases: Mapping[str, Sequence[Alias]]) -> tuple[str, str]:
    """(pattern to read, prefix to strip from the keys read) for ``--env``.

    ``--env prod -k "db/*"`` with ``{prod: [{pattern: "db/*", target: "prod/db/*"}]}`` reads
    ``prod/db/*`` and injects ``prod/db/password`` as ``DB_PASSWORD``.
    """
    if env is None:
        return pattern, ""
    if env not in aliases:
        raise UsageError(f"unknown environment {env!r}", hint=f"the policy defines: {', '.join(aliases) or 'none'}")
    for alias in aliases[env]:
        if alias.pattern == pattern:
            src_base = _static_prefix(alias.pattern)
            dst_base = _static_prefix(alias.target)
            return alias.target, dst_base[: len(dst_base) - len(src_base)] if dst_base.endswith(src_base) else ""
    return pattern, ""


def pattern_folder(pattern: str) -> str:
    """The deepest folder holding every key ``pattern`` can match (``aws`` for ``aws/*``,
    ``aws/**`` and ``aws/key``; ``""`` for ``**`` or ``a*/x``): only that folder needs listing."""
    segs = pattern.split("/")[:-1]
    cut = next((i for i, s in enumerate(segs) if "*" in s), len(segs))
    return "/".join(segs[:cut])


def _static_prefix(pattern: str) -> str:
    """The part of a pattern before its first wildcard segment, e.g. ``prod/db/`` for ``prod/db/*``."""
    segs = pattern.split("/")
    out = []
    for s in segs:
        if "*" in s:
            break
        out.append(s)
    return "/".join(out) + ("/" if len(out) < len(segs) else "")


def expand_args(args: Sequence[str], env: Mapping[str, str], names: set[str]) -> list[str]:
    """Expand ``$NAME`` / ``${NAME}`` that name an injected variable; leave every other ``$`` alone.

    No shell is involved, so nothing else is interpreted. ``$$`` is not special: to pass a
    literal ``$NAME`` for an injected NAME, the command must read it from its environment.
    """
    def repl(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2)
        return env[name] if name in names and name in env else m.group(0)

    return [_REF.sub(repl, a) for a in args]


def referenced(args: Sequence[str], names: set[str]) -> list[str]:
    """Which injected names the args reference (for the audit log and policy checks)."""
    out = []
    for a in args:
        for m in _REF.finditer(a):
            n = m.group(1) or m.group(2)
            if n in names and n not in out:
                out.append(n)
    return out
