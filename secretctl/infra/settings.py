"""Where things are: environment variables and platformdirs, in one place.

This is the only module that reads ``os.environ`` (tests/test_architecture.py checks it): every
other module asks ``environ()`` or a named accessor, so what the process inherited is read in
one place and a test can see every variable secretctl looks at.
"""

from __future__ import annotations

import os
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


def environ() -> Mapping[str, str]:
    """The process environment, read-only by convention: children get copies built from it."""
    return os.environ


def get(name: str) -> str | None:
    """One variable, None when unset or empty."""
    return os.environ.get(name) or None


def config_dir(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    if env.get(ENV_CONFIG_DIR):
        return Path(env[ENV_CONFIG_DIR])
    import platformdirs

    return Path(platformdirs.user_config_dir(APP))


def data_dir(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    if env.get(ENV_DATA_DIR):
        return Path(env[ENV_DATA_DIR])
    import platformdirs

    return Path(platformdirs.user_data_dir(APP))


def default_vault_dir(env: Mapping[str, str] | None = None) -> Path:
    return data_dir(env) / "vault"


def identity_path(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    if env.get(ENV_IDENTITY):
        return Path(env[ENV_IDENTITY]).expanduser()
    return config_dir(env) / "identity.age"


def personal_policy_path(env: Mapping[str, str] | None = None) -> Path:
    return config_dir(env) / "mcp-policy.yaml"
