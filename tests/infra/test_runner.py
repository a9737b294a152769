"""The runner with real subprocesses: exit codes, timeouts, process groups, signals, env, streaming."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from secretctl.core.policy import AGENT_ENV_DEFAULT
from secretctl.core.redact import PassThrough, Redactor
from secretctl.core.secret import Secret
from secretctl.infra import runner

REPO = Path(__file__).resolve().parents[2]
ENV_BIN = shutil.which("env") or "/usr/bin/env"


def base_env() -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", os.defpath), "LANG": "C.UTF-8"}


def captured(argv: list[str], *, env: dict[str, str] | None = None, timeout: float | None = 10,
             max_output_bytes: int = 1 << 20, make_filter=PassThrough) -> runner.CapturedResult:
    return runner.run_captured(argv, env if env is not None else base_env(), make_filter=make_filter,
                               timeout=timeout, max_output_bytes=max_output_bytes)


class Recorder:
    """A BinaryIO stand-in recording when each write happened."""

    def __init__(self) -> None:
        self.writes: list[tuple[float, bytes]] = []

    def write(self, data: bytes) -> int:
        self.writes.append((time.monotonic(), bytes(data)))
        return len(data)

    def flush(self) -> None:
        pass

    @property
    def data(self) -> bytes:
        return b"".join(d for _, d in self.writes)


def proc_state(pid: int) -> str | None:
    """The state letter of ``pid`` from /proc (None when it no longer exists)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    return stat[stat.rfind(b")") + 2 :].split()[0].decode()


def assert_gone(pid: int, within: float = 3.0) -> None:
    deadline = time.monotonic() + within
    state = proc_state(pid)
    while state not in (None, "Z", "X") and time.monotonic() < deadline:
        time.sleep(0.05)
        state = proc_state(pid)
    assert state in (None, "Z", "X"), f"process {pid} still running (state {state})"


def kill_if_running(pid: int) -> None:
    if proc_state(pid) not in (None, "Z", "X"):
        os.kill(pid, signal.SIGKILL)


# ------------------------------------------------------------------------------- exit codes


@pytest.mark.parametrize("code", [0, 1, 3, 42, 255])
def test_exit_code_passes_through_captured(code: int) -> None:
    res = captured(["sh", "-c", f"echo out; echo err >&2; exit {code}"])
    assert res.exit_code == code
    assert res.stdout == b"out\n"
    assert res.stderr == b"err\n"
    assert not res.timed_out and not res.truncated


def test_exit_code_passes_through_streaming() -> None:
    out, err = Recorder(), Recorder()
    res = runner.run_streaming(["sh", "-c", "echo hi; exit 7"], base_env(), make_filter=PassThrough,
                               out=out, err=err, stdin_passthrough=False)
    assert res.exit_code == 7
    assert res.signal is None
    assert out.data == b"hi\n"


def test_killed_by_signal_is_128_plus_n() -> None:
    out, err = Recorder(), Recorder()
    res = runner.run_streaming(["sh", "-c", "kill -KILL $$"], base_env(), make_filter=PassThrough,
                               out=out, err=err, stdin_passthrough=False)
    assert res.exit_code == 128 + signal.SIGKILL
    assert res.signal == signal.SIGKILL
    res2 = captured(["sh", "-c", "kill -TERM $$"])
    assert res2.exit_code == 128 + signal.SIGTERM


# ------------------------------------------------------------------ timeouts and process groups


def test_timeout_gives_124_and_kills_grandchild() -> None:
    start = time.monotonic()
    res = captured(["sh", "-c", "sleep 100 & echo $!; wait"], timeout=1.0)
    elapsed = time.monotonic() - start
    pid = int(res.stdout.split()[0])
    try:
        assert res.exit_code == 124
        assert res.timed_out
        assert elapsed < 8, elapsed
        assert_gone(pid)
    finally:
        kill_if_running(pid)


def test_timeout_streaming_gives_124() -> None:
    out, err = Recorder(), Recorder()
    res = runner.run_streaming(["sh", "-c", "echo started; sleep 100"], base_env(), make_filter=PassThrough,
                               out=out, err=err, timeout=0.5, stdin_passthrough=False)
    assert res.exit_code == 124
    assert res.timed_out
    assert out.data == b"started\n"


def test_background_grandchild_left_running_is_killed() -> None:
    # The child exits at once, leaving a daemon-like grandchild that no longer holds the pipes.
    start = time.monotonic()
    res = captured(["sh", "-c", "sleep 100 >/dev/null 2>&1 & echo $!; exit 0"])
    pid = int(res.stdout.split()[0])
    try:
        assert res.exit_code == 0
        assert not res.timed_out
        assert time.monotonic() - start < 8
        assert_gone(pid)
    finally:
        kill_if_running(pid)


def test_background_grandchild_holding_the_pipe_is_killed() -> None:
    # The grandchild keeps stdout open: the run must still end, and the grandchild with it.
    start = time.monotonic()
    res = captured(["sh", "-c", "sleep 100 & echo $!; exit 5"])
    pid = int(res.stdout.split()[0])
    try:
        assert res.exit_code == 5
        assert time.monotonic() - start < 8
        assert_gone(pid)
    finally:
        kill_if_running(pid)


