"""The warm MCP server (`secretctl unlock` starts it; `secretctl mcp` hands its stdio over to a
fork of it), as MCP clients and attackers meet it: the installed `secretctl mcp` launcher over
stdio with the real MCP client, real agent and warm processes, real signals."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SECRETCTL, Member, impostor_socket
from tests.e2e.test_unlock import PASSWORD, VALUE, alive, carol_in, stop_agent, unlock, wait_until
from tests.e2e.test_unlock_mcp import RUN, text, with_policy

pytest.importorskip("mcp")
if not sys.platform.startswith("linux"):
    pytest.skip("the tests read /proc", allow_module_level=True)

from mcp import Client
from mcp.client.stdio import StdioServerParameters

CANARY_ENV = "warm-Client-Env-Canary-5521"


def _warm_in(base: Path) -> Iterator[Member]:
    """carol (protected identity, agent unlocked from stdin) with the warm server on."""
    for m in carol_in(base):
        m.env.pop("SECRETCTL_WARM", None)  # the suite turns it off (tests/conftest.py)
        with_policy(m)
        out = unlock(m)
        assert out.returncode == 0, out.stderr
        assert b"warm MCP server: pid" in out.stderr, out.stderr
        yield m
        stop_agent(m)


@pytest.fixture
def warm(tmp_path: Path) -> Iterator[Member]:
    """Her own warm server, for a test that stops, kills or changes it."""
    yield from _warm_in(tmp_path)


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Member]:
    """One warm server per worker for the tests that only use it (each warm server costs about a
    second of CPU to start). Tests run one at a time in a worker: "serving" counts stay theirs."""
    yield from _warm_in(tmp_path_factory.mktemp("warm"))


def warm_status(m: Member) -> dict[str, Any] | None:
    data = json.loads(m.run("status", "--json", check=False).stdout)
    return data.get("warm")


def params(m: Member, env: dict[str, str] | None = None, *, cwd: Path | None = None) -> StdioServerParameters:
    root = Path(m.env["SECRETCTL_VAULT"])
    return StdioServerParameters(command=SECRETCTL, args=["mcp"], env={**m.env, **(env or {})},
                                 cwd=str(cwd or root))


def session(p: StdioServerParameters, calls: list[tuple[str, dict[str, Any]]], during: Any = None
            ) -> tuple[Any, list[Any], Any]:
    """(tools/list, the call results, what ``during`` returned while the session was open)."""

    async def go() -> tuple[Any, list[Any], Any]:
        async with Client(p) as client:
            tools = await client.list_tools()
            seen = await asyncio.to_thread(during) if during else None
            return tools, [await client.call_tool(*c) for c in calls], seen

    return asyncio.run(go())


ENV_NAMES = ("secret_run", {"keys": ["app/token"], "command": "sh",
                            "args": ["-c", "env | cut -d= -f1 | sort | tr '\\n' ' '"]})
CALLS = [("secret_list", {}), RUN, ENV_NAMES, ("secret_get_masked", {"key": "app/token"})]


def comparable(tools: Any, results: list[Any]) -> tuple[Any, ...]:
    listed = sorted((t.name, t.description, json.dumps(t.input_schema, sort_keys=True)) for t in tools.tools)
    answers = []
    for r in results:
        data = dict(r.structured_content or {})
        data.pop("duration_ms", None)  # a measurement, not an answer
        answers.append((r.is_error, json.dumps(data, sort_keys=True), text(r) if r.is_error else ""))
    return tuple(listed), tuple(answers)


# ------------------------------------------------------------------ same answers, faster start
def test_the_warm_server_answers_exactly_as_a_cold_one(shared: Member) -> None:
    tools, results, seen = session(params(shared), CALLS, during=lambda: warm_status(shared))
    assert seen is not None and seen["serving"] == 1, seen  # this session was a fork of the warm server
    assert results[1].structured_content["stdout"] == "[REDACTED:app/token]\n"
    warm_answers = comparable(tools, results)

    tools, results, seen = session(params(shared, {"SECRETCTL_WARM": "0"}), CALLS,
                                   during=lambda: warm_status(shared))
    assert seen is not None and seen["serving"] == 0  # this one started cold
    assert comparable(tools, results) == warm_answers


def test_each_client_gets_its_own_server_with_its_own_settings(shared: Member, tmp_path: Path) -> None:
    """Two clients at once, told apart only by their environment (SECRETCTL_VAULT,
    SECRETCTL_ACTOR): nothing the warm process read before the fork decides for them."""
    other = tmp_path / "other-vault"
    shared.run("init", str(other), "--name", "carol")
    shared.run("set", "app/token", input=b"second-Vault-Value-8812", env={"SECRETCTL_VAULT": str(other)})
    shared.run("set", "app/only-here", input=b"only-Here-Value-7713", env={"SECRETCTL_VAULT": str(other)})
    with_policy(Member(shared.name, shared.home, {**shared.env, "SECRETCTL_VAULT": str(other)}))
    first = params(shared, {"SECRETCTL_ACTOR": "actor-first"})
    second = params(shared, {"SECRETCTL_VAULT": str(other), "SECRETCTL_ACTOR": "actor-second"}, cwd=other)

    async def go() -> tuple[list[Any], list[Any], Any]:
        async with Client(first) as a, Client(second) as b:
            seen = await asyncio.to_thread(warm_status, shared)
            got_a = [await a.call_tool("secret_list", {}), await a.call_tool(*RUN)]
            got_b = [await b.call_tool("secret_list", {}), await b.call_tool(*RUN)]
            return got_a, got_b, seen

    got_a, got_b, seen = asyncio.run(go())
    assert seen is not None and seen["serving"] == 2 and len(set(seen["children"])) == 2, seen
    assert [s["key"] for s in got_a[0].structured_content["secrets"]] == ["app/token"]
    assert [s["key"] for s in got_b[0].structured_content["secrets"]] == ["app/only-here", "app/token"]
    assert not got_a[1].is_error and not got_b[1].is_error
    # Each server recorded the access under its own client's actor, in its own client's vault.
    mine = [p.name for p in (Path(shared.env["SECRETCTL_VAULT"]) / ".secretctl/audit").iterdir()]
    assert "actor-first.jsonl" in mine and "actor-second.jsonl" not in mine
    assert [p.name for p in (other / ".secretctl/audit").iterdir()] == ["actor-second.jsonl"]


# ------------------------------------------------------------------ lifetimes
def _launch(m: Member) -> tuple[subprocess.Popen[bytes], int]:
    """A launcher whose client never speaks: its server waits on stdin. Returns it and the pid
    of the server forked for it."""
    before = set((warm_status(m) or {}).get("children", []))  # a previous test's server may be ending
    proc = subprocess.Popen([SECRETCTL, "mcp"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, env=m.env, cwd=m.env["SECRETCTL_VAULT"])
    new: list[int] = []

    def serving() -> bool:
        new[:] = sorted(set((warm_status(m) or {}).get("children", [])) - before)
        return bool(new)

    assert wait_until(serving, 30)
    return proc, new[0]


def test_a_killed_launcher_takes_its_server_with_it(shared: Member) -> None:
    proc, child = _launch(shared)
    assert alive(child)
    proc.kill()
    proc.wait()
    assert wait_until(lambda: not alive(child), 15), "the forked server outlived its launcher"
    assert proc.stdin is not None
    proc.stdin.close()


def test_a_signal_to_the_launcher_ends_the_server_as_it_would_end_a_cold_one(shared: Member) -> None:
    proc, child = _launch(shared)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == -signal.SIGTERM  # the status a cold server killed by SIGTERM shows
    assert wait_until(lambda: not alive(child), 15)


def test_a_killed_warm_server_is_not_needed_and_the_next_unlock_replaces_it(warm: Member) -> None:
    st = warm_status(warm)
    assert st is not None
    os.kill(int(st["pid"]), signal.SIGKILL)
    assert wait_until(lambda: not alive(int(st["pid"])))
    sock = Path(json.loads(warm.run("status", "--json").stdout)["socket"]).with_suffix(".warm.sock")
    assert sock.exists()  # a dead server's socket: nobody listens
    _tools, results, seen = session(params(warm), [RUN], during=lambda: warm_status(warm))
    assert seen is None  # served cold
    assert results[0].structured_content["stdout"] == "[REDACTED:app/token]\n"
    out = unlock(warm)  # the agent still runs: only the warm server is started again
    assert b"already unlocked" in out.stderr and b"warm MCP server: pid" in out.stderr, out.stderr
    again = warm_status(warm)
    assert again is not None and again["pid"] != st["pid"]
    _, results, seen = session(params(warm), [RUN], during=lambda: warm_status(warm))
    assert seen is not None and seen["serving"] == 1
    assert results[0].structured_content["stdout"] == "[REDACTED:app/token]\n"


def test_lock_stops_the_warm_server(warm: Member) -> None:
    st = warm_status(warm)
    assert st is not None
    warm.run("lock")
    assert wait_until(lambda: not alive(int(st["pid"])))
    assert warm_status(warm) is None
    assert not list(Path(warm.env["SECRETCTL_RUNTIME_DIR"]).glob("*.warm.sock"))


def test_the_agents_timeout_stops_the_warm_server(tmp_path: Path) -> None:
    for m in carol_in(tmp_path):
        m.env.pop("SECRETCTL_WARM", None)
        for timeout in ("3s", "8s", "20s"):
            out = unlock(m, "--timeout", timeout)
            # Under load the agent may time out before unlock has reported (exit 4, "may have
            # passed already"): a product answer, not this test's subject. Try a longer one.
            if out.returncode != 4 or b"may have passed already" not in out.stderr:
                break
        assert out.returncode == 0, out.stderr
        # From unlock's report: under load the 3 s may be over before a status could ask.
        found = re.search(rb"warm MCP server: pid (\d+)", out.stderr)
        assert found is not None, out.stderr
        pid = int(found.group(1))
        assert wait_until(lambda: not alive(pid), 45)  # noqa: B023 - used at once
        assert not list(Path(m.env["SECRETCTL_RUNTIME_DIR"]).glob("*.warm.sock"))


def _package_copy(tmp_path: Path) -> Path:
    """A copy of the secretctl package, for PYTHONPATH: another installation, or one to edit (never
    the checkout other tests' warm servers import)."""
    import secretctl

    package = tmp_path / "pkg"
    shutil.copytree(Path(secretctl.__file__).parent, package / "secretctl",
                    ignore=shutil.ignore_patterns("__pycache__"))
    return package


def test_a_stale_warm_server_is_not_used(tmp_path: Path) -> None:
    """An upgrade or an edit of an imported file: the fork would run other code than a fresh
    start, so the launcher runs the server itself and the warm server stops. The edit is made in
    a copy of the package (PYTHONPATH), never in the checkout other tests' warm servers import."""
    package = _package_copy(tmp_path)
    for m in carol_in(tmp_path):
        m.env.pop("SECRETCTL_WARM", None)
        m.env["PYTHONPATH"] = str(package)  # the launcher and the warm server import the copy
        with_policy(m)
        assert unlock(m).returncode == 0
        st = warm_status(m)
        assert st is not None and st["package"] == str(package / "secretctl")
        _, results, seen = session(params(m), [RUN], during=lambda: warm_status(m))  # noqa: B023 - used at once
        assert seen is not None and seen["serving"] == 1  # the copy serves, while it is unchanged
        os.utime(package / "secretctl/core/warmproto.py", ns=(0, time.time_ns() + 10**9))
        assert warm_status(m)["stale"] is True  # type: ignore[index]
        _, results, seen = session(params(m), [RUN], during=lambda: warm_status(m))  # noqa: B023 - used at once
        assert seen is None
        assert results[0].structured_content["stdout"] == "[REDACTED:app/token]\n"
        assert wait_until(lambda: not alive(int(st["pid"])))  # noqa: B023 - used at once


# ------------------------------------------------------------------ the attacker
def _readable_memory(pid: int) -> bytes:
    """Every readable private mapping of ``pid`` (root reads a non-dumpable process too)."""
    chunks = []
    with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", 0) as mem:
        for line in maps:
            addr, perms = line.split()[:2]
            if not perms.startswith("r") or "[vvar]" in line or "[vsyscall]" in line:
                continue
            start, end = (int(x, 16) for x in addr.split("-"))
            with contextlib.suppress(OSError, ValueError, OverflowError):
                mem.seek(start)
                chunks.append(mem.read(end - start))
    return b"".join(chunks)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to read another process's memory")
def test_the_warm_process_never_holds_a_secret_or_a_clients_environment(shared: Member) -> None:
    st = warm_status(shared)
    assert st is not None
    pid = int(st["pid"])
    _, results, seen = session(params(shared, {"WARM_CANARY": CANARY_ENV}),
                               [RUN, ("secret_get_masked", {"key": "app/token"})], during=lambda: warm_status(shared))
    assert seen is not None and seen["serving"] == 1
    assert not results[0].is_error
    memory = _readable_memory(pid)
    assert len(memory) > 10_000_000  # really read: the SDK and secretctl are in there
    assert VALUE not in memory
    assert CANARY_ENV.encode() not in memory  # the hand-off is read by the child only
    assert os.listdir(f"/proc/{pid}/task") == [str(pid)]  # one thread: what a fork copies is whole
    environ = Path(f"/proc/{pid}/environ").read_bytes()
    assert b"SECRETCTL_" not in environ
    vault = os.path.realpath(shared.env["SECRETCTL_VAULT"])
    open_files = [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
    assert not [f for f in open_files if f.startswith(vault) or "identity" in f], open_files


@pytest.mark.skipif(os.getuid() != 0 or shutil.which("setpriv") is None,
                    reason="needs root and setpriv to run a client under another uid")
def test_a_peer_with_another_uid_is_refused(shared: Member) -> None:
    st = warm_status(shared)
    assert st is not None
    sock = next(Path(shared.env["SECRETCTL_RUNTIME_DIR"]).glob("*.warm.sock"))
    # Opened up as a careless admin would: only the server's own peer check is left.
    sock.parent.parent.chmod(0o711)
    sock.parent.chmod(0o755)
    sock.chmod(0o666)
    code = ("import socket, sys\n"
            "s = socket.socket(socket.AF_UNIX); s.settimeout(10); s.connect(sys.argv[1])\n"
            "try:\n"
            "    s.sendall(b'R'); data = s.recv(100)\n"
            "except (BrokenPipeError, ConnectionResetError):\n"
            "    data = b''\n"
            "print('answered' if data else 'refused', repr(data))\n")
    try:
        out = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-c",
                              code, str(sock)], capture_output=True, timeout=60, cwd="/")
    finally:
        sock.parent.chmod(0o700)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == b"refused b''"  # closed before a fork, without a byte
    after = warm_status(shared)
    assert after is not None and after["refused_peers"] == st["refused_peers"] + 1 and after["serving"] == 0


