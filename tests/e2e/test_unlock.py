"""The unlock agent, as people and attackers meet it: real `secretctl unlock` processes, real
clients (the installed CLI, another uid, a raw socket), real timeouts and signals."""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import (
    SECRETCTL,
    Member,
    alive,
    copy_world,
    impostor_socket,
    make_member,
    private_runtime_dir,
    protect_identity,
)

PASSWORD = "correct-Horse-battery-91"
VALUE = b"agent-Canary-Value-4417"


_CAROL: list[tuple[Path, Member]] = []  # this worker's carol, made once and copied


def carol_in(base: Path) -> Iterator[Member]:
    """A member with a protected identity, a vault holding one secret, and no password in her
    environment: only the agent (or a prompt) can open her key. Her agent is stopped after.

    About 60 tests start from her: she is made once per worker (`init` and `set` through the CLI)
    and copied into ``base`` (tests/conftest.copy_world), with a runtime folder of her own."""
    if not _CAROL:
        folder = Path(tempfile.mkdtemp(prefix="secretctl-carol-"))
        atexit.register(shutil.rmtree, folder, True)
        t = make_member(folder, "carol")
        t.run("init", str(folder / "vault"), "--name", "carol")
        t.env["SECRETCTL_VAULT"] = str(folder / "vault")
        t.run("set", "app/token", input=VALUE)
        protect_identity(t, PASSWORD)
        _CAROL.append((folder, t))
    src, template = _CAROL[0]
    [m] = copy_world(src, base, [template], into=True)
    runtime = private_runtime_dir(m)
    yield m
    stop_agent(m)
    shutil.rmtree(runtime.parent, ignore_errors=True)


@pytest.fixture
def carol(tmp_path: Path) -> Iterator[Member]:
    yield from carol_in(tmp_path)


def unlocked_fixtures(stock: Callable[[Member], None], name: str) -> tuple[Any, Any]:
    """``(unlocked, shared)`` fixtures: carol with her agent running and ``stock`` applied, fresh
    per test, or one per module for tests that only read the vault (each compares the access
    records it added itself); building the vault and agent per case was most of their time."""

    @pytest.fixture
    def unlocked(carol: Member) -> Iterator[Member]:
        stock(carol)
        yield carol
        stop_agent(carol)

    @pytest.fixture(scope="module")
    def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Member]:
        for m in carol_in(tmp_path_factory.mktemp(name)):
            stock(m)
            yield m

    return unlocked, shared


def agent_status(m: Member) -> dict[str, object] | None:
    out = m.run("status", "--json", check=False)
    data = json.loads(out.stdout)
    return data if data.get("unlocked") else None


def stop_agent(m: Member) -> None:
    st = agent_status(m)
    m.run("lock", check=False)
    if st is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(st["pid"]), signal.SIGKILL)  # type: ignore[call-overload]


def unlock(m: Member, *args: str, password: str = PASSWORD) -> subprocess.CompletedProcess[bytes]:
    return m.run("unlock", *args, input=password.encode() + b"\n", check=False)


