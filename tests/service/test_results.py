"""Each operation returns its own typed result: the fields the front ends print are attributes
mypy checks, not keys of a free dict (a real vault in-process)."""

from __future__ import annotations

from pathlib import Path

from secretctl.core.secret import Secret
from secretctl.infra import identity
from secretctl.service.policyfile import commit_policy
from secretctl.service.results import (
    MemberAdded,
    MemberRemoved,
    Outcome,
    PolicyCommitted,
    SetOutcome,
    SetRequest,
)
from secretctl.service.vault import Vault


def test_set_says_whether_the_key_was_new(inproc: Vault) -> None:
    first = inproc.set("db/password", SetRequest(value=Secret(b"one-value-123")))
    again = inproc.set("db/password", SetRequest(value=Secret(b"two-value-456")))
    assert isinstance(first, SetOutcome) and isinstance(again, SetOutcome)
    assert (first.created, again.created) == (True, False)
    assert first.commit and again.commit and first.commit != again.commit
    assert not hasattr(first, "details")


def test_a_dry_run_import_is_flagged_and_commits_nothing(inproc: Vault) -> None:
    out = inproc.import_entries([("a/x", Secret(b"value-aaaaaaaa"))], dry_run=True)
    assert type(out) is Outcome
    assert (out.keys, out.commit, out.dry_run) == (["a/x"], None, True)
    assert not inproc.exists("a/x")
    done = inproc.import_entries([("a/x", Secret(b"value-aaaaaaaa"))])
    assert (done.keys, done.dry_run) == (["a/x"], False) and done.commit


def test_member_add_and_remove_report_who_where_and_what_they_could_read(inproc: Vault, tmp_path: Path) -> None:
    inproc.set("team/token", SetRequest(value=Secret(b"team-token-value")))
    bob = identity.create(tmp_path / "bob.age", passphrase=None)
    added = inproc.member_add("bob", bob, path="team")
    assert isinstance(added, MemberAdded)
    assert (added.member, added.path, added.keys) == ("bob", "team", ["team/token"])
    removed = inproc.member_remove("bob")
    assert isinstance(removed, MemberRemoved)
    assert (removed.member, removed.could_read) == ("bob", ["team/token"])


def test_policy_commit_names_the_files_it_committed(inproc: Vault) -> None:
    policy = inproc.root / ".secretctl" / "policy.yaml"
    policy.parent.mkdir(exist_ok=True)
    policy.write_text('version: 1\nallowed_commands: ["true"]\n')
    out = commit_policy(inproc)
    assert isinstance(out, PolicyCommitted)
    assert out.paths == [".secretctl/policy.yaml"] and out.commit
    assert commit_policy(inproc) == PolicyCommitted("policy", [], None, paths=[])
