"""The hostile agent over stdio, on both roads a real client's `secretctl mcp` takes: a server
started cold, and a fork of the warm MCP server (`secretctl unlock` starts it by default, so it
is the road users' agents take). The same attacks, the same assertions.

Each road runs one session per module (a cold server costs about a second of CPU to start; the
warm server one more, once): the module fixture plays every attack in that session and keeps the
transcript, and each test reads its part. The fixture fails, failing every test of its road, when
the session did not run where its road says (a warm test served cold would prove nothing).
In-process versions of most attacks, in more detail: test_mcp.py, test_agent_trust.py,
test_sandbox_attacks.py."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import secrets
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SECRETCTL, Member, git, make_member, private_runtime_dir, protect_identity
from tests.e2e.test_agent_trust import cancelled_once_running, holders_after, holding
from tests.e2e.test_unlock import PASSWORD, stop_agent, unlock

pytest.importorskip("mcp")
if not sys.platform.startswith("linux"):
    pytest.skip("the bubblewrap sandbox and /proc are Linux only", allow_module_level=True)

from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.shared.exceptions import MCPError

from secretctl.infra import sandbox, warmctl

if sandbox.engine() is None:
    pytest.skip("no working bubblewrap on this machine", allow_module_level=True)

# Unique to this process: the checks that no process holds a value scan (and kill) every process
# on the machine, and another worker may be running the same attacks at that moment.
_OURS = secrets.token_hex(4).encode()
TOKEN = b"tok-Hostile-Stdio-" + _OURS + b"-73"
LOOT = b"loot/Hostile+Other=" + _OURS + b"_8812xyz"  # a secret no run is given; it reaches a workspace file
PRELOAD = b"/tmp/hostile-preload-" + _OURS + b".so"
POLICY = """\
version: 1
default_action: deny
allowed_commands: [sh, cat, python3, echo]
commands:
  sh: {keys: ["app/*", "preload"], workspace: [WORK]}
  cat: {keys: ["app/*"], read: [WORK]}
  python3: {keys: ["app/*"]}
  echo: {keys: ["app/*"], expand: true}