def wait_until(cond: object, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


def socket_path(m: Member) -> Path:
    st = m.run("status", "--json", check=False)
    return Path(json.loads(st.stdout)["socket"])


# ----------------------------------------------------------------- the basics
def test_without_the_agent_a_protected_identity_cannot_be_used_without_a_terminal(carol: Member) -> None:
    out = carol.run("get", "app/token", check=False)
    assert out.returncode == 4
    assert b"secretctl unlock" in out.stderr
    assert carol.run("status", check=False).returncode == 1


def test_unlock_from_stdin_then_get_needs_no_password(carol: Member) -> None:
    out = unlock(carol)
    assert out.returncode == 0, out.stderr
    assert b"unlocked: agent pid" in out.stderr
    got = carol.run("get", "app/token")
    assert got.stdout == VALUE
    st = agent_status(carol)
    assert st is not None
    assert st["recipient"] == carol.recipient
    assert carol.run("status").stdout.startswith(b"unlocked: agent pid")


def test_wrong_password_on_stdin_fails_and_leaves_no_agent(carol: Member) -> None:
    out = unlock(carol, password="not-the-password")
    assert out.returncode == 4
    assert b"wrong password" in out.stderr
    assert b"not-the-password" not in out.stderr + out.stdout
    assert agent_status(carol) is None
    assert carol.run("get", "app/token", check=False).returncode == 4


def test_lock_forgets_the_key_ends_the_agent_and_removes_the_socket(carol: Member) -> None:
    unlock(carol)
    st = agent_status(carol)
    assert st is not None
    sock = socket_path(carol)
    assert sock.exists()
    assert (sock.stat().st_mode & 0o777) == 0o600
    assert (sock.parent.stat().st_mode & 0o777) == 0o700
    out = carol.run("lock")
    assert b"forgotten" in out.stderr
    assert not sock.exists()
    assert wait_until(lambda: not alive(int(st["pid"])))  # type: ignore[call-overload]
    assert carol.run("get", "app/token", check=False).returncode == 4
    assert carol.run("lock").returncode == 0  # locking twice is fine


def test_timeout_forgets_the_key(carol: Member) -> None:
    unlock(carol, "--timeout", "2s", "--idle", "1h")
    st = agent_status(carol)
    assert st is not None
    assert carol.run("get", "app/token").stdout == VALUE
    sock = socket_path(carol)
    assert wait_until(lambda: not sock.exists(), timeout=15)
    assert wait_until(lambda: not alive(int(st["pid"])))  # type: ignore[call-overload]
    assert carol.run("get", "app/token", check=False).returncode == 4


def test_idle_timeout_forgets_the_key_and_use_extends_it(carol: Member) -> None:
    unlock(carol, "--timeout", "1h", "--idle", "3s")
    for _ in range(3):  # each decryption restarts the idle clock
        time.sleep(1.2)
        assert carol.run("get", "app/token").stdout == VALUE
    sock = socket_path(carol)
    assert wait_until(lambda: not sock.exists(), timeout=15)
    assert carol.run("get", "app/token", check=False).returncode == 4


def test_sigterm_forgets_the_key_and_removes_the_socket(carol: Member) -> None:
    unlock(carol)
    st = agent_status(carol)
    assert st is not None
    sock = socket_path(carol)
    os.kill(int(st["pid"]), signal.SIGTERM)  # type: ignore[call-overload]
    assert wait_until(lambda: not sock.exists())
    assert wait_until(lambda: not alive(int(st["pid"])))  # type: ignore[call-overload]


def test_a_killed_agent_leaves_no_socket_that_blocks_the_next_unlock(carol: Member) -> None:
    unlock(carol)
    st = agent_status(carol)
    assert st is not None
    sock = socket_path(carol)
    os.kill(int(st["pid"]), signal.SIGKILL)  # type: ignore[call-overload]
    assert wait_until(lambda: not alive(int(st["pid"])))  # type: ignore[call-overload]
    assert sock.exists()  # SIGKILL leaves the file; nobody listens on it
    start = time.monotonic()
    out = carol.run("get", "app/token", check=False)
    assert out.returncode == 4  # falls back to asking (no terminal here), does not hang
    assert time.monotonic() - start < 10
    assert carol.run("status", check=False).returncode == 1
    again = unlock(carol)
    assert again.returncode == 0, again.stderr
    assert carol.run("get", "app/token").stdout == VALUE


def test_two_terminals_share_one_agent(carol: Member) -> None:
    unlock(carol)
    first = agent_status(carol)
    second_unlock = unlock(carol, password="anything: it is not asked")
    assert second_unlock.returncode == 0
    assert b"already unlocked" in second_unlock.stderr
    procs = [subprocess.Popen([SECRETCTL, "get", "app/token"], env=carol.env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, stdin=subprocess.DEVNULL) for _ in range(6)]
    outs = [p.communicate(timeout=60) for p in procs]
    assert [o[0] for o in outs] == [VALUE] * 6, [o[1] for o in outs]
    assert agent_status(carol) is not None
    assert agent_status(carol)["pid"] == first["pid"]  # type: ignore[index]


def test_unlock_from_the_environment_variable(carol: Member) -> None:
    out = carol.run("unlock", env={"SECRETCTL_PASSWORD": PASSWORD})
    assert out.returncode == 0
    assert carol.run("get", "app/token").stdout == VALUE


def test_commands_through_the_agent_write_and_read_the_whole_vault(carol: Member) -> None:
    unlock(carol)
    carol.run("set", "app/second", input=b"second-Value-12345")
    assert carol.run("get", "app/second").stdout == b"second-Value-12345"
    out = carol.run("export", "--format", "dotenv", check=False)
    assert VALUE in out.stdout, out.stderr
    checked = carol.run("check", check=False)
    assert b"checked headers only" not in checked.stdout + checked.stderr
    ran = carol.run("run", "-k", "app/token", "--", "sh", "-c", 'test "$APP_TOKEN" = "$0" && echo same',
                    VALUE.decode())
    assert ran.stdout.strip() == b"same"


# --------------------------------------------------------------- the attacker
def _raw_status_as(uid: int, sock: Path) -> subprocess.CompletedProcess[bytes]:
    """Another user's process speaking the protocol itself (it has no secretctl checks to skip)."""
    code = ("import socket, sys\n"
            "from secretctl.core import agentproto\n"
            "s = socket.socket(socket.AF_UNIX); s.settimeout(10); s.connect(sys.argv[1])\n"
            "try:\n"
            "    s.sendall(agentproto.encode({'v': 1, 'op': 'decrypt', 'sources': ['x']}, [b'age']))\n"
            "    data = s.recv(1 << 20)\n"
            "except (BrokenPipeError, ConnectionResetError):\n"
            "    data = b''\n"
            "print('answered' if data else 'refused', repr(data[:200]))\n")
    return subprocess.run(["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", sys.executable,
                           "-c", code, str(sock)], capture_output=True, timeout=60, cwd="/")


@pytest.mark.skipif(os.getuid() != 0 or shutil.which("setpriv") is None,
                    reason="needs root and setpriv to run a client under another uid")
def test_a_peer_with_another_uid_is_refused(carol: Member) -> None:
    unlock(carol)
    sock = socket_path(carol)
    # Open the way as a careless admin would: the directory and socket modes no longer protect it,
    # so only the agent's own peer check stands between another user and the key.
    sock.parent.parent.chmod(0o711)
    sock.parent.chmod(0o755)
    sock.chmod(0o666)
    try:
        out = _raw_status_as(65534, sock)
    finally:
        sock.parent.chmod(0o700)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == b"refused b''"  # closed without a byte
    st = agent_status(carol)
    assert st is not None
    assert st["refused_peers"] == 1


@pytest.mark.skipif(os.getuid() != 0 or shutil.which("setpriv") is None,
                    reason="needs root and setpriv to run a client under another uid")
def test_a_socket_served_by_another_uid_is_not_trusted(carol: Member, tmp_path: Path) -> None:
    """An impostor agent run by another user: the client refuses it rather than send ciphertexts
    to it or take a 'value' from it."""
    code = ("import socket, sys, time\n"
            "s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(4)\n"
            "print('ready', flush=True)\n"
            "c, _ = s.accept(); time.sleep(5)\n")
    with impostor_socket("impostor.sock", code) as (sock, _):
        out = carol.run("get", "app/token", check=False, env={"SECRETCTL_AGENT_SOCKET": str(sock)})
        assert out.returncode == 4
        assert b"served by another user" in out.stderr


def test_a_runtime_dir_open_to_others_is_refused(carol: Member) -> None:
    unlock(carol)
    sock = socket_path(carol)
    sock.parent.chmod(0o777)
    try:
        out = carol.run("get", "app/token", check=False)
        assert out.returncode == 4
        assert b"is not private" in out.stderr
    finally:
        sock.parent.chmod(0o700)


def test_malformed_requests_do_not_hurt_the_agent(carol: Member) -> None:
    unlock(carol)
    sock = socket_path(carol)
    for junk in (b"\xff\xff\xff\xff", b"\x00\x00\x00\x08\x00\x00\x00\x04null", b"\x00\x00\x00\x02ab", b"x" * 100):
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(5)
        s.connect(str(sock))
        s.sendall(junk)
        s.shutdown(socket.SHUT_WR)
        try:
            answer = s.recv(100)
        except ConnectionResetError:  # closed with our bytes unread
            answer = b""
        assert answer == b""  # dropped, unanswered
        s.close()
    assert carol.run("get", "app/token").stdout == VALUE


def test_password_and_identity_never_in_argv_environment_or_output(carol: Member) -> None:
    proc = subprocess.Popen([SECRETCTL, "unlock"], env=carol.env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    # While `unlock` waits for the password: no process shows it (it is not typed yet; then, not anywhere).
    out, err = proc.communicate(PASSWORD.encode() + b"\n", timeout=60)
    assert proc.returncode == 0, err
    st = agent_status(carol)
    assert st is not None
    pid = int(st["pid"])  # type: ignore[call-overload]
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    environ = Path(f"/proc/{pid}/environ").read_bytes()
    assert PASSWORD.encode() not in cmdline + environ
    assert b"SECRETCTL_" not in environ
    assert b"AGE-SECRET-KEY" not in cmdline + environ
    limits = Path(f"/proc/{pid}/limits").read_text()
    assert next(ln for ln in limits.splitlines() if ln.startswith("Max core file size")).split()[4:6] == ["0", "0"]
    # Every process of this member, now: nobody's argv or environment holds the password. (Only
    # hers: tests running in parallel pass the same password on purpose, as users may.)
    mine = str(carol.home).encode()
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                seen = (p / "cmdline").read_bytes() + b"\0" + (p / "environ").read_bytes()
            except OSError:
                continue
            if mine in seen:
                assert PASSWORD.encode() not in seen, seen.split(b"\0")[0]
    # A child of `run` sees neither the password nor the way to the agent.
    env_dump = carol.run("run", "-k", "app/token", "--", "sh", "-c", "env").stdout
    assert PASSWORD.encode() not in env_dump
    assert b"SECRETCTL_" not in env_dump
    assert str(socket_path(carol)).encode() not in env_dump
    with_agent = carol.run("run", "--with-agent", "-k", "app/token", "--", "sh", "-c", "env").stdout
    assert f"SECRETCTL_AGENT_SOCKET={socket_path(carol)}".encode() in with_agent
    assert PASSWORD.encode() not in out + err
    # Errors through the agent carry no key material either.
    (Path(carol.env["SECRETCTL_VAULT"]) / "app" / "token.age").write_bytes(b"age-encryption.org/v1\n-> X25519 junk\n")
    bad = carol.run("get", "app/token", check=False)
    assert bad.returncode == 6
    assert b"AGE-SECRET-KEY" not in bad.stderr
    assert PASSWORD.encode() not in bad.stderr


def test_run_with_agent_is_refused_under_the_agent_policy(carol: Member) -> None:
    unlock(carol)
    out = carol.run("run", "--policy", "--with-agent", "-k", "app/token", "--", "true", check=False)
    assert out.returncode == 5
    assert b"--with-agent" in out.stderr


def test_one_client_shared_by_threads_gets_each_reply_right(carol: Member) -> None:
    """The MCP server shares one agent connection between threads (the redactor's build, runs,
    the lock check): concurrent requests must not mix their replies."""
    import threading

    from secretctl.infra import agentsock

    assert unlock(carol).returncode == 0
    files = [(f"f{i}", (Path(carol.env["SECRETCTL_VAULT"]) / "app/token.age").read_bytes()) for i in range(20)]
    client = agentsock.AgentClient(socket_path(carol))
    errors: list[BaseException] = []

    def decrypts() -> None:
        try:
            for _ in range(8):
                assert client.decrypt_many(files) == [VALUE] * len(files)
        except BaseException as exc:
            errors.append(exc)

    def pings() -> None:
        try:
            for _ in range(100):
                assert client.status().recipient == carol.recipient
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=f) for f in (decrypts, pings, decrypts, pings)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    client.close()
    assert errors == []
