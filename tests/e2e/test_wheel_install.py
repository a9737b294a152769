"""A real install, not the editable one: build the sdist, build the wheel from that sdist (what
pip and pipx do with a release), install the wheel into a fresh venv, and use that `secretctl`
the way a newcomer does: identity, init, set, get, run, hook install, a push to a bare remote
through the installed hooks, and the MCP server answering `tools/list` over stdio.

Cheap on purpose: the build runs the dev venv's setuptools in-process-free PEP 517 calls (no
build isolation, nothing downloaded), and the fresh venv gets only secretctl from the wheel
(`--no-deps`); its dependencies come from the dev venv's site-packages through a .pth file.
The test asserts that `secretctl` itself is imported from the wheel, never from the source tree.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO, git

# What `init` copies into a new vault (dotfiles included), and the MCP server's recorded answers:
# each must be inside the wheel.
TEMPLATE_FILES = {
    "secretctl/data/vault-template/.gitattributes",
    "secretctl/data/vault-template/.pre-commit-config.yaml",
    "secretctl/data/vault-template/.secretctl/config.yaml",
    "secretctl/data/vault-template/README.md",
    "secretctl/data/mcp-answers.json",  # a cold MCP server's first answers (mcp/early.py)
}
_COPY_IGNORE = shutil.ignore_patterns(".venv", ".git", "__pycache__", "*.egg-info", "build", "dist", ".hypothesis",
                                      ".mypy_cache", ".ruff_cache", ".pytest_cache", ".bench", "tests", "benchmarks")


def _pep517(hook: str, src: Path, out: Path) -> str:
    """Call a setuptools PEP 517 hook in ``src`` (a child process: setuptools changes the cwd
    and global state). Returns the built file's name; fails on any build warning."""
    code = f"from setuptools import build_meta as b; print(b.{hook}({str(out)!r}))"
    proc = subprocess.run([sys.executable, "-c", code], cwd=src,
                          capture_output=True, text=True, check=False, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    noisy = [ln for ln in (proc.stdout + proc.stderr).splitlines()
             if ("warning" in ln.lower() or "deprecat" in ln.lower())
             and "byte-compiling is disabled" not in ln]  # PYTHONDONTWRITEBYTECODE in the caller's environment
    assert not noisy, noisy
    return proc.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("wheel")
    src = base / "src"
    shutil.copytree(REPO, src, ignore=_COPY_IGNORE)
    sdist = src.parent / "dist"
    sdist.mkdir()
    sdist_name = _pep517("build_sdist", src, sdist)
    with tarfile.open(sdist / sdist_name) as tar:
        tar.extractall(base / "unpacked", filter="data")
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    assert names >= TEMPLATE_FILES, TEMPLATE_FILES - names
    (unpacked,) = (base / "unpacked").iterdir()
    out = base / "whl"
    out.mkdir()
    return out / _pep517("build_wheel", unpacked, out)


def test_the_wheel_holds_the_template_and_nothing_else(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert names >= TEMPLATE_FILES, TEMPLATE_FILES - names
    assert not [n for n in names if n.startswith(("tests/", "benchmarks/", "vault-template/", "scripts/"))]
    meta = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert "License-Expression: Apache-2.0" in meta


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with secretctl from the wheel only; returns its bin directory."""
    venv = tmp_path_factory.mktemp("venv") / "v"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    py = venv / "bin" / "python"
    site = Path(subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                               capture_output=True, text=True, check=True).stdout.strip())
    # Dependencies from the dev venv (a path in a .pth file; the dev venv's own .pth files, among
    # them the editable install's pointer to the source tree, are not processed from there).
    (site / "zz-dev-deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "--quiet", "--no-deps",
                    "--no-index", "--disable-pip-version-check", str(wheel)], check=True, timeout=300)
    where = subprocess.run([str(py), "-c", "import secretctl, importlib.metadata as m; print(secretctl.__file__); "
                            "print(m.distribution('secretctl').read_text('RECORD') is not None)"],
                           capture_output=True, text=True, check=True, cwd=venv).stdout.split()
    assert Path(where[0]).is_relative_to(site), where
    assert not Path(where[0]).is_relative_to(REPO)
    return venv / "bin"


def test_smoke_flow_from_the_wheel(installed: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / ".gitconfig").write_text("[user]\n\tname = Wheel User\n\temail = wheel@example.com\n"
                                     "[init]\n\tdefaultBranch = main\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SECRETCTL_", "GIT_", "PYTHON", "VIRTUAL_ENV"))}
    env.update(HOME=str(home), SECRETCTL_CONFIG_DIR=str(home / "config"), SECRETCTL_DATA_DIR=str(home / "data"),
               GIT_CONFIG_GLOBAL=str(home / ".gitconfig"), GIT_CONFIG_NOSYSTEM="1", NO_COLOR="1",
               PATH=f"{installed}{os.pathsep}/usr/local/bin:/usr/bin:/bin")
    exe = str(installed / "secretctl")

    def sc(*args: str, input: bytes = b"", cwd: Path = home) -> bytes:
        proc = subprocess.run([exe, *args], input=input, capture_output=True, env=env, cwd=cwd, timeout=120,
                              check=False)
        assert proc.returncode == 0, (args, proc.stderr.decode(errors="replace"))
        return proc.stdout

    # The console script runs the wheel's code: prove it from inside the program.
    probe = subprocess.run([str(installed / "python"), "-c", "import secretctl.cli.main as m; print(m.__file__)"],
                           capture_output=True, text=True, env=env, cwd=home, check=True).stdout
    assert probe.startswith(str(installed.parent)), probe
    assert sc("--version").startswith(b"secretctl ")
    recipient = sc("identity", "new", "--no-passphrase").decode().strip()
    assert recipient.startswith("age1")
    vault = tmp_path / "vault"
    sc("init", str(vault))
    for rel in (".gitattributes", ".pre-commit-config.yaml", ".secretctl/config.yaml", "README.md"):
        assert (vault / rel).is_file(), rel
    env["SECRETCTL_VAULT"] = str(vault)
    sc("set", "app/token", input=b"wheel-Secret-9876\n")
    assert sc("get", "app/token") == b"wheel-Secret-9876"
    out = sc("run", "-k", "app/token", "--", "sh", "-c", "echo token=$APP_TOKEN")
    assert out == b"token=[REDACTED:app/token]\n"
    sc("hook", "install", cwd=vault)
    hook = (vault / ".git" / "hooks" / "pre-push").read_text()
    assert "secretctl" in hook
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(remote)], check=True)
    git(vault, "remote", "add", "origin", str(remote), env=env)
    push = subprocess.run(["git", "push", "-q", "-u", "origin", "main"], cwd=vault, env=env, capture_output=True,
                          check=False, timeout=120)
    assert push.returncode == 0, push.stderr.decode(errors="replace")
    assert git(remote, "rev-parse", "main", env=env) == git(vault, "rev-parse", "HEAD", env=env)
    sc("set", "app/second", input=b"second-Secret-5432")
    sc("sync", cwd=vault)
    assert git(remote, "rev-parse", "main", env=env) == git(vault, "rev-parse", "HEAD", env=env)

    from mcp import Client
    from mcp.client.stdio import StdioServerParameters

    params = StdioServerParameters(command=exe, args=["mcp-server", "--vault", str(vault)], env=env, cwd=str(vault))

    async def tools() -> list[str]:
        async with Client(params) as client:
            return [t.name for t in (await client.list_tools()).tools]

    names = asyncio.run(tools())
    assert {"secret_list", "secret_run", "secret_get_masked"} <= set(names)