HELPER = textwrap.dedent(
    """
    import os, sys
    sys.path.insert(0, {repo!r})
    from secretctl.infra import runner
    from secretctl.core.redact import PassThrough

    class Out:
        def write(self, data):
            os.write(1, data)
        def flush(self):
            pass

    res = runner.run_streaming(
        ["sh", "-c", 'trap "echo got-term; exit 9" TERM; echo ready; while :; do sleep 0.1; done'],
        dict(os.environ), make_filter=PassThrough, out=Out(), err=Out(), stdin_passthrough=False,
    )
    os.write(1, ("exit=%d\\n" % res.exit_code).encode())
    """
)


def test_sigterm_is_forwarded_to_the_child(tmp_path: Path) -> None:
    script = tmp_path / "helper.py"
    script.write_text(HELPER.format(repo=str(REPO)))
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first == b"ready\n", (first, proc.stderr.read() if proc.poll() is not None else b"")
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert b"got-term\n" in out, (out, err)
    assert out.rstrip().endswith(b"exit=9"), (out, err)
    assert proc.returncode == 0, err  # the helper itself was not killed by the signal


# ------------------------------------------------------------------------------ environment


def test_person_env_drops_every_secretctl_variable() -> None:
    base = {**base_env(), "SECRETCTL_PASSWORD": "correct-horse-battery", "SECRETCTL_VAULT": "/v",
            "SECRETCTL_CONFIG_DIR": "/c", "HOME": "/home/x", "EDITOR": "vi"}
    env = runner.person_env(base, {"API_TOKEN": "tok-Zq8vL2mW9rT4"})
    res = captured([ENV_BIN], env=env)
    assert res.exit_code == 0
    lines = res.stdout.decode().splitlines()
    assert not [line for line in lines if line.startswith("SECRETCTL_")]
    assert b"correct-horse-battery" not in res.stdout
    assert "API_TOKEN=tok-Zq8vL2mW9rT4" in lines
    assert "EDITOR=vi" in lines and "HOME=/home/x" in lines


def test_person_env_injected_value_is_redacted_in_output() -> None:
    env = runner.person_env(base_env(), {"API_TOKEN": "tok-Zq8vL2mW9rT4"})
    r = Redactor.build({"API_TOKEN": Secret(b"tok-Zq8vL2mW9rT4")})
    res = captured([ENV_BIN], env=env, make_filter=r.stream)
    assert b"API_TOKEN=[REDACTED:API_TOKEN]\n" in res.stdout
    assert b"Zq8vL2mW9rT4" not in res.stdout


def test_agent_env_keeps_only_the_allow_list() -> None:
    base = {**base_env(), "HOME": "/home/x", "EDITOR": "vi", "AWS_PROFILE": "prod", "SECRETCTL_PASSWORD": "pw-1234",
            "SSH_AUTH_SOCK": "/tmp/agent.sock", "PAGER": "less"}
    env = runner.agent_env(base, AGENT_ENV_DEFAULT, {"DB_URL": "postgres://x"})
    res = captured([ENV_BIN], env=env)
    pairs = dict(line.split("=", 1) for line in res.stdout.decode().splitlines())
    allowed = set(AGENT_ENV_DEFAULT) | set(runner.AGENT_ENV_FIXED) | {"DB_URL"}
    assert set(pairs) <= allowed, set(pairs) - allowed
    assert pairs["PAGER"] == "cat"
    assert pairs["HOME"] == "/home/x" and pairs["DB_URL"] == "postgres://x"
    for dropped in ("EDITOR", "AWS_PROFILE", "SECRETCTL_PASSWORD", "SSH_AUTH_SOCK"):
        assert dropped not in pairs


def test_agent_env_never_passes_secretctl_even_if_allowed() -> None:
    env = runner.agent_env({"SECRETCTL_PASSWORD": "pw", "PATH": "/bin"}, ["SECRETCTL_PASSWORD", "PATH"], {})
    assert "SECRETCTL_PASSWORD" not in env
    assert env["PATH"] == "/bin"


# -------------------------------------------------------------------------- stdin and output


def test_run_captured_stdin_is_dev_null() -> None:
    res = captured(["sh", "-c", "readlink /proc/self/fd/0; cat; echo done"], timeout=5)
    assert res.stdout == b"/dev/null\ndone\n"
    assert not res.timed_out


def test_output_streams_before_the_child_exits() -> None:
    out, err = Recorder(), Recorder()
    start = time.monotonic()
    res = runner.run_streaming(["sh", "-c", "echo first; sleep 1; echo second"], base_env(),
                               make_filter=Redactor.build({"k": Secret(b"Zq8vL2mW9rT4")}).stream,
                               out=out, err=err, stdin_passthrough=False)
    end = time.monotonic()
    assert res.exit_code == 0
    assert out.data == b"first\nsecond\n"
    first_at = next(t for t, d in out.writes if b"first" in d)
    assert first_at - start < 0.7, f"first line arrived after {first_at - start:.2f}s"
    assert end - first_at > 0.8


