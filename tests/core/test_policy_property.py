"""core/policy, by property over *well-formed* policies (random bytes rarely get past YAML, so
these are generated as YAML documents): whatever a policy says, the invariants hold."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from secretctl.core import schema
from secretctl.core.policy import RunCheck, load_policy
from secretctl.errors import PolicyError
from tests.hyp import examples

COMMANDS = ["aws", "kubectl", "curl", "git", "echo", "ls"]
WORDS = ["get", "ls", "rm", "s3", "pods", "--raw", "config", "view", "*"]

command_rule = st.fixed_dictionaries({}, optional={
    "keys": st.lists(st.sampled_from(["aws/*", "k8s/**", "db/pass"]), max_size=2),
    "args_allow": st.lists(st.lists(st.sampled_from(WORDS), min_size=1, max_size=3).map(" ".join), max_size=2),
    "deny_args": st.lists(st.lists(st.sampled_from(WORDS[:-1]), min_size=1, max_size=2).map(" ".join), max_size=2),
})

policies = st.fixed_dictionaries({
    "version": st.just(1),
    "default_action": st.sampled_from(["deny", "allow"]),
}, optional={
    "allowed_commands": st.lists(st.sampled_from(COMMANDS), max_size=4, unique=True),
    "denied_commands": st.lists(st.sampled_from(COMMANDS), max_size=2, unique=True),
    "commands": st.dictionaries(st.sampled_from(COMMANDS), command_rule, max_size=3),
})

SETTINGS = settings(max_examples=examples(150), deadline=None)


def _check(policy_doc: dict[str, object], command: str, args: list[str]) -> str | None:
    policy = load_policy(schema.dump(policy_doc).encode(), "p.yaml")
    try:
        return policy.check(RunCheck(command=command, resolved_name=command, args=tuple(args))).rule
    except PolicyError:
        return None


@SETTINGS
@given(policies, st.sampled_from(COMMANDS), st.lists(st.sampled_from(WORDS[:-1]), max_size=4))
def test_a_denied_command_is_never_run(doc: dict[str, object], command: str, args: list[str]) -> None:
    if command in doc.get("denied_commands", []):  # type: ignore[operator]
        assert _check(doc, command, args) is None


@SETTINGS
@given(policies, st.sampled_from(COMMANDS), st.lists(st.sampled_from(WORDS[:-1]), max_size=4))
def test_default_deny_runs_only_what_is_allowed(doc: dict[str, object], command: str, args: list[str]) -> None:
    listed = command in doc.get("allowed_commands", []) or command in doc.get("commands", {})  # type: ignore[operator]
    if doc["default_action"] == "deny" and not listed:
        assert _check(doc, command, args) is None


@SETTINGS
@given(policies, st.sampled_from(["printenv", "env", "cat /proc/self/environ"]))
def test_environment_dumpers_stay_blocked_whatever_the_policy_says(doc: dict[str, object], line: str) -> None:
    command, *args = line.split()
    doc = {**doc, "default_action": "allow", "allowed_commands": [command]}
    assert _check(doc, command, args) is None


@pytest.mark.parametrize("doc", [
    {"version": 1, "default_action": "maybe"},
    {"version": 1, "commands": {"aws": {"keys": "aws/*"}}},
    {"version": 1, "surprise": True},
])
def test_malformed_policies_fail_closed_with_the_line(doc: dict[str, object]) -> None:
    with pytest.raises(PolicyError, match=r"^p\.yaml"):
        load_policy(schema.dump(doc).encode(), "p.yaml")
