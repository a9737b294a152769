"""`secretctl run` and `secretctl policy` through the installed CLI, with real children."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import SECRETCTL, Member, git, stock_once

SECRET = b"Run-Secret-Value-7x9Q2"


@pytest.fixture
def runner_vault(alice: Member, vault_dir: Path) -> Path:
    def stock() -> None:
        alice.run("set", "aws/access_key_id", input=SECRET)
        alice.run("set", "aws/secret_access_key", input=b"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
        alice.run("set", "app/api-token", input=b"tok_live_ABCDEF123456")
        alice.run("set", "short/pin", input=b"123")
        alice.run("set", "db/main", "--field", "host=db.internal", "--public", "host", "--field", "password",
                  "--binding", "PGHOST=host",
                  "--binding", "PGPASSWORD=password", input=b"pg-Pass-Word-99\n")
    stock_once("test_run_cli.runner_vault", alice, vault_dir, stock)
    return vault_dir


def test_injects_and_redacts_every_form(alice: Member, runner_vault: Path) -> None:
    script = ('echo "raw=$AWS_ACCESS_KEY_ID"; printf %s "$AWS_ACCESS_KEY_ID" | base64; '
              'printf %s "$AWS_ACCESS_KEY_ID" | od -An -tx1 | tr -d " \\n"; echo; '
              'printf %s "$AWS_ACCESS_KEY_ID" | rev; echo; echo "$AWS_ACCESS_KEY_ID" | cut -c3-15; '
              'echo "$AWS_ACCESS_KEY_ID" >&2')
    out = alice.run("run", "-k", "aws/*", "--", "sh", "-c", script)
    assert out.returncode == 0
    both = out.stdout + out.stderr
    for form in (SECRET, base64.b64encode(SECRET), SECRET.hex().encode(), SECRET[::-1], SECRET[2:15]):
        assert form not in both
    assert b"raw=[REDACTED:aws/access_key_id]" in out.stdout
    assert b"[REDACTED:aws/access_key_id]" in out.stderr


def test_exit_code_and_env_names(alice: Member, runner_vault: Path) -> None:
    out = alice.run("run", "-k", "app/api-token", "--env-prefix", "X_", "--", "sh", "-c",
                    'test -n "$X_APP_API_TOKEN" && exit 42', check=False)
    assert out.returncode == 42


def test_password_and_secretctl_vars_never_reach_the_child(alice: Member, runner_vault: Path) -> None:
    out = alice.run("run", "-k", "app/api-token", "--", "sh", "-c", "env", env={"SECRETCTL_PASSWORD": "pw-xyz-123"})
    assert b"SECRETCTL_" not in out.stdout
    assert b"pw-xyz-123" not in out.stdout


def test_dollar_name_expansion_without_a_shell(alice: Member, runner_vault: Path) -> None:
    out = alice.run("run", "-k", "app/api-token", "--", "echo", "Bearer $APP_API_TOKEN", "${APP_API_TOKEN}!",
                    "$NOT_INJECTED")
    assert out.stdout == b"Bearer [REDACTED:app/api-token] [REDACTED:app/api-token]! $NOT_INJECTED\n"


def test_pattern_errors_collisions_and_short_values(alice: Member, runner_vault: Path) -> None:
    nomatch = alice.run("run", "-k", "nothing/*", "--", "true", check=False)
    assert nomatch.returncode == 3
    assert b"no secret matches nothing/*" in nomatch.stderr
    alice.run("set", "app/api.token", input=b"other-value-123")
    clash = alice.run("run", "-k", "app/*", "--", "true", check=False)
    assert clash.returncode == 2
    assert b"APP_API_TOKEN" in clash.stderr
    short = alice.run("run", "-k", "short/pin", "--", "true", check=False)
    assert short.returncode == 2
    assert b"too short to redact" in short.stderr
    assert alice.run("run", "-k", "short/pin", "--allow-short", "--", "true").returncode == 0


def test_multi_field_secret_injects_its_bindings(alice: Member, runner_vault: Path) -> None:
    out = alice.run("run", "-k", "db/main", "--", "sh", "-c", 'echo "$PGHOST $PGPASSWORD"')
    assert out.stdout == b"db.internal [REDACTED:db/main:password]\n"


def test_timeout_kills_the_group(alice: Member, runner_vault: Path, tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    start = time.monotonic()
    out = alice.run("run", "-k", "app/api-token", "--timeout", "1s", "--", "sh", "-c",
                    f"sleep 60 & echo $! > {pidfile}; wait", check=False)
    assert out.returncode == 124
    assert time.monotonic() - start < 10
    assert b"timeout exceeded" in out.stderr
    pid = int(pidfile.read_text())
    assert not _running(pid)


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def test_sigterm_is_forwarded(alice: Member, runner_vault: Path) -> None:
    proc = subprocess.Popen(
        [SECRETCTL, "run", "-k", "app/api-token", "--", "sh", "-c",
         'trap "echo got-term; exit 9" TERM; echo ready; while :; do sleep 0.05; done'],
        env=alice.env, cwd=alice.home, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    assert proc.stdout is not None
    assert proc.stdout.readline() == b"ready\n"
    proc.send_signal(signal.SIGTERM)
    rest, _ = proc.communicate(timeout=20)
    assert b"got-term" in rest
    assert proc.returncode == 9


def test_output_streams_before_the_child_exits(alice: Member, runner_vault: Path, tmp_path: Path) -> None:
    # The child prints, then waits until the test has read that line: a runner that held output
    # back until the child exits would never deliver it (no timing, so no flake under load).
    flag = tmp_path / "seen"
    argv = [SECRETCTL, "run", "-k", "app/api-token", "--", "sh", "-c",
            f"echo first; while [ ! -e {flag} ]; do sleep 0.05; done; echo last"]
    proc = subprocess.Popen(argv, env=alice.env, cwd=alice.home, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
    assert proc.stdout is not None
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 60)
        assert ready, "no output while the child still runs"
        assert proc.stdout.readline() == b"first\n"
        assert proc.poll() is None
    finally:
        flag.touch()
    out, _ = proc.communicate(timeout=60)
    assert out == b"last\n" and proc.returncode == 0


def test_stdin_passes_through(alice: Member, runner_vault: Path) -> None:
    out = alice.run("run", "-k", "app/api-token", "--", "cat", input=b"piped in\n")
    assert out.stdout == b"piped in\n"


# ------------------------------------------------------------------ policy
POLICY = """\
version: 1
default_action: deny
allowed_commands: [echo, sh, aws, ./deploy.sh]
denied_commands: [rm]
commands:
  echo: {keys: ["app/*"], expand: true}
  sh: {keys: ["aws/**"]}
  aws: {keys: ["aws/**"], deny_args: ["configure export-credentials"]}
