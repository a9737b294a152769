"""Policy decisions as data: (team file, personal file, command, args, expected decision).

Each row is what a user would check with `secretctl policy check`. The expected value is
"allow" or the start of the refusal's reason.
"""

from __future__ import annotations

import pytest

from secretctl.core.policy import Policy, RunCheck, load_policy, narrow
from secretctl.errors import PolicyError

TEAM = """\
version: 1
allowed_commands: [aws, kubectl, git, cat, sed, sh]
commands:
  aws: {args_allow: ["s3 *", "sts get-caller-identity"]}
  kubectl:
    args_allow: ["get *", "get * -o json", "describe * **"]
    deny_args: ["--kubeconfig", "config view --raw", "-o"]
  git: {deny_args: ["-c", "--exec-path"]}
"""
NARROW_S3 = """\
version: 1
commands:
  aws: {args_allow: ["s3 ls *"]}
"""
ONLY_GIT = "version: 1\nallowed_commands: [git]\n"

ROWS: list[tuple[str, str | None, str, list[str], str]] = [
    # issue 14 bug 4: the personal `s3 ls *` narrows the team's `s3 *`
    (TEAM, NARROW_S3, "aws", ["s3", "rm", "s3://prod/x"], "arguments match no args_allow"),
    (TEAM, NARROW_S3, "aws", ["s3", "ls", "s3://prod/"], "allow"),
    (TEAM, None, "aws", ["s3", "rm", "s3://prod/x"], "allow"),
    (TEAM, NARROW_S3, "aws", ["sts", "get-caller-identity"], "arguments match no args_allow"),
    # args_allow is anchored and token-wise: `get *` does not admit extra flags
    (TEAM, None, "kubectl", ["get", "pods"], "allow"),
    (TEAM, None, "kubectl", ["get", "pods", "mypod"], "allow"),
    (TEAM, None, "kubectl", ["get", "pods", "--kubeconfig=/tmp/k"], "deny_args: --kubeconfig"),
    (TEAM, None, "kubectl", ["get", "pods", "--all-namespaces"], "arguments match no args_allow"),
    (TEAM, None, "kubectl", ["get"], "arguments match no args_allow"),
    (TEAM, None, "kubectl", ["delete", "pods", "x"], "arguments match no args_allow"),
    (TEAM, None, "kubectl", ["describe", "pod", "x", "--namespace", "y"], "allow"),
    (TEAM, None, "aws", ["s3", "ls", "--endpoint-url", "http://evil"], "arguments match no args_allow"),
    # deny_args: every spelling of a flag, anywhere
    (TEAM, None, "kubectl", ["describe", "pod", "--kubeconfig", "/tmp/k"], "deny_args: --kubeconfig"),
    (TEAM, None, "kubectl", ["describe", "pod", "-kubeconfig=/tmp/k"], "deny_args: --kubeconfig"),
    (TEAM, None, "kubectl", ["describe", "pod", "--kubeconf=/tmp/k"], "deny_args: --kubeconfig"),
    (TEAM, None, "kubectl", ["describe", "pod", "x", "-ojson"], "deny_args: -o"),
    (TEAM, None, "kubectl", ["describe", "config", "view", "--raw"], "deny_args: config view --raw"),
    (TEAM, None, "kubectl", ["describe", "config", "x", "view", "y", "--raw"], "deny_args: config view --raw"),
    (TEAM, None, "git", ["-c", "core.pager=sh", "log"], "deny_args: -c"),
    (TEAM, None, "git", ["-ccore.pager=sh", "log"], "deny_args: -c"),
    (TEAM, None, "git", ["--exec-path=/tmp", "status"], "deny_args: --exec-path"),
    (TEAM, None, "git", ["status", "--short"], "allow"),
    # paths are normalized before any rule sees them
    (TEAM, None, "cat", ["/proc/./1/environ"], "argument reads process memory"),
    (TEAM, None, "cat", ["/proc//1/environ"], "argument reads process memory"),
    (TEAM, None, "cat", ["/proc/1/task/1/environ"], "argument reads process memory"),
    (TEAM, None, "cat", ["/tmp/../proc/1/environ"], "argument reads process memory"),
    (TEAM, None, "cat", ["--file=/proc/self/../1/mem"], "argument reads process memory"),
    (TEAM, None, "cat", ["/dev/fd/3"], "argument reads process memory"),
    (TEAM, None, "cat", ["FILE:///etc/passwd"], "argument reads process memory"),
    (TEAM, None, "cat", ["/proc/cpuinfo"], "allow"),
    (TEAM, None, "cat", ["notes/profile:1"], "allow"),
    # the personal file narrows the command list
    (TEAM, ONLY_GIT, "cat", ["x"], "not in allowed_commands"),
    (TEAM, ONLY_GIT, "git", ["status"], "allow"),
]