limits: {timeout: 20s, max_output_bytes: 65536}
mcp: {strike_limit: 3}
"""
ROADS = ["cold", "warm"]


def forms(value: bytes) -> list[bytes]:
    """The spellings a leak usually takes (redaction.md); none may reach the agent."""
    b64 = base64.b64encode(value)
    return [value, b64, b64.rstrip(b"="), value.hex().encode(), value[::-1], value[3:15]]


@dataclass
class Home:
    member: Member
    work: Path
    runtime: Path
    warm_pid: int
    agent_pid: int


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Home]:
    """carol: a protected identity opened only by her unlock agent (no password anywhere), with
    the warm server on, a vault with the canaries and the policy, and a workspace."""
    base = tmp_path_factory.mktemp("hostile")
    m = make_member(base, "carol")
    runtime = private_runtime_dir(m)
    m.env.pop("SECRETCTL_WARM", None)  # the suite turns it off (tests/conftest.py)
    root = base / "vault"
    m.run("init", str(root), "--name", "carol")
    m.env["SECRETCTL_VAULT"] = str(root)
    m.run("set", "app/token", input=TOKEN)
    m.run("set", "other/loot", input=LOOT)
    m.run("set", "preload", input=PRELOAD)
    work = base / "work"
    work.mkdir()
    (work / "loot.txt").write_bytes(LOOT + b"\n")
    (root / ".secretctl/policy.yaml").write_text(POLICY.replace("WORK", str(work)))
    git(root, "add", ".secretctl/policy.yaml")
    git(root, "commit", "-qm", "policy", env=m.env)
    protect_identity(m, PASSWORD)
    out = unlock(m)
    assert out.returncode == 0 and b"warm MCP server: pid" in out.stderr, out.stderr
    status = json.loads(m.run("status", "--json").stdout)
    warm = warmctl.status(_warm_socket(m))
    assert warm is not None
    try:
        yield Home(m, work, runtime, int(str(warm["pid"])), int(status["pid"]))
    finally:
        stop_agent(m)


def _warm_socket(m: Member) -> str:
    from secretctl.infra import settings

    return settings.warm_socket_file(m.env)


# ------------------------------------------------------------------ one session per road
@dataclass
class Transcript:
    road: str
    results: dict[str, Any] = field(default_factory=dict)  # call name -> CallToolResult, or the exception
    holders: dict[str, list[int]] = field(default_factory=dict)  # after a kill: processes still holding TOKEN
    started: dict[str, bool] = field(default_factory=dict)  # the long command was running when given up on
    took: dict[str, float] = field(default_factory=dict)  # seconds per step (a slow step is a finding too)
    server_pid: int = 0
    launcher_pid: int = 0
    warm_seen: dict[str, Any] | None = None
    forked: list[int] = field(default_factory=list)  # what the warm process forked for this session

    def text(self, name: str) -> str:
        r = self.results[name]
        if isinstance(r, BaseException):
            return repr(r)
        parts = [json.dumps(r.structured_content)] if r.structured_content else []
        return "\n".join(parts + [getattr(c, "text", "") for c in r.content])

    def out(self, name: str) -> dict[str, Any]:
        return dict(self.results[name].structured_content or {})


def _forks(m: Member) -> set[int]:
    """The servers the warm process has forked and still serves (its status)."""
    return set((warmctl.status(_warm_socket(m)) or {}).get("children", []))


def _children_of(pid: int) -> list[int]:
    out = []
    for p in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{p}/stat").read_text()
        except OSError:
            continue
        if int(stat[stat.rfind(")") + 2:].split()[1]) == pid:
            out.append(int(p))
    return out


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""  # gone meanwhile


def _run(keys: list[str], command: str, args: list[str], **extra: Any) -> tuple[str, dict[str, Any]]:
    return "secret_run", {"keys": keys, "command": command, "args": args, **extra}


SH = ["app/*"]
SLEEPER = "sleep 60 & echo $! >> {pids}; setsid sleep 61 & echo $! >> {pids}; echo $$ >> {pids}; wait"


def _attacks(h: Home, t: Transcript) -> list[tuple[str, tuple[str, dict[str, Any]]]]:
    """Every call but the cancellations, in order: strikes last (three lock the session)."""
    m, work = h.member, h.work
    ident, vault = m.identity, m.env["SECRETCTL_VAULT"]
    agent_sock = json.loads(m.run("status", "--json").stdout)["socket"]
    warm_sock = _warm_socket(m)
    pids = " ".join(str(p) for p in (t.server_pid, t.launcher_pid, h.warm_pid, h.agent_pid, os.getpid()))
    connect = ("import socket\n"
               f"for name in [{agent_sock!r}, {warm_sock!r}, '\\0' + {warm_sock!r}, '\\0' + {agent_sock!r},"
               " '\\0secretctl', '\\0secretctl-warm']:\n"
               "    s = socket.socket(socket.AF_UNIX)\n"
               "    try:\n"
               "        s.connect(name); print('CONNECTED', repr(name))\n"
               "    except OSError as exc:\n"
               "        print('refused', type(exc).__name__)\n"
               "print(open('/proc/net/unix').read())\n")
    return [
        # plaintext through the read tools
        ("list", ("secret_list", {})),
        ("masked", ("secret_get_masked", {"key": "app/token"})),
        ("traversal", ("secret_get_masked", {"key": "../../etc/passwd"})),
        ("exists", ("secret_exists", {"key": "other/loot"})),
        # injection into secret_run
        ("shell_in_command", _run(SH, "sh -c 'echo $APP_TOKEN'", [])),
        ("printenv", _run(SH, "printenv", [])),
        ("keys_beyond_rule", _run(["**"], "sh", ["-c", "env"])),
        ("ld_preload_by_prefix", _run(["preload"], "sh", ["-c", "env"], env_prefix="LD_")),
        ("no_shell_for_args", _run(SH, "echo", ["$(cat /etc/hostname)", "`id`", ";", "&&", "$APP_TOKEN"])),
        ("missing_key", _run(["app/nope"], "sh", ["-c", "true"])),
        # what a sandboxed command can reach
        ("env", _run(SH, "sh", ["-c", "env"])),
        ("files", _run(SH, "sh", ["-c", f"cat {ident}; ls -la {vault} {h.runtime} {h.runtime.parent}; "
                                         "cat ~/.config/secretctl/* 2>&1; find / -xdev -type s 2>/dev/null; "
                                         "echo END"])),
        # Paths computed at run time (the argument rules would refuse them written out, and strike).
        ("proc", _run(SH, "sh", ["-c", "P=$(printf /pr%sc o); for p in " + pids + "; do "
                                        "cat $P/$p/environ $P/$p/cmdline; ls -l $P/$p/root/ $P/$p/fd/ $P/$p/cwd/; "
                                        "done 2>&1; echo PIDS $(ls -d $P/[0-9]* | wc -l)"])),
        ("fds", _run(SH, "sh", ["-c", "P=$(printf /pr%sc o); for f in $P/$$/fd/* $P/1/fd/*; do "
                                      "echo $f $(readlink $f); done"])),
        ("sockets", _run(SH, "python3", ["-c", connect])),
        # redaction of what the command prints
        ("forms", _run(SH, "sh", ["-c", "echo $APP_TOKEN; printf %s $APP_TOKEN | base64; "
                                        "printf %s $APP_TOKEN | od -An -tx1; printf %s $APP_TOKEN | rev; "
                                        "printf %s $APP_TOKEN | fold -w 5; echo $APP_TOKEN >&2"])),
        ("python_forms", _run(SH, "python3", ["-c", "import os; t = os.environ['APP_TOKEN']; print(' '.join(t)); "
                                                    "print(t.encode().hex()); print(t[::-1])"])),
        # a value the run was not given, read from the workspace: redacted, and a strike (1 of 3)
        # the policy's timeout kills the whole tree
        ("timeout", _run(SH, "sh", ["-c", "setsid sleep 60 & echo $APP_TOKEN; sleep 60"], timeout=1)),
        ("no_keys_reads_loot", _run([], "cat", [str(work / "loot.txt")])),
        # guesses: refused, struck (2 and 3 of 3: the session locks), never echoed
        ("guess_value", _run(SH, "echo", [TOKEN.decode()])),
        ("guess_fragment", _run(SH, "echo", ["x" + TOKEN[3:15].decode()])),
        ("guess_base64", ("secret_exists", {"key": "app/" + base64.b64encode(TOKEN).decode().rstrip("=")})),
        ("after_lock", _run(SH, "sh", ["-c", "echo harmless"])),
    ]


def _params(h: Home, road: str) -> StdioServerParameters:
    env = {**h.member.env, "SECRETCTL_ACTOR": f"agent-{road}"}
    if road == "cold":
        env["SECRETCTL_WARM"] = "0"  # what a client config says to start it cold
    return StdioServerParameters(command=SECRETCTL, args=["mcp"], env=env, cwd=h.member.env["SECRETCTL_VAULT"])


def _play(h: Home, road: str) -> Transcript:
    t = Transcript(road)
    pids = h.work / f"pids-{road}"

    async def killed_after(client: Client, how: str) -> None:
        """A long call the client gives up on; then nothing may hold the value."""
        pids.unlink(missing_ok=True)
        args = {"keys": SH, "command": "sh", "args": ["-c", SLEEPER.format(pids=pids)]}
        try:
            if how == "read_timeout":
                await client.call_tool("secret_run", args, read_timeout_seconds=3)
            else:
                await (await cancelled_once_running(client, args, pids))
        except (MCPError, asyncio.CancelledError) as exc:
            t.results[how] = exc
        t.holders[how] = await asyncio.to_thread(holders_after, TOKEN)
        t.started[how] = pids.exists() and len(pids.read_text().split()) == 3

    async def go() -> None:
        before = _forks(h.member)
        async with Client(_params(h, road)) as client:
            launchers = [p for p in _children_of(os.getpid()) if b"mcp" in _cmdline(p)]
            assert len(launchers) == 1, launchers
            t.launcher_pid = launchers[0]
            t.warm_seen = await asyncio.to_thread(warmctl.status, _warm_socket(h.member))
            t.forked = sorted(set((t.warm_seen or {}).get("children", [])) - before)
            t.server_pid = t.forked[0] if t.forked else t.launcher_pid
            for how in ("read_timeout", "cancel"):
                began = time.monotonic()
                await killed_after(client, how)
                t.took[how] = time.monotonic() - began
            for name, (tool, args) in _attacks(h, t):
                began = time.monotonic()
                t.results[name] = await client.call_tool(tool, args)
                t.took[name] = time.monotonic() - began
            t.holders["timeout"] = await asyncio.to_thread(holders_after, TOKEN, 2.0)
            t.results["still_serving"] = await client.call_tool("policy_show", {})

    asyncio.run(go())
    return t


@pytest.fixture(scope="module", params=ROADS)
def transcript(request: pytest.FixtureRequest, home: Home) -> Transcript:
    t = _play(home, request.param)
    # The road really taken: a fork of the warm process, or a server of its own.
    assert t.warm_seen is not None, "the warm server was not running"
    assert len(t.forked) == (1 if t.road == "warm" else 0), (t.road, t.forked, t.warm_seen)
    return t


# ------------------------------------------------------------------ the assertions, on both roads
def test_no_answer_holds_any_form_of_a_value(transcript: Transcript) -> None:
    blob = "\n".join(transcript.text(n) for n in transcript.results).encode()
    for value in (TOKEN, LOOT):
        for form in forms(value):
            assert form not in blob, (transcript.road, form)
    assert b"Traceback" not in blob


def test_read_tools_give_masks_and_metadata_only(transcript: Transcript) -> None:
    t = transcript
    assert sorted(s["key"] for s in t.out("list")["secrets"]) == ["app/token", "other/loot", "preload"]
    assert t.out("masked") == {"key": "app/token", "masked_value": "****" + TOKEN[-4:].decode(),
                               "value_length": len(TOKEN)}
    assert t.results["traversal"].is_error and "invalid key name" in t.text("traversal")
    assert t.out("exists")["exists"] is True


def test_injection_into_secret_run_is_refused_or_inert(transcript: Transcript) -> None:
    t = transcript
    assert t.results["shell_in_command"].is_error and "command not found: sh -c" in t.text("shell_in_command")
    assert t.results["printenv"].is_error and "always blocked" in t.text("printenv")
    assert t.results["keys_beyond_rule"].is_error and "keys not allowed" in t.text("keys_beyond_rule")
    assert t.results["ld_preload_by_prefix"].is_error and "LD_PRELOAD" in t.text("ld_preload_by_prefix")
    # No shell between the agent's arguments and the program: they arrive as written (the one
    # $NAME the rule expands is redacted on the way back).
    assert t.out("no_shell_for_args")["stdout"] == "$(cat /etc/hostname) `id` ; && [REDACTED:app/token]\n"
    assert t.results["missing_key"].is_error and "no secret matches app/nope" in t.text("missing_key")


def test_the_sandboxed_command_sees_no_password_identity_vault_or_socket(transcript: Transcript,
                                                                           home: Home) -> None:
    t = transcript
    env = t.out("env")["stdout"]
    assert "APP_TOKEN=[REDACTED:app/token]" in env
    assert "SECRETCTL" not in env and PASSWORD not in env and str(home.runtime) not in env
    files = t.out("files")
    assert files["stdout"].rstrip().endswith("END") and ".sock" not in files["stdout"]
    assert "AGE-SECRET-KEY" not in t.text("files") and "No such file" in files["stderr"]
    # The server, its launcher, the warm process and the agent are outside the pid namespace:
    # their environ, cmdline, root, fd and cwd are not there to read, by any path.
    proc = t.out("proc")["stdout"]
    assert proc.count("No such file") >= 5 * 5, proc
    assert "secretctl" not in proc.replace("No such file", "")
    assert int(proc.rsplit("PIDS", 1)[1]) < 10  # the sandbox's own few processes
    fds = t.out("fds")["stdout"]
    assert "socket:" not in fds and ".sock" not in fds, fds  # nothing inherited reaches a socket
    sockets = t.out("sockets")["stdout"]
    assert "CONNECTED" not in sockets and sockets.count("refused") == 6
    assert ".sock" not in sockets.split("refused")[-1]  # /proc/net/unix: its own network namespace


def test_every_spelling_the_command_prints_is_redacted(transcript: Transcript) -> None:
    t = transcript
    forms_out = t.out("forms")
    assert forms_out["stdout"].startswith("[REDACTED:app/token]\n")
    assert forms_out["stderr"] == "[REDACTED:app/token]\n"
    assert "[REDACTED" in t.out("python_forms")["stdout"]
    assert t.out("no_keys_reads_loot")["stdout"] == "[REDACTED]\n"


def test_timeouts_and_cancellations_leave_no_process_with_a_value(transcript: Transcript) -> None:
    t = transcript
    assert t.started == {"read_timeout": True, "cancel": True}
    assert isinstance(t.results["read_timeout"], MCPError) and "timed out" in str(t.results["read_timeout"])
    assert isinstance(t.results["cancel"], asyncio.CancelledError)
    assert t.holders == {"read_timeout": [], "cancel": [], "timeout": []}
    assert t.out("timeout")["timed_out"] is True
    assert not t.results["still_serving"].is_error  # the server outlived each of them


def test_guesses_are_refused_struck_and_lock_the_session(transcript: Transcript) -> None:
    t = transcript
    for name in ("guess_value", "guess_fragment", "guess_base64"):
        assert t.results[name].is_error and "argument contains secret material" in t.text(name), name
    assert t.results["after_lock"].is_error and "locked for this session" in t.text("after_lock")


def test_the_access_log_records_the_runs_and_no_value(transcript: Transcript, home: Home) -> None:
    """Each road records under its own client's actor (SECRETCTL_ACTOR in the client's config)."""
    root = Path(home.member.env["SECRETCTL_VAULT"])
    log = (root / f".secretctl/audit/agent-{transcript.road}.jsonl").read_text()
    records = [json.loads(line) for line in log.splitlines()]
    runs = [r for r in records if r.get("action") == "run"]
    assert any("app/token" in json.dumps(r) for r in runs), records
    assert any("locked" in json.dumps(r) for r in records)
    for value in (TOKEN, LOOT):
        for form in forms(value):
            assert form.decode(errors="replace") not in log





@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to read another process's memory")
def test_after_the_attacks_the_warm_process_holds_nothing_of_them(transcript: Transcript, home: Home) -> None:
    """What every later fork starts from: no value, no client's setting, one thread, after a
    session of attacks on it (test_warm_mcp.py checks the same after an honest session)."""
    if transcript.road != "warm":
        pytest.skip("the cold road never reaches the warm process")
    from tests.e2e.test_warm_mcp import _readable_memory

    memory = _readable_memory(home.warm_pid)
    assert len(memory) > 10_000_000  # really read: the SDK and secretctl are in there
    for value in (TOKEN, LOOT, PRELOAD):
        assert value not in memory
    assert b"agent-warm" not in memory  # the client's SECRETCTL_ACTOR: read by the fork only
    assert os.listdir(f"/proc/{home.warm_pid}/task") == [str(home.warm_pid)]


# ------------------------------------------------------------------ the warm road's own lifetime
def test_a_launcher_killed_mid_run_takes_its_fork_and_the_command_with_it(home: Home) -> None:
    """The MCP client dies hard (SIGKILL) while a command holding a secret runs: on the cold road
    that kills the server itself, and the sandbox dies with it. On the warm road the server is a
    fork of the warm process, not the launcher: it must notice, end, and take the command along."""
    import subprocess

    from mcp.types import LATEST_PROTOCOL_VERSION

    from tests.e2e.test_unlock import alive, wait_until

    pids = home.work / "pids-killed"
    pids.unlink(missing_ok=True)
    p = _params(home, "warm")
    before = _forks(home.member)
    proc = subprocess.Popen([p.command, *p.args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, env=p.env, cwd=p.cwd)
    messages = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": LATEST_PROTOCOL_VERSION, "capabilities": {},
            "clientInfo": {"name": "t", "version": "0"}}},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "secret_run", "arguments": {
            "keys": SH, "command": "sh", "args": ["-c", SLEEPER.format(pids=pids)]}}},
    ]
    assert proc.stdin is not None
    proc.stdin.write(b"".join(json.dumps(msg).encode() + b"\n" for msg in messages))
    proc.stdin.flush()
    try:
        assert wait_until(lambda: pids.exists() and len(pids.read_text().split()) == 3, 30)
        served = _forks(home.member) - before
        assert len(served) == 1, served  # the warm road: a fork serves this launcher
        assert holding(TOKEN)  # the command runs, with its secret
        proc.kill()
        proc.wait(30)
        assert wait_until(lambda: not alive(next(iter(served))), 15), "the fork outlived its launcher"
        assert holders_after(TOKEN) == []
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdin.close()


def test_a_signal_the_client_ignores_reaches_no_fork(home: Home) -> None:
    """A client started under nohup ignores SIGHUP, and so does a cold server it starts (an
    ignored signal stays ignored across exec). The launcher must not forward what it ignores:
    the fork, in another session, would die of it while the cold server would serve on."""
    import signal
    import subprocess

    from tests.e2e.test_unlock import alive, wait_until

    p = _params(home, "warm")
    before = _forks(home.member)
    proc = subprocess.Popen(["sh", "-c", 'trap "" HUP; exec "$0" "$@"', p.command, *p.args], stdin=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=p.env, cwd=p.cwd)
    served: set[int] = set()

    def forked() -> bool:
        served.update(_forks(home.member) - before)
        return bool(served)

    try:
        assert wait_until(forked, 30)
        proc.send_signal(signal.SIGHUP)
        time.sleep(1)
        assert proc.poll() is None and alive(next(iter(served)))  # both serve on, as a cold server would
    finally:
        assert proc.stdin is not None
        proc.stdin.close()  # the client goes: the server ends as usual
        proc.wait(30)
    assert proc.returncode == 0


def test_the_warm_server_forks_nothing_but_an_mcp_server(home: Home) -> None:
    """A same-uid peer speaking the launcher's protocol names another command (`get`): a fork
    would run it with the warm process's start (no terminal, its session), not as the command it
    is. The fork refuses before touching stdio, and the peer runs whatever it runs itself."""
    import subprocess

    code = ("import sys\n"
            "from secretctl.infra import warmclient\n"
            "got = warmclient.hand_off(sys.argv[1], ['secretctl', 'get', 'app/token'])\n"
            "sys.stderr.write(f'HANDED={got}\\n')\n")
    before = (warmctl.status(_warm_socket(home.member)) or {}).get("refused_peers")
    out = subprocess.run([sys.executable, "-c", code, _warm_socket(home.member)], capture_output=True, timeout=60,
                         env=home.member.env, cwd=home.member.env["SECRETCTL_VAULT"])
    assert b"HANDED=None" in out.stderr, out.stderr  # not served: the caller would run it itself
    assert out.stdout == b""
    assert (warmctl.status(_warm_socket(home.member)) or {}).get("refused_peers") == before  # same uid: not refused