def test_output_line_without_newline_arrives_after_a_pause() -> None:
    out, err = Recorder(), Recorder()
    start = time.monotonic()
    # A progress line with no newline yet: held while it might grow, released after a pause.
    # (It ends in "_ok": a trailing "s", "e", "x"... would be held as the start of a credential.)
    runner.run_streaming(["sh", "-c", "printf 'progress: downloading_artifacts_ok'; sleep 1; echo"], base_env(),
                         make_filter=Redactor.build({"k": Secret(b"Zq8vL2mW9rT4")}).stream,
                         out=out, err=err, stdin_passthrough=False)
    assert out.data == b"progress: downloading_artifacts_ok\n"
    early = b"".join(d for t, d in out.writes if t - start < 0.8)
    assert early == b"progress: downloading_artifacts_ok"


def test_max_output_bytes_truncates() -> None:
    res = captured(["sh", "-c", "head -c 200000 /dev/zero | tr '\\0' a; echo; echo tail >&2"], max_output_bytes=1000)
    assert res.exit_code == 0
    assert res.truncated
    assert res.stdout == b"a" * 1000
    assert res.stderr == b"tail\n"


def test_under_the_cap_is_not_truncated() -> None:
    res = captured(["sh", "-c", "printf 0123456789"], max_output_bytes=10)
    assert res.stdout == b"0123456789"
    assert not res.truncated


# -------------------------------------------------------------------------- resolve_command


def test_resolve_missing_command_is_127(tmp_path: Path) -> None:
    with pytest.raises(runner.CommandNotFound) as info:
        runner.resolve_command("no-such-command-xyz", os.environ.get("PATH"), tmp_path)
    assert info.value.exit_code == 127
    with pytest.raises(runner.CommandNotFound) as info2:
        runner.resolve_command("./missing.sh", os.environ.get("PATH"), tmp_path)
    assert info2.value.exit_code == 127


def test_resolve_non_executable_file_is_126(tmp_path: Path) -> None:
    script = tmp_path / "tool.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(0o644)
    with pytest.raises(runner.CommandNotExecutable) as info:
        runner.resolve_command("./tool.sh", "/usr/bin:/bin", tmp_path)
    assert info.value.exit_code == 126
    with pytest.raises(runner.CommandNotExecutable):
        runner.resolve_command(str(script), "/usr/bin:/bin", Path("/"))
    with pytest.raises(runner.CommandNotExecutable):
        runner.resolve_command(str(tmp_path), "/usr/bin:/bin", Path("/"))  # a directory


def test_resolve_follows_path_and_symlinks(tmp_path: Path) -> None:
    real = tmp_path / "real-tool"
    real.write_text("#!/bin/sh\necho hi\n")
    real.chmod(0o755)
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "tool").symlink_to(real)
    found = runner.resolve_command("tool", f"{tmp_path / 'empty'}:{bindir}", tmp_path)
    assert found.path == str(bindir / "tool")
    assert found.realpath == str(real)
    assert found.name == "real-tool"


def test_spawn_of_missing_command_is_127() -> None:
    with pytest.raises(runner.CommandNotFound) as info:
        captured(["/nonexistent/definitely-not-here"])
    assert info.value.exit_code == 127


@given(st.lists(st.sampled_from(["", ".", "..", "a", "b.c", "/", "//", "x/", "./y"]), max_size=5),
       st.sampled_from(["tool", "./tool", "a/../tool", "b//tool", "tool/"]), st.booleans())
def test_the_resolved_path_is_spelled_as_pathlib_spells_it(parts: list[str], name: str, absolute: bool) -> None:
    """runner._absolute skips pathlib only where it would change nothing (the child's argv[0])."""
    base = ("/" if absolute else "") + "/".join(parts)
    assert runner._absolute(base or ".", name) == str((Path(base or ".") / name).absolute())


def test_a_writer_ahead_of_the_reader_is_read_in_large_pieces() -> None:
    # The pipe is grown to hold a whole read: a child that writes faster than the filter keeps up
    # is read in pieces of more than the default 64 KiB pipe (each read costs the redactor a fixed
    # amount of Python), and every byte still arrives once, in order.
    sizes: list[int] = []

    class Slow(PassThrough):
        def feed(self, chunk: bytes) -> bytes:
            sizes.append(len(chunk))
            time.sleep(0.05 if len(sizes) < 4 else 0)  # the child fills the pipe meanwhile
            return chunk

    out, err = Recorder(), Recorder()
    script = "import sys; sys.stdout.buffer.write(bytes(range(256)) * 8192)"
    res = runner.run_streaming([sys.executable, "-c", script], base_env(), make_filter=Slow, out=out, err=err,
                               stdin_passthrough=False)
    assert res.exit_code == 0
    assert out.data == bytes(range(256)) * 8192
    assert max(sizes) > 64 * 1024, sizes