env_aliases:
  prod: [{pattern: "db/*", target: "prod/db/*"}]
limits: {timeout: 1m, max_output_bytes: 4096}
"""


def commit_policy(root: Path, member: Member, text: str = POLICY) -> None:
    (root / ".secretctl").mkdir(exist_ok=True)
    (root / ".secretctl/policy.yaml").write_text(text)
    git(root, "add", ".secretctl/policy.yaml")
    git(root, "commit", "-qm", "policy", env=member.env)


def agent(member: Member, *args: str, **kw: object) -> subprocess.CompletedProcess[bytes]:
    return member.run("run", "--policy", *args, check=False, **kw)  # type: ignore[arg-type]


def test_policy_allows_and_denies(alice: Member, runner_vault: Path) -> None:
    commit_policy(runner_vault, alice)
    ok = agent(alice, "-k", "app/api-token", "--", "echo", "$APP_API_TOKEN")
    assert ok.returncode == 0
    assert ok.stdout == b"[REDACTED:app/api-token]\n"
    for cmd, why in ((["printenv"], b"always blocked"), (["env"], b"always blocked"), (["rm", "-rf", "x"], b"denied"),
                     (["cat", "/etc/hostname"], b"not in allowed_commands"),
                     (["sh", "-c", "cat /proc/self/environ"], b"process memory or environment")):
        out = agent(alice, "-k", "aws/*", "--", *cmd)
        assert out.returncode == 5, cmd
        assert why in out.stderr, (cmd, out.stderr)
    keys = agent(alice, "-k", "aws/*", "--", "echo", "hi")
    assert keys.returncode == 5
    assert b"keys not allowed for echo: aws/access_key_id" in keys.stderr


def test_symlink_and_copy_escapes_are_refused(alice: Member, runner_vault: Path, tmp_path: Path) -> None:
    bindir = tmp_path / "evil-bin"
    bindir.mkdir()
    # Commands are looked up through the policy's path (the caller's PATH does not count).
    commit_policy(runner_vault, alice, POLICY + f"path: [{bindir}, /usr/bin, /bin]\n")
    env_bin = shutil.which("env")
    assert env_bin is not None
    (bindir / "aws").symlink_to(env_bin)
    path = f"{bindir}{os.pathsep}{alice.env['PATH']}"
    link = agent(alice, "-k", "aws/*", "--", "aws", env={"PATH": path})
    assert link.returncode == 5
    assert b"env" in link.stderr
    (bindir / "aws").unlink()
    shutil.copy(env_bin, bindir / "aws")
    copy = agent(alice, "-k", "aws/*", "--", "aws", env={"PATH": path})
    assert copy.returncode == 5
    assert b"copy of env" in copy.stderr or b"always blocked" in copy.stderr
    absolute = agent(alice, "-k", "aws/*", "--", env_bin)
    assert absolute.returncode == 5


def test_deny_args_and_uncommitted_scripts(alice: Member, runner_vault: Path, tmp_path: Path) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "aws").write_text("#!/bin/sh\necho aws-ran\n")
    (bindir / "aws").chmod(0o755)
    pin = hashlib.sha256((bindir / "aws").read_bytes()).hexdigest()
    commit_policy(runner_vault, alice, POLICY.replace('deny_args: ["configure export-credentials"]}',
                                                      f'deny_args: ["configure export-credentials"], sha256: {pin}}}')
                  + f"path: [{bindir}, /usr/bin, /bin]\n")
    path = {"PATH": f"{bindir}{os.pathsep}{alice.env['PATH']}"}
    assert agent(alice, "-k", "aws/*", "--", "aws", "s3", "ls", env=path).stdout == b"aws-ran\n"
    denied = agent(alice, "-k", "aws/*", "--", "aws", "configure", "export-credentials", env=path)
    assert denied.returncode == 5
    assert b"deny_args" in denied.stderr
    script = runner_vault / "deploy.sh"
    script.write_text("#!/bin/sh\necho deployed\n")
    script.chmod(0o755)
    def policy_check() -> int:
        proc = alice.run("policy", "check", "-k", "aws/*", "--", "./deploy.sh", check=False, cwd=runner_vault)
        return proc.returncode

    uncommitted = alice.run("run", "--policy", "-k", "aws/*", "--", "./deploy.sh", check=False, cwd=runner_vault)
    assert uncommitted.returncode == 5
    assert policy_check() == 5
    git(runner_vault, "add", "deploy.sh")
    git(runner_vault, "commit", "-qm", "deploy script", env=alice.env)
    assert alice.run("run", "--policy", "-k", "aws/*", "--", "./deploy.sh", cwd=runner_vault).stdout == b"deployed\n"
    # `policy check` answers as `run --policy` decides (it used to deny a committed, unmodified script).
    assert policy_check() == 0
    script.write_text("#!/bin/sh\necho tampered\n")
    tampered = alice.run("run", "--policy", "-k", "aws/*", "--", "./deploy.sh", check=False, cwd=runner_vault)
    assert tampered.returncode == 5
    assert policy_check() == 5


@pytest.mark.parametrize("broken", ["version: 1\ndefault_action: allow\nallowed_commands: [echo\n",
                                    "version: 2\n", "version: 1\nsurprise: true\n",
                                    "version: 1\nallowed_commands: echo\n",
                                    "version: 1\ncommands:\n  echo: {keys: 5}\n"])
def test_broken_policy_fails_closed(alice: Member, runner_vault: Path, broken: str) -> None:
    commit_policy(runner_vault, alice, broken)
    out = agent(alice, "-k", "app/api-token", "--", "echo", "hi")
    assert out.returncode == 5
    assert b"policy.yaml" in out.stderr
    assert b":" in out.stderr.split(b"policy.yaml", 1)[1][:12]  # names the line
    check = alice.run("policy", "check", "--", "echo", "hi", check=False)
    assert check.stdout.startswith(b"deny")


def test_uncommitted_policy_edits_are_ignored(alice: Member, runner_vault: Path) -> None:
    commit_policy(runner_vault, alice)
    (runner_vault / ".secretctl/policy.yaml").write_text(POLICY.replace("[echo, sh,", "[echo, cat, sh,"))
    out = agent(alice, "-k", "app/api-token", "--", "cat", "/etc/hostname")
    assert out.returncode == 5
    assert b"uncommitted changes" in out.stderr


def test_env_aliases(alice: Member, runner_vault: Path) -> None:
    commit_policy(runner_vault, alice, POLICY.replace("[echo, sh, aws, ./deploy.sh]", "[echo, sh, aws, ./deploy.sh, "
                                                      "printf]").replace('  echo:', '  printf: {keys: ["prod/**"], '
                                                                                   'expand: true}\n  echo:'))
    alice.run("set", "prod/db/password", input=b"prod-Only-Value-1")
    out = alice.run("run", "--env", "prod", "-k", "db/*", "--", "sh", "-c", 'echo "${DB_PASSWORD:-missing}"')
    assert out.stdout == b"[REDACTED:prod/db/password]\n"


def test_policy_show_and_check(alice: Member, runner_vault: Path) -> None:
    commit_policy(runner_vault, alice)
    shown = alice.run("policy", "show").stdout.decode()
    assert "allow echo: keys app/*" in shown
    assert alice.run("policy", "check", "-k", "app/api-token", "--", "echo", "x").stdout.startswith(b"allow")
    denied = alice.run("policy", "check", "--", "printenv", check=False)
    assert denied.returncode == 5
    assert denied.stdout.startswith(b"deny: command not allowed: printenv (always blocked")


def test_agent_env_is_an_allow_list(alice: Member, runner_vault: Path) -> None:
    commit_policy(runner_vault, alice)
    out = agent(alice, "-k", "aws/*", "--", "sh", "-c", "echo ${LEAKY:-unset} $PAGER", env={"LEAKY": "from-caller"})
    assert out.stdout == b"unset cat\n"


def test_run_is_fast_enough_to_not_matter(alice: Member, runner_vault: Path) -> None:
    # Not a benchmark (see benchmarks/): a smoke check that run does not hang on exit.
    start = time.monotonic()
    alice.run("run", "-k", "app/api-token", "--", "true")
    assert time.monotonic() - start < 10
    assert sys.executable


def test_a_value_typed_into_argv_never_reaches_the_access_log(alice: Member, runner_vault: Path) -> None:
    alice.run("run", "-k", "app/api-token", "--", "echo", "tok_live_ABCDEF123456", "$APP_API_TOKEN",
              "id=ABCDEF12345", "dG9rX2xpdmVfQUJDREVGMTIzNDU2")
    log = (runner_vault / ".git/secretctl/audit-pending.jsonl").read_text()
    assert "tok_live_ABCDEF123456" not in log and "ABCDEF12345" not in log
    # Kept as a keyed hash (issue 11): a redacted copy would still show the rest of a guess. The
    # check runs without waiting for the compiled redactor: a fragment and base64 are found too.
    argv = next(json.loads(line)["argv"] for line in log.splitlines() if '"argv"' in line)
    assert argv[0] == "echo" and argv[2] == "$APP_API_TOKEN"
    assert all(argv[i].startswith("[hmac-sha256:") for i in (1, 3, 4)) and "REDACTED" not in log