@pytest.mark.parametrize("client_env", [{"SECRETCTL_PASSWORD": "correct-Horse-battery-91"}, {"SECRETCTL_WARM": "0"}],
                         ids=["password", "turned-off"])
def test_the_cold_path_serves_a_password_or_a_client_that_turned_warm_off(shared: Member,
                                                                          client_env: dict[str, str]) -> None:
    """The password hand-off re-executes the server (infra/pwhandoff.py): no fork could keep it
    warm, and the password must not cross into the warm process's socket buffer either.
    SECRETCTL_WARM=0 in a client's config asks for a cold start."""
    p = params(shared, client_env)
    _, results, seen = session(p, [RUN], during=lambda: warm_status(shared))
    assert seen is not None and seen["serving"] == 0
    assert results[0].structured_content["stdout"] == "[REDACTED:app/token]\n"


def test_the_launcher_imports_nothing_heavy(shared: Member) -> None:
    """The launcher's own start: no mcp, pydantic or Typer before the hand-off."""
    code = ("import sys, runpy\n"
            "sys.argv = ['secretctl', 'mcp']\n"
            "try:\n"
            "    runpy.run_module('secretctl.cli.main', run_name='__main__')\n"
            "except SystemExit:\n"
            "    pass\n"
            "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('mcp', 'pydantic', 'typer', 'anyio'))\n"
            "sys.stderr.write('HEAVY=' + ','.join(heavy) + '\\n')\n")
    started = time.monotonic()
    out = subprocess.run([sys.executable, "-c", code], input=b"", capture_output=True, env=shared.env,
                         cwd=shared.env["SECRETCTL_VAULT"], timeout=60)
    assert time.monotonic() - started < 30
    assert b"HEAVY=\n" in out.stderr, out.stderr[-2000:]