def _policy(team: str, personal: str | None) -> Policy:
    p = load_policy(team, "team.yaml")
    return narrow(p, load_policy(personal, "mine.yaml")) if personal else p


@pytest.mark.parametrize(("team", "personal", "command", "args", "expected"), ROWS)
def test_decision(team: str, personal: str | None, command: str, args: list[str], expected: str) -> None:
    policy = _policy(team, personal)
    check = RunCheck(command=command, resolved_name=command, args=tuple(args))
    if expected == "allow":
        assert policy.check(check).rule
    else:
        with pytest.raises(PolicyError) as exc:
            policy.check(check)
        assert expected in exc.value.message


# (what the file is really, allowed?, expected) for a command allowed as `aws`.
IDENTITY_ROWS: list[tuple[str, str | None, bool, str]] = [
    ("sed", None, True, "it is really sed"),            # aws -> sed symlink
    ("aws", "sed", True, "it is really sed"),           # a renamed copy of sed, found by content
    ("aws", "python3.11", True, "it is really python3.11"),  # an interpreter copy with a byte appended
    ("aws", "env", True, "always blocked"),
    ("aws", None, False, "folder someone other than root can write"),
    ("aws", None, True, "allow"),
]


@pytest.mark.parametrize(("real", "really", "trusted", "expected"), IDENTITY_ROWS)
def test_programs_are_judged_by_what_they_run(real: str, really: str | None, trusted: bool, expected: str) -> None:
    policy = load_policy("version: 1\nallowed_commands: [aws, sh]\n", "p.yaml")
    check = RunCheck(command="aws", resolved_name=real, resolved_is=really, trusted=trusted)
    if expected == "allow":
        assert policy.check(check).rule
    else:
        with pytest.raises(PolicyError) as exc:
            policy.check(check)
        assert expected in exc.value.message


def test_same_kind_and_pins() -> None:
    policy = load_policy("version: 1\nallowed_commands: [sh, tool]\ncommands:\n  tool: {sha256: " + "a" * 64 + "}\n",
                         "p.yaml")
    assert policy.check(RunCheck(command="sh", resolved_name="dash", resolved_is="dash")).rule
    # an untrusted folder is fine when the rule pins the exact bytes
    assert policy.check(RunCheck(command="tool", resolved_name="tool", trusted=False, script_sha256="a" * 64)).rule
    with pytest.raises(PolicyError, match="folder someone other than root"):
        policy.check(RunCheck(command="tool", resolved_name="tool", trusted=False, script_sha256="b" * 64))


def test_sandbox_fields_parse_and_narrow() -> None:
    team = load_policy("version: 1\nsandbox: none\npath: [/usr/bin, /opt/tools/bin]\nallowed_commands: [curl]\n"
                       "commands:\n  curl: {hosts: [api.example.com, '127.0.0.1:8080'], workspace: [/srv/w],"
                       " read: [/srv/r]}\n", "team.yaml")
    assert team.sandbox == "none"
    assert team.path == ("/usr/bin", "/opt/tools/bin")
    assert team.commands["curl"].hosts == ("api.example.com", "127.0.0.1:8080")
    silent = narrow(team, load_policy("version: 1\n", "mine.yaml"))
    assert silent.sandbox == "none"  # a personal file that does not name it keeps the team's
    mine = narrow(team, load_policy("version: 1\nsandbox: auto\npath: [/usr/bin]\ncommands:\n"
                                    "  curl: {hosts: ['127.0.0.1:8080'], workspace: []}\n", "mine.yaml"))
    assert mine.sandbox == "auto"
    assert mine.path == ("/usr/bin",)
    assert mine.commands["curl"].hosts == ("127.0.0.1:8080",)
    assert mine.commands["curl"].workspace == ()
    assert mine.commands["curl"].read == ("/srv/r",)
    personal_off = narrow(load_policy("version: 1\n", "t.yaml"), load_policy("version: 1\nsandbox: none\n", "m"))
    assert personal_off.sandbox == "auto"  # a personal file cannot turn the sandbox off


@pytest.mark.parametrize("bad", [
    "version: 1\nsandbox: off\n",
    "version: 1\npath: [bin]\n",
    "version: 1\npath: []\n",
    "version: 1\ncommands:\n  curl: {hosts: ['http://x/']}\n",
    "version: 1\ncommands:\n  curl: {hosts: ['a:b:c']}\n",
    "version: 1\ncommands:\n  curl: {hosts: ['ex*ample.com']}\n",
    "version: 1\ncommands:\n  curl: {workspace: [relative/dir]}\n",
])
def test_bad_sandbox_fields_fail_closed_naming_the_line(bad: str) -> None:
    with pytest.raises(PolicyError) as exc:
        load_policy(bad, "p.yaml")
    assert exc.value.message.startswith("p.yaml:")
