"""Shared fixtures: isolated homes, real identities, real vaults (real git), the installed CLI.

Every test gets its own config/data dirs through SECRETCTL_CONFIG_DIR / SECRETCTL_DATA_DIR,
so nothing touches the developer's real identity or vault.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests import inproc_cli

if TYPE_CHECKING:
    from secretctl.service.vault import Vault

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SECRETCTL = str(BIN / "secretctl")
AGE = shutil.which("age")
AGE_KEYGEN = shutil.which("age-keygen")

needs_age = pytest.mark.skipif(AGE is None, reason="the age CLI is not installed (make test installs it)")


@dataclass
class Member:
    """One person: their own config dir (identity) and environment."""

    name: str
    home: Path
    env: dict[str, str] = field(default_factory=dict)
    recipient: str = ""

    @property
    def identity(self) -> Path:
        return self.home / "config" / "identity.age"

    def run(self, *args: str, input: bytes | None = None, check: bool = True, cwd: Path | None = None,
            env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[bytes]:
        """Run `secretctl` as this member; stdin is not a TTY. In this process through the CLI's
        own entry point where that is equivalent (tests/inproc_cli.py says when it is not, and
        runs those as the installed command)."""
        full_env = {**self.env, **(env or {})}
        stdin = input if input is not None else b""
        if inproc_cli.wants_subprocess(args, full_env):
            proc = subprocess.run([SECRETCTL, *args], input=stdin, capture_output=True, env=full_env,
                                  cwd=cwd or self.home, timeout=timeout)
        else:
            proc = inproc_cli.run_inprocess(SECRETCTL, args, input=stdin, env=full_env, cwd=cwd or self.home)
        if check and proc.returncode != 0:
            raise AssertionError(f"secretctl {' '.join(args)} exited {proc.returncode}: "
                                 f"{proc.stderr.decode(errors='replace')}")
        return proc


_DETECTORS: list[Path] = []  # this worker's compiled detector set, built on first use


def seed_detector_cache(home: Path) -> None:
    """Give a new home the compiled detector set a user has after their first `run` or hook.

    The set holds public patterns only (infra/detcache.py). Compiling it costs ~0.4 s of CPU,
    and ~130 homes in a run of the suite each compiled it once: about a fifth of the suite's CPU,
    spent on the path a user takes once. Each worker compiles it once, through the package's
    own code, and copies it into every home (a copy, not a link: a test that damages one home's
    cache must not damage the others'). The tests of the compile-and-keep path itself empty the
    folder first (tests/infra/test_detcache.py uses its own folder)."""
    if not _DETECTORS:
        from secretctl.core.redact.shapes import Shapes
        from secretctl.infra.detcache import FileShapesStore

        folder = Path(tempfile.mkdtemp(prefix="secretctl-detectors-"))
        atexit.register(shutil.rmtree, folder, True)
        key = Shapes.cache_key(FileShapesStore(folder).versions(("detect-secrets", "hyperscan")))
        seed = folder / f"detectors-{key}.hs"
        seed.write_bytes(Shapes.compile().dump())
        _DETECTORS.append(seed)
    cache = home / "data" / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    target = cache / _DETECTORS[0].name
    if not target.exists():
        shutil.copyfile(_DETECTORS[0], target)


@contextlib.contextmanager
def impostor_socket(name: str, code: str) -> Iterator[tuple[Path, subprocess.Popen[bytes]]]:
    """A unix socket served by another uid (nobody, through setpriv; root only) in a folder of
    ours made private again once it is bound, so only a peer check can tell. ``code`` binds
    sys.argv[1] and prints 'ready'. Yields the socket and the impostor."""
    folder = Path(tempfile.mkdtemp(prefix="sc-imp-"))
    sock = folder / name
    os.chmod(folder, 0o777)  # noqa: S103 - the impostor (another uid) must be able to create its socket
    proc = subprocess.Popen(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-c",
                             code, str(sock)], stdout=subprocess.PIPE, cwd="/")
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == b"ready"
        os.chmod(folder, 0o700)
        yield sock, proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        shutil.rmtree(folder, ignore_errors=True)


def alive(pid: int) -> bool:
    """Whether ``pid`` runs: a zombie (Z) or a dead one (X) is gone (a grandchild's zombie waits
    for init to reap it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2] not in "ZX"


def own_secret(member: Member, key: str, prefix: bytes) -> bytes:
    """A value only the calling test injects (stored at ``key``): checks that scan every process
    on the machine for a value would find one that tests on other workers inject at the same time."""
    import secrets

    value = prefix + secrets.token_hex(8).encode()
    member.run("set", key, input=value)
    return value


def _base_env(home: Path) -> dict[str, str]:
    seed_detector_cache(home)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SECRETCTL_", "GIT_"))}
    env.update(
        HOME=str(home),
        SECRETCTL_CONFIG_DIR=str(home / "config"),
        SECRETCTL_DATA_DIR=str(home / "data"),
        GIT_CONFIG_GLOBAL=str(home / ".gitconfig"),
        GIT_CONFIG_NOSYSTEM="1",
        NO_COLOR="1",
        # `unlock` would start the warm MCP server (about 1 s of CPU) for every agent of the suite;
        # tests/e2e/test_warm_mcp.py turns it on where it is the point.
        SECRETCTL_WARM="0",
        PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    return env


def make_member(tmp_path: Path, name: str, *, password: str | None = None, key: Member | None = None) -> Member:
    """A member with a new key, or with a copy of ``key``'s identity files (see ``_template``)."""
    home = tmp_path / name
    home.mkdir(parents=True, exist_ok=True)
    (home / ".gitconfig").write_text(f"[user]\n\tname = {name}\n\temail = {name}@example.com\n"
                                     "[init]\n\tdefaultBranch = main\n")
    m = Member(name, home, _base_env(home))
    m.env["SECRETCTL_ACTOR"] = name
    if key is not None:
        m.identity.parent.mkdir(mode=0o700, exist_ok=True)
        for suffix in ("", ".pub"):
            shutil.copy2(f"{key.identity}{suffix}", f"{m.identity}{suffix}")
        m.recipient = key.recipient
    else:
        # What `secretctl identity new` does, in this process: a CLI start per member was most of the
        # suite's set-up (tests/e2e/test_vault_cli.py and test_passphrase.py test the command, and that
        # it writes a full scrypt work factor).
        from secretctl.infra import identity, settings

        with member_environ(m):
            m.recipient = identity.create(settings.identity_path(), passphrase=None)
    if password:
        # Protected with a low scrypt work factor (tests/weak_scrypt.py): the real one costs about a
        # second per decrypt, which tests of what a password does need not pay.
        protect_identity(m, password)
        m.env["SECRETCTL_PASSWORD"] = password
    return m


_STOCKED: dict[tuple[str, str], Path] = {}  # this worker's filled vaults, by fixture and member key


def stock_once(name: str, member: Member, root: Path, stock: Callable[[], object]) -> None:
    """Fill ``member``'s fresh vault at ``root`` with ``stock``, once per worker and member key:
    the first test runs it, and keeps a copy of the vault it made; later tests get that copy.

    A fixture that sets a few keys through the CLI for every test (each `set` a commit: ~25 ms
    of CPU) costs most of a short test. The worker's alice and carol each have one key
    (``_template``, test_unlock.carol_in), so the copy reads as the original; ``stock`` must
    change nothing outside the vault."""
    saved = _STOCKED.get((name, member.recipient))
    if saved is None:
        stock()
        saved = Path(tempfile.mkdtemp(prefix="secretctl-stocked-")) / "vault"
        atexit.register(shutil.rmtree, saved.parent, True)
        shutil.copytree(root, saved, symlinks=True)
        named = [p for p in saved.rglob("*") if p.is_file() and "objects" not in p.parts
                 and str(root).encode() in p.read_bytes()]
        assert not named, f"{name}'s vault names its own folder, so it cannot be copied: {named}"
        _STOCKED[(name, member.recipient)] = saved
    else:
        shutil.rmtree(root)
        shutil.copytree(saved, root, symlinks=True)


def copy_world(src: Path, dst: Path, members: Sequence[Member], *, into: bool = False) -> list[Member]:
    """A copy of a folder of homes, vaults and remotes that a module built once (its template),
    for one test to change, and its members moved with it.

    Building two members, a remote and two clones costs about half a second of CPU (git and
    CLI processes); a copy costs a few ms. Files naming the template's folder (git's remote
    URLs and reflogs) name the copy; git's objects are copied as they are (they hold no
    absolute path: a vault names keys, not folders), and so are the detector caches. ``into``:
    ``dst`` exists already (the copy is merged into it)."""
    shutil.copytree(src, dst, symlinks=True, dirs_exist_ok=into)
    old, new = str(src), str(dst)
    for p in dst.rglob("*"):
        parts = p.relative_to(dst).parts
        if p.is_file() and not p.is_symlink() and "objects" not in parts and "cache" not in parts:
            data = p.read_bytes()
            if old.encode() in data:
                p.write_bytes(data.replace(old.encode(), new.encode()))

    def moved(m: Member) -> Member:
        return Member(m.name, Path(str(m.home).replace(old, new, 1)),
                      {k: v.replace(old, new) for k, v in m.env.items()}, m.recipient)

    return [moved(m) for m in members]


@contextlib.contextmanager
def member_environ(member: Member) -> Iterator[None]:
    """Run in-process service code with exactly the environment the member's CLI would get."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(member.env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture(autouse=True)
def _restore_environ() -> Iterator[None]:
    """Whatever a test sets in os.environ (in-process vaults read settings from it) is undone."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture(autouse=True)
def _cli_mode(request: pytest.FixtureRequest) -> Iterator[None]:
    """Tests marked ``cli_subprocess`` run every `Member.run` as the installed command."""
    inproc_cli.FORCE_SUBPROCESS[0] = request.node.get_closest_marker("cli_subprocess") is not None
    yield
    inproc_cli.FORCE_SUBPROCESS[0] = False


@pytest.fixture
def inproc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Vault:
    """A real vault (real git, real age files) opened in this process: no CLI subprocess, so a
    service test costs milliseconds. The identity is unprotected; the home is private."""
    from secretctl.infra import identity, settings
    from secretctl.service.vault import Vault, init_vault

    home = tmp_path / "home"
    home.mkdir()
    (home / ".gitconfig").write_text("[user]\n\tname = alice\n\temail = alice@example.com\n"
                                     "[init]\n\tdefaultBranch = main\n")
    for k in [k for k in os.environ if k.startswith(("SECRETCTL_", "GIT_"))]:
        monkeypatch.delenv(k)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(home / ".gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("SECRETCTL_CONFIG_DIR", str(home / "config"))
    monkeypatch.setenv("SECRETCTL_DATA_DIR", str(home / "data"))
    recipient = identity.create(settings.identity_path(), passphrase=None)
    root = tmp_path / "vault"
    init_vault(root, recipient=recipient, name="alice")
    return Vault(root, identity_path=settings.identity_path(), password=lambda: "", actor="alice")


def protect_identity(member: Member, password: str) -> None:
    """Re-encrypt ``member``'s identity under ``password`` with a low scrypt work factor
    (tests/weak_scrypt.py: test-only, the package cannot write one). SECRETCTL_PASSWORD is not
    put in the member's environment: each test says how the password arrives."""
    from tests.weak_scrypt import encrypt_with_passphrase

    key = member.identity.read_bytes()
    member.identity.write_bytes(encrypt_with_passphrase(key, password))


def private_runtime_dir(member: Member) -> Path:
    """A short, private folder for the member's unlock agent socket (a unix socket path must
    fit in about 100 bytes, which pytest's tmp_path names can exceed)."""
    import tempfile

    path = Path(tempfile.mkdtemp(prefix="sc-"))
    member.env["SECRETCTL_RUNTIME_DIR"] = str(path / "run")
    return path / "run"


_TEMPLATE: list[Member] = []  # this worker's template alice, whose home holds a fresh vault


def _template() -> Member:
    """alice's key and a fresh vault of hers, made once per worker by the code `init` runs.

    About 290 tests start from a fresh vault: each made its own (git init, config, the first
    commit: ~40 ms of CPU, mostly git processes). Each now gets a copy of this one (the `alice`
    fixture copies the key, `vault_dir` the vault; a vault holds no absolute path, which
    `_template` checks). So every test of a worker shares alice's key and first commit, never
    a file (tests/e2e/test_vault_cli.py runs `identity new` and `init` themselves)."""
    if not _TEMPLATE:
        from secretctl.service.vault import init_vault

        folder = Path(tempfile.mkdtemp(prefix="secretctl-template-"))
        atexit.register(shutil.rmtree, folder, True)
        m = make_member(folder, "alice")
        with member_environ(m):
            init_vault(m.home / "vault", recipient=m.recipient, name="alice")
        leaked = [p for p in (m.home / "vault").rglob("*") if p.is_file() and str(folder).encode() in p.read_bytes()]
        assert not leaked, f"a new vault names its own folder, so it cannot be copied: {leaked}"
        _TEMPLATE.append(m)
    return _TEMPLATE[0]


@pytest.fixture
def alice(tmp_path: Path) -> Member:
    return make_member(tmp_path, "alice", key=_template())


@pytest.fixture
def bob(tmp_path: Path) -> Member:
    return make_member(tmp_path, "bob")


@pytest.fixture
def vault_dir(tmp_path: Path, alice: Member) -> Iterator[Path]:
    """A fresh vault initialised by alice; alice's env points at it: a copy of what
    `secretctl init DIR --name alice` made for this worker's alice (``_template``)."""
    root = tmp_path / "vault"
    assert alice.recipient == _template().recipient, "vault_dir needs the alice fixture"
    shutil.copytree(_template().home / "vault", root, symlinks=True)
    alice.env["SECRETCTL_VAULT"] = str(root)
    yield root


def git(root: Path, *args: str, env: dict[str, str] | None = None) -> str:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, check=True, text=True,
                          env=env).stdout


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file in a tree (including .git objects) by path: to prove nothing changed."""
    out = {}
    for p in sorted(root.rglob("*")):
        # git's index (and a split index's shared part) is compared by `git ls-files -s` instead.
        index = p.name == "index" or p.name.startswith("sharedindex.")
        if p.is_file() and "secretctl.lock" not in p.name and not index:
            out[p.relative_to(root).as_posix()] = p.read_bytes()
    return out


def all_bytes_under(root: Path) -> bytes:
    """Everything git stores and every file on disk, decompressed, for leak scans."""
    chunks = [p.read_bytes() for p in root.rglob("*") if p.is_file()]
    if (root / ".git").exists():
        objs = subprocess.run(["git", "cat-file", "--batch-all-objects", "--batch"], cwd=root,
                              capture_output=True, check=True).stdout
        chunks.append(objs)
    return b"\n".join(chunks)


def expire_by_hand(root: Path, key: str, env: dict[str, str], when: str = "2001-01-01T00:00:00Z") -> None:
    """Give ``key`` an expiry in the past and commit it (secretctl refuses a past --expires)."""
    import re

    side = root / f"{key}.meta.yaml"
    text = side.read_text()
    line = f"expires: '{when}'"
    text = re.sub(r"(?m)^expires:.*$", line, text) if "expires:" in text else text.rstrip("\n") + "\n" + line + "\n"
    side.write_text(text)
    git(root, "add", side.relative_to(root).as_posix(), env=env)
    git(root, "commit", "-qm", f"expire {key}", "--no-verify", env=env)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Long tests first: the end-to-end tests (seconds each: CLI processes, git, agents, the
    sandbox) and the unit tests marked ``long``, then the CLI's, then the unit tests
    (milliseconds). xdist hands each worker a slice of this order and idle workers steal from
    the others' ends, so the run ends on short tests instead of one worker finishing a wheel
    install or a benchmark alone. A stable sort: within a group the order is the files' own."""
    def group(item: pytest.Item) -> int:
        path = item.nodeid.split("::", 1)[0]
        if path.startswith("tests/e2e/") or path in ("tests/test_benchmarks_smoke.py", "tests/test_architecture.py"):
            return 0
        if item.get_closest_marker("long") is not None:
            return 0  # seconds each: started at the end, one of them ran alone at the run's end
        return 1 if path.startswith("tests/cli/") else 2

    items.sort(key=group)