@pytest.mark.parametrize("extra", [{}, {"TYPER_USE_RICH": "0"}], ids=["default", "plain-typer"])
def test_a_usage_error_reads_as_from_a_cold_server(shared: Member, extra: dict[str, str]) -> None:
    """The child runs the cold code path on the client's argv and environment, usage errors
    included (Typer reads TYPER_USE_RICH at import: the child reads it again from the client's)."""
    def launch(env: dict[str, str]) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([SECRETCTL, "mcp", "--no-such-option"], input=b"", capture_output=True, timeout=60,
                              env={**shared.env, **extra, **env}, cwd=shared.env["SECRETCTL_VAULT"])

    served, cold = launch({}), launch({"SECRETCTL_WARM": "0"})
    assert (served.returncode, served.stdout, served.stderr) == (cold.returncode, cold.stdout, cold.stderr)
    assert served.returncode == 2 and b"no-such-option" in served.stderr


def test_no_variable_of_an_unsandboxed_child_points_at_the_warm_server(warm: Member) -> None:
    root = Path(warm.env["SECRETCTL_VAULT"])
    (root / ".secretctl/policy.yaml").write_text(
        "version: 1\ndefault_action: deny\nallowed_commands: [sh]\ncommands:\n  sh: {keys: [\"app/*\"]}\n"
        "sandbox: none\nagent_env: {allow: [PATH, HOME, LANG, SECRETCTL_RUNTIME_DIR, XDG_RUNTIME_DIR]}\n")
    subprocess.run(["git", "add", "-A"], cwd=root, check=True, env=warm.env, capture_output=True)
    subprocess.run(["git", "commit", "-qm", "no sandbox"], cwd=root, check=True, env=warm.env, capture_output=True)
    call = ("secret_run", {"keys": ["app/token"], "command": "sh", "args": ["-c", "env"]})
    _, results, seen = session(params(warm), [call], during=lambda: warm_status(warm))
    assert seen is not None and seen["serving"] == 1
    out = results[0].structured_content
    assert not results[0].is_error and out["sandbox"] == "none", out
    assert "APP_TOKEN=[REDACTED:app/token]" in out["stdout"]
    names = [line.split("=", 1)[0] for line in out["stdout"].splitlines() if "=" in line]
    assert "PATH" in names and not [n for n in names if "WARM" in n.upper()], names
    assert ".warm.sock" not in out["stdout"]


