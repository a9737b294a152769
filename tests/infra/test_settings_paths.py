"""settings' string paths (`get`'s fast path, no pathlib) name the same files as its Path ones."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from secretctl.infra import settings


@pytest.mark.parametrize("env", [
    {"SECRETCTL_CONFIG_DIR": "/c", "SECRETCTL_RUNTIME_DIR": "/r"},
    {"SECRETCTL_CONFIG_DIR": "/c/./x//", "XDG_RUNTIME_DIR": "/run/user/7/"},
    {"SECRETCTL_IDENTITY": "~/keys/../id.age", "SECRETCTL_RUNTIME_DIR": "rel/dir"},
    {"SECRETCTL_IDENTITY": "id.age", "XDG_RUNTIME_DIR": "relative"},
    {"SECRETCTL_IDENTITY": "/k/id.age", "SECRETCTL_AGENT_SOCKET": "/s/agent.sock"},
    {"SECRETCTL_CONFIG_DIR": "/c", "TMPDIR": "/t"},
])
def test_string_and_path_forms_name_the_same_files(env: dict[str, str]) -> None:
    assert Path(settings.agent_socket_file(env)) == settings.agent_socket_path(env)
    assert os.path.abspath(settings.identity_file(env)) == os.path.abspath(settings.identity_path(env))
    assert Path(settings.runtime_dir_str(env)) == settings.runtime_dir(env)
    assert Path(settings.config_dir_str(env)) == settings.config_dir(env)


def test_the_socket_name_follows_the_identity_file() -> None:
    a = settings.agent_socket_file({"SECRETCTL_IDENTITY": "/k/a.age", "SECRETCTL_RUNTIME_DIR": "/r"})
    b = settings.agent_socket_file({"SECRETCTL_IDENTITY": "/k/x/../a.age", "SECRETCTL_RUNTIME_DIR": "/r"})
    c = settings.agent_socket_file({"SECRETCTL_IDENTITY": "/k/b.age", "SECRETCTL_RUNTIME_DIR": "/r"})
    assert a == b != c


def test_settings_imports_no_pathlib() -> None:
    code = ("import sys; from secretctl.infra import settings; settings.agent_socket_file();"
            "print('pathlib' in sys.modules, 'typing' in sys.modules)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SECRETCTL_")}
    env.update(SECRETCTL_CONFIG_DIR="/c")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.split() == ["False", "False"]
