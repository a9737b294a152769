"""Keys to environment variables (pure core): names, patterns, aliases, ``$NAME`` expansion."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

from secretctl.core.frozen import frozen
from secretctl.core.keys import match_pattern
from secretctl.core.lazyre import lazy
from secretctl.errors import NotFoundError, PolicyError, UsageError

# [A-Z_][A-Z0-9_]* as character sets: no regex compile on `run`'s start (its silent form compiles few)
_ENV_FIRST = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ_")
_ENV_CHARS = _ENV_FIRST | frozenset("0123456789")
_TO_UNDERSCORE = str.maketrans("/.-:", "____")  # not re.sub: its pattern's compile cost `run` ~0.1 ms
_REF = lazy(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")  # compiled once an argument holds a `$`

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
    name = prefix + key.translate(_TO_UNDERSCORE).upper()
    if not (name and name[0] in _ENV_FIRST and _ENV_CHARS.issuperset(name)):
        raise UsageError(f"key {key} does not make a valid environment variable name ({name})",
                         hint="use --env-prefix, or rename the key")
    return name


# Names that point a tool at another configuration, credential or certificate store: a file an
# agent can write, which then names programs to run (kubeconfig exec plugins, docker credential
# helpers, AWS credential_process, git config) or where to send traffic. Refused as injection
# targets unless the command's rule names them (`inject_env: [KUBECONFIG]`).
_REDIRECT_EXACT = frozenset({
    "KUBECONFIG", "DOCKER_CONFIG", "DOCKER_HOST", "DOCKER_CERT_PATH", "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE", "AWS_CA_BUNDLE", "AWS_WEB_IDENTITY_TOKEN_FILE", "BOTO_CONFIG",
    "GOOGLE_APPLICATION_CREDENTIALS", "CLOUDSDK_CONFIG", "AZURE_CONFIG_DIR", "GNUPGHOME", "SSH_AUTH_SOCK",
    "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "NODE_EXTRA_CA_CERTS", "CURL_HOME",
    "WGETRC", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "FTP_PROXY", "PGSERVICEFILE", "PGPASSFILE",
    "PGSYSCONFDIR", "PGSSLROOTCERT", "MYSQL_HOME", "ANSIBLE_CONFIG", "CARGO_HOME", "RUSTUP_HOME", "GOPROXY",
    "GOFLAGS", "GEM_HOME", "BUNDLE_GEMFILE", "BUNDLE_USER_CONFIG", "TERRAFORM_CONFIG", "KUBE_CONFIG_PATH",
    "YARN_RC_FILENAME", "NPMRC",
    "ENV", "BASH_ENV", "PATH", "HOME", "SHELL", "TMPDIR",
})
_REDIRECT_PREFIXES = ("GIT_", "NPM_CONFIG_", "PIP_", "PYTHON", "LD_", "DYLD_", "XDG_", "TF_CLI_")
# Suffixes, not prefixes, for the families whose other names are ordinary secrets
# (DOCKER_PASSWORD, KUBE_TOKEN, HELM_REPO_PASSWORD are fine; *_CONFIG_FILE is not).
_REDIRECT_SUFFIXES = ("_CONFIG_FILE", "_CONFIG_DIR", "_CONFIG_PATH", "_CONFIG_HOME", "_DATA_HOME", "_CACHE_HOME",
                      "_CA_BUNDLE", "_CREDENTIALS_FILE", "_RC_FILENAME")


def check_injectable(name: str) -> None:
    if name in _REFUSED_EXACT or name.startswith(_REFUSED_PREFIXES):
        raise PolicyError(f"refusing to inject {name}: it changes how programs start",
                          hint="rename the key, or use --env-prefix")


def redirects_config(name: str) -> bool:
    """Whether ``name`` points a program at a configuration or credential file (see above)."""
    return name in _REDIRECT_EXACT or name.startswith(_REDIRECT_PREFIXES) or name.endswith(_REDIRECT_SUFFIXES)


def check_redirects(names: Iterable[str], allowed: Iterable[str]) -> None:
    """Refuse any config-redirecting name among ``names`` that the rule did not name."""
    ok = set(allowed)
    bad = sorted(n for n in names if n not in ok and redirects_config(n))
    if bad:
        raise PolicyError(f"refusing to inject {bad[0]}: it points programs at another configuration",
                          hint=f"rename the key or use an env prefix; or name it in the command's rule: "
                               f"inject_env: [{bad[0]}]")


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


@frozen
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

    return [_REF().sub(repl, a) if "$" in a else a for a in args]


def referenced(args: Sequence[str], names: set[str]) -> list[str]:
    """Which injected names the args reference (for the audit log and policy checks)."""
    out = []
    for a in [a for a in args if "$" in a]:
        for m in _REF().finditer(a):
            n = m.group(1) or m.group(2)
            if n in names and n not in out:
                out.append(n)
    return out