def test_sigterm_stops_the_warm_server_and_the_launcher_runs_cold(warm: Member) -> None:
    st = warm_status(warm)
    assert st is not None
    os.kill(int(st["pid"]), signal.SIGTERM)
    assert wait_until(lambda: not alive(int(st["pid"])))
    assert not list(Path(warm.env["SECRETCTL_RUNTIME_DIR"]).glob("*.warm.sock"))  # removed, not left stale
    _, results, seen = session(params(warm), [RUN], during=lambda: warm_status(warm))
    assert seen is None
    assert results[0].structured_content["stdout"] == "[REDACTED:app/token]\n"


def test_a_warm_server_killed_while_serving_is_replaced_by_the_next_unlock(warm: Member) -> None:
    """Its forks keep serving their clients; none of them may hold what marks a warm server as
    running (the lock), or no new one could start until every client closed."""
    proc, child = _launch(warm)
    st = warm_status(warm)
    assert st is not None
    os.kill(int(st["pid"]), signal.SIGKILL)
    assert wait_until(lambda: not alive(int(st["pid"])))
    assert alive(child)  # still serving its client
    out = unlock(warm)
    assert b"warm MCP server: pid" in out.stderr, out.stderr
    again = warm_status(warm)
    assert again is not None and again["pid"] != st["pid"]
    proc.kill()
    proc.wait()
    assert wait_until(lambda: not alive(child), 15)


