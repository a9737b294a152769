"""Where things are: environment variables and platformdirs, in one place.

This is the only module that reads ``os.environ`` (tests/test_architecture.py checks it): every
other module asks ``environ()`` or a named accessor, so what the process inherited is read in
one place and a test can see every variable secretctl looks at.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:  # collections.abc and pathlib cost `get`'s fast path about 15 ms: for mypy only
    from collections.abc import Mapping
    from pathlib import Path

APP = "secretctl"
ENV_VAULT = "SECRETCTL_VAULT"
ENV_IDENTITY = "SECRETCTL_IDENTITY"
ENV_PASSWORD = "SECRETCTL_PASSWORD"
ENV_ACTOR = "SECRETCTL_ACTOR"
ENV_AGENT = "SECRETCTL_AGENT"
ENV_CONFIG_DIR = "SECRETCTL_CONFIG_DIR"
ENV_DATA_DIR = "SECRETCTL_DATA_DIR"
ENV_RUNTIME_DIR = "SECRETCTL_RUNTIME_DIR"
ENV_AGENT_SOCKET = "SECRETCTL_AGENT_SOCKET"
ENV_WARM = "SECRETCTL_WARM"
ENV_MCP_EARLY = "SECRETCTL_MCP_EARLY"


def environ() -> Mapping[str, str]:
    """The process environment, read-only by convention: children get copies built from it."""
    return os.environ


def get(name: str) -> str | None:
    """One variable, None when unset or empty."""
    return os.environ.get(name) or None


def config_dir(env: Mapping[str, str] | None = None) -> Path:
    from pathlib import Path

    return Path(config_dir_str(env))


def config_dir_str(env: Mapping[str, str] | None = None) -> str:
    """``config_dir`` as a string (the paths of `get`'s fast path are strings: no pathlib)."""
    env = os.environ if env is None else env
    if env.get(ENV_CONFIG_DIR):
        return env[ENV_CONFIG_DIR]
    import platformdirs

    return platformdirs.user_config_dir(APP)


def data_dir(env: Mapping[str, str] | None = None) -> Path:
    from pathlib import Path

    return Path(data_dir_str(env))


def data_dir_str(env: Mapping[str, str] | None = None) -> str:
    """``data_dir`` as a string (`run`'s fast path: no pathlib)."""
    env = os.environ if env is None else env
    if env.get(ENV_DATA_DIR):
        return env[ENV_DATA_DIR]
    import platformdirs

    return platformdirs.user_data_dir(APP)


def default_vault_dir(env: Mapping[str, str] | None = None) -> Path:
    return data_dir(env) / "vault"


def identity_path(env: Mapping[str, str] | None = None) -> Path:
    from pathlib import Path

    env = os.environ if env is None else env
    if env.get(ENV_IDENTITY):
        return Path(env[ENV_IDENTITY]).expanduser()
    return config_dir(env) / "identity.age"


def identity_file(env: Mapping[str, str] | None = None) -> str:
    """``identity_path`` as a string (the same file; `get`'s fast path: no pathlib)."""
    env = os.environ if env is None else env
    if env.get(ENV_IDENTITY):
        return os.path.expanduser(env[ENV_IDENTITY])
    return os.path.join(config_dir_str(env), "identity.age")


def personal_policy_path(env: Mapping[str, str] | None = None) -> Path:
    return config_dir(env) / "mcp-policy.yaml"


def runtime_dir(env: Mapping[str, str] | None = None) -> Path:
    from pathlib import Path

    return Path(runtime_dir_str(env))


def runtime_dir_str(env: Mapping[str, str] | None = None) -> str:
    """Where the unlock agent's socket lives: $SECRETCTL_RUNTIME_DIR, else $XDG_RUNTIME_DIR/secretctl
    (a per-user tmpfs on systemd machines), else a folder named by uid in the temp dir. Computed
    without platformdirs (the fast path of `get` reads it), and trusted only once the agent or
    client has checked its owner and mode (infra/agentsock.check_private_dir)."""
    env = os.environ if env is None else env
    if env.get(ENV_RUNTIME_DIR):
        return env[ENV_RUNTIME_DIR]
    xdg = env.get("XDG_RUNTIME_DIR", "")
    if xdg and os.path.isabs(xdg):
        return os.path.join(xdg, APP)
    # macOS gives each user a private $TMPDIR; elsewhere /tmp is shared, hence the uid in the name.
    tmp = env.get("TMPDIR", "") if sys.platform == "darwin" else ""
    # S108: a shared /tmp is the documented fallback; the folder's owner and mode are checked before use.
    return os.path.join(tmp if os.path.isabs(tmp) else "/tmp", f"{APP}-{os.getuid()}")  # noqa: S108


def agent_socket_path(env: Mapping[str, str] | None = None) -> Path:
    """The socket of the agent holding this identity: $SECRETCTL_AGENT_SOCKET (set in a `run`
    child only by `run --with-agent`), else one socket per identity file in the runtime dir."""
    from pathlib import Path

    return Path(agent_socket_file(env))


def agent_socket_file(env: Mapping[str, str] | None = None) -> str:
    """``agent_socket_path`` as a string (`get`'s fast path: no pathlib)."""
    env = os.environ if env is None else env
    if env.get(ENV_AGENT_SOCKET):
        return env[ENV_AGENT_SOCKET]
    # abspath normalizes, so the name is the one identity_path's Path gives.
    return os.path.join(runtime_dir_str(env), f"agent-{_fnv1a(os.path.abspath(identity_file(env)))}.sock")


def warm_socket_file(env: Mapping[str, str] | None = None) -> str:
    """The warm MCP server's socket: beside the agent's, one per agent (its name is the agent's
    with ``.warm``), so the sandbox hides both and `lock` finds the one started with its agent."""
    agent = agent_socket_file(env)
    return agent.removesuffix(".sock") + ".warm.sock"


def environ_items() -> list[bytes]:
    """The whole environment as ``NAME=value`` bytes (what a warm MCP server's child adopts)."""
    return [k + b"=" + v for k, v in os.environb.items()]


def warm_enabled(env: Mapping[str, str] | None = None) -> bool:
    """Whether `unlock` starts the warm MCP server, and `secretctl mcp` uses it: $SECRETCTL_WARM=0
    turns it off (as `unlock --no-warm` does once)."""
    env = os.environ if env is None else env
    return env.get(ENV_WARM, "") != "0"


def adopt_environ(items: list[bytes]) -> None:
    """Make ``items`` (``NAME=value`` bytes) this process's whole environment, C level included:
    a warm MCP server's child takes its client's, so every setting is read from that one."""
    os.environ.clear()
    for item in items:
        name, _, value = item.partition(b"=")
        if name:
            os.environb[name] = value


def _fnv1a(text: str) -> str:
    # A name, not a defence (the agent checks the recipient a client expects): FNV-1a spares the
    # fast path the 10 ms it takes to import hashlib's OpenSSL.
    h = 0xCBF29CE484222325
    for b in text.encode():
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def private_paths(env: Mapping[str, str] | None = None) -> list[str]:
    """secretctl's own folders and files, which a sandboxed command must never see: config
    (identity, personal policy), data (default vault), state, the runtime dirs (agent sockets)."""
    env = os.environ if env is None else env
    import platformdirs

    # XDG_RUNTIME_DIR is not asked of platformdirs: it warns when the variable is unset.
    return [str(config_dir(env)), str(data_dir(env)), str(identity_path(env)), platformdirs.user_state_dir(APP),
            str(runtime_dir(env)), str(agent_socket_path(env).parent),
            env.get("XDG_RUNTIME_DIR") or f"/run/user/{os.getuid()}"]


def take(name: str) -> str | None:
    """Remove ``name`` from the process environment and return its value (the password hand-off)."""
    return os.environ.pop(name, None)
def access_spool_dir(env: Mapping[str, str] | None = None) -> Path:
    """Where access records wait while a vault cannot be written (a read-only mount or
    checkout); the vault's next commit by this user moves them into the member's log."""
    return data_dir(env) / "access-pending"