@pytest.mark.skipif(os.getuid() != 0 or shutil.which("setpriv") is None,
                    reason="needs root and setpriv to run a server under another uid")
def test_a_warm_socket_served_by_another_uid_gets_nothing(alice: Member) -> None:
    """An impostor warm server run by another user would receive the launcher's stdio and whole
    environment: the launcher checks the peer's uid first, and runs the server itself."""
    code = ("import socket, sys\n"
            "s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(4)\n"
            "print('ready', flush=True)\n"
            "c, _ = s.accept(); c.settimeout(20)\n"
            "data = b''\n"
            "try:\n"
            "    while (part := c.recv(65536)):\n"
            "        data += part\n"
            "except OSError:\n"
            "    pass\n"
            "print('got', len(data), flush=True)\n")
    with impostor_socket("agent.warm.sock", code) as (sock, proc):
        env = {**alice.env, "SECRETCTL_AGENT_SOCKET": str(sock.parent / "agent.sock"), "WARM_CANARY": CANARY_ENV}
        env.pop("SECRETCTL_WARM", None)
        served = subprocess.run([SECRETCTL, "mcp"], input=b"", capture_output=True, env=env, cwd=alice.home,
                                timeout=60)
        cold = subprocess.run([SECRETCTL, "mcp"], input=b"", capture_output=True, cwd=alice.home, timeout=60,
                              env={**env, "SECRETCTL_WARM": "0"})
        assert (served.returncode, served.stderr) == (cold.returncode, cold.stderr)  # it ran cold
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == b"got 0"  # not one byte: no op, no environment, no descriptor
        assert proc.wait(30) == 0


def test_the_warm_process_imports_no_module_that_reads_the_environment_at_import() -> None:
    """Such a module would keep the warm process's environment for every client (found by
    reading the packages it imports; typer.core's read is redone in each child)."""
    code = ("import sys\n"
            "from secretctl.cli import warm\n"
            "assert warm.preload() == [], warm.preload()\n"
            "print(sorted(m for m in ('typer.rich_utils',) if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == b"[]"


def test_unlock_in_the_foreground_serves_a_warm_server_too_and_takes_it_down(tmp_path: Path) -> None:
    """`unlock --foreground` (systemd, launchd): the warm server watches that process."""
    for m in carol_in(tmp_path):
        m.env.pop("SECRETCTL_WARM", None)
        with_policy(m)
        proc = subprocess.Popen([SECRETCTL, "unlock", "--foreground"], stdin=subprocess.PIPE,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=m.env, cwd=m.home)
        assert proc.stdin is not None
        proc.stdin.write(PASSWORD.encode() + b"\n")
        proc.stdin.close()
        try:
            assert wait_until(lambda: warm_status(m) is not None, 60)  # noqa: B023 - used at once
            st = warm_status(m)
            assert st is not None and st["agent_pid"] == proc.pid
            _, results, seen = session(params(m), [RUN], during=lambda: warm_status(m))  # noqa: B023 - used at once
            assert seen is not None and seen["serving"] == 1
            assert results[0].structured_content["stdout"] == "[REDACTED:app/token]\n"
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(30) == 0
            assert wait_until(lambda: not alive(int(st["pid"])), 20)  # noqa: B023 - used at once
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def test_a_launcher_with_another_pythonpath_runs_its_own_server(tmp_path: Path) -> None:
    """The warm process imported the SDK and its libraries from where its PYTHONPATH said; a
    launcher whose PYTHONPATH names other places (another virtualenv's packages, a patched
    library) would get those modules, not its own: it runs cold, as it would have."""
    extra, other = tmp_path / "extra", tmp_path / "other"
    extra.mkdir()
    other.mkdir()
    for m in carol_in(tmp_path):
        m.env.pop("SECRETCTL_WARM", None)
        with_policy(m)
        out = m.run("unlock", input=PASSWORD.encode() + b"\n", env={"PYTHONPATH": str(extra)}, check=False)
        assert out.returncode == 0, out.stderr
        for pythonpath, served in ((str(other), 0), ("", 0), (str(extra), 1)):
            _, results, seen = session(params(m, {"PYTHONPATH": pythonpath}), [RUN],
                                       during=lambda: warm_status(m))  # noqa: B023 - used at once
            assert seen is not None and seen["serving"] == served, pythonpath
            assert results[0].structured_content["stdout"] == "[REDACTED:app/token]\n"


def test_a_launcher_of_another_installation_runs_its_own_server(tmp_path: Path) -> None:
    """A warm server started from one installation (here a copy on PYTHONPATH) never serves a
    launcher of another: the fork sees another package folder, touches nothing, and the launcher
    starts cold. The warm server keeps serving its own installation's launchers."""
    package = _package_copy(tmp_path)
    for m in carol_in(tmp_path):
        m.env.pop("SECRETCTL_WARM", None)
        with_policy(m)
        out = m.run("unlock", input=PASSWORD.encode() + b"\n", env={"PYTHONPATH": str(package)}, check=False)
        assert out.returncode == 0, out.stderr
        st = warm_status(m)
        assert st is not None and st["package"] == str(package / "secretctl")
        _, results, seen = session(params(m), [RUN], during=lambda: warm_status(m))  # noqa: B023 - used at once
        assert seen is not None and seen["serving"] == 0  # this launcher's secretctl is the checkout's
        assert results[0].structured_content["stdout"] == "[REDACTED:app/token]\n"
        _, results, seen = session(params(m, {"PYTHONPATH": str(package)}), [RUN],
                                   during=lambda: warm_status(m))  # noqa: B023 - used at once
        assert seen is not None and seen["serving"] == 1
        assert results[0].structured_content["stdout"] == "[REDACTED:app/token]\n"
