"""Team flows converge and report what happened (issue 10 §6, issue 14 bug 3): two members, two
clones, one bare remote, the installed CLI and real git."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import Member, copy_world, git, make_member

Team = tuple[Member, Member, Path, Path]


@pytest.fixture(scope="module")
def _team_template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Team]:
    """alice's vault pushed to a bare remote; bob added as a member and cloned with secretctl."""
    tmp_path = tmp_path_factory.mktemp("team")
    alice, bob = make_member(tmp_path, "alice"), make_member(tmp_path, "bob")
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(remote)], check=True)
    a_root = tmp_path / "alice-vault"
    alice.run("init", str(a_root), "--name", "alice")
    alice.env["SECRETCTL_VAULT"] = str(a_root)
    alice.run("member", "add", "bob", bob.recipient)
    alice.run("set", "shared/one", input=b"first-Value-111")
    git(a_root, "remote", "add", "origin", str(remote))
    alice.run("sync")
    b_root = tmp_path / "bob-vault"
    bob.run("clone", str(remote), str(b_root))
    bob.env["SECRETCTL_VAULT"] = str(b_root)
    return tmp_path, (alice, bob, a_root, b_root)


@pytest.fixture
def team(tmp_path: Path, _team_template: tuple[Path, Team]) -> Team:
    """A copy of the module's team (tests/conftest.copy_world), for this test to change."""
    src, (alice, bob, _, _) = _team_template
    world = tmp_path / "world"
    alice, bob = copy_world(src, world, [alice, bob])
    return alice, bob, world / "alice-vault", world / "bob-vault"


def value(m: Member, key: str) -> bytes | None:
    out = m.run("get", key, check=False)
    return out.stdout if out.returncode == 0 else None


def assert_clean(*roots: Path) -> None:
    for root in roots:
        assert git(root, "status", "--porcelain") == ""
        assert not (root / ".git/rebase-merge").exists() and not (root / ".git/rebase-apply").exists()


# ------------------------------------------------------------ rename + edit
def test_incoming_rename_carries_my_edit(team: Team) -> None:
    """alice renames, bob edits the old name: bob's edit follows the rename."""
    alice, bob, a_root, b_root = team
    alice.run("mv", "shared/one", "shared/renamed")
    alice.run("sync")
    bob.run("set", "shared/one", input=b"bob-Edit-222")
    out = bob.run("sync", check=False)
    assert out.returncode == 0, out.stderr
    assert value(bob, "shared/renamed") == b"bob-Edit-222"
    assert value(bob, "shared/one") is None
    alice.run("sync")
    assert value(alice, "shared/renamed") == b"bob-Edit-222"
    assert value(alice, "shared/one") is None
    assert_clean(a_root, b_root)
    assert alice.run("audit", "verify").returncode == 0


def test_my_rename_carries_an_incoming_edit(team: Team) -> None:
    """bob renames, alice edits the old name: alice's edit arrives under the new name."""
    alice, bob, a_root, b_root = team
    alice.run("set", "shared/one", input=b"alice-Edit-333")
    alice.run("sync")
    bob.run("mv", "shared/one", "shared/renamed")
    out = bob.run("sync", check=False)
    assert out.returncode == 0, out.stderr
    assert value(bob, "shared/renamed") == b"alice-Edit-333"
    assert value(bob, "shared/one") is None
    alice.run("sync")
    assert value(alice, "shared/renamed") == b"alice-Edit-333"
    assert_clean(a_root, b_root)


def test_rename_then_edit_on_both_sides_is_a_conflict_resolve_settles(team: Team) -> None:
    alice, bob, a_root, b_root = team
    alice.run("mv", "shared/one", "shared/renamed")
    alice.run("set", "shared/renamed", input=b"alice-After-Move-4")
    alice.run("sync")
    bob.run("set", "shared/one", input=b"bob-Edit-5555")
    out = bob.run("sync", check=False)
    assert out.returncode == 7
    assert b"shared/renamed" in out.stderr and b"resolve" in out.stderr
    bob.run("resolve", "shared/renamed", "--ours")
    bob.run("sync")
    assert value(bob, "shared/renamed") == b"bob-Edit-5555"
    assert value(bob, "shared/one") is None
    alice.run("sync")
    assert value(alice, "shared/renamed") == b"bob-Edit-5555"
    assert_clean(a_root, b_root)


def test_delete_on_one_side_edit_on_the_other_is_a_conflict_resolve_settles(team: Team) -> None:
    alice, bob, a_root, b_root = team
    alice.run("delete", "-y", "shared/one")
    alice.run("sync")
    bob.run("set", "shared/one", input=b"bob-Keeps-It-6")
    out = bob.run("sync", check=False)
    assert out.returncode == 7 and b"shared/one" in out.stderr
    bob.run("resolve", "shared/one", "--theirs")  # the incoming side: deleted
    bob.run("sync")
    assert value(bob, "shared/one") is None
    alice.run("sync")
    assert_clean(a_root, b_root)


# ------------------------------------------------------------ seeing a conflict
def _conflict(team: Team) -> Team:
    alice, bob, _, _ = team
    alice.run("set", "shared/one", input=b"alice-Changed-Value-1")
    alice.run("sync")
    bob.run("set", "shared/one", input=b"bob-Changed-Value-22")
    assert bob.run("sync", check=False).returncode == 7
    return team


def test_get_during_a_conflict_shows_your_side_as_the_docs_say(team: Team) -> None:
    _, bob, _, _ = _conflict(team)
    out = bob.run("get", "shared/one")
    assert out.stdout == b"bob-Changed-Value-22"
    assert b"conflict" in out.stderr and b"resolve --show" in out.stderr


def test_resolve_show_masks_both_sides_unless_reveal(team: Team) -> None:
    _, bob, _, _ = _conflict(team)
    shown = bob.run("resolve", "--show", "shared/one")
    text = shown.stdout.decode()
    assert "****e-22" in text and "****ue-1" in text
    assert "bob-Changed" not in text and "alice-Changed" not in text
    assert text.index("--ours") < text.index("****e-22") < text.index("--theirs") < text.index("****ue-1")
    data = json.loads(bob.run("resolve", "--show", "shared/one", "--json").stdout)
    assert data["ours"]["masked_value"] == "****e-22" and data["theirs"]["masked_value"] == "****ue-1"
    assert "value" not in data["ours"]
    revealed = bob.run("resolve", "--show", "shared/one", "--reveal", "--json")
    data = json.loads(revealed.stdout)
    assert data["ours"]["value"] == "bob-Changed-Value-22"
    assert data["theirs"]["value"] == "alice-Changed-Value-1"
    events = json.loads(bob.run("audit", "list", "--json").stdout)
    assert [e["keys"] for e in events if e["action"] == "resolve-show"] == [["shared/one"]]  # --reveal only
    # Showing settles nothing.
    assert bob.run("sync", check=False).returncode == 7
    missing = bob.run("resolve", "--show", "shared/two", check=False)
    assert missing.returncode == 3


# ------------------------------------------------------------ sync reports
def test_sync_reports_what_went_out(team: Team) -> None:
    _, bob, _, _ = team
    bob.run("set", "bob/new", input=b"bob-Value-12345")
    bob.run("set", "shared/one", input=b"bob-Value-67890")
    out = bob.run("sync")
    assert b"already up to date" not in out.stderr
    assert b"bob/new" in out.stderr and b"shared/one" in out.stderr
    bob.run("set", "bob/other", input=b"bob-Value-13579")
    report = json.loads(bob.run("sync", "--json").stdout)
    assert report["outgoing"]["added"] == {"bob/other": "bob"}
    assert report["outgoing"]["commits"] >= 1
    assert report["commits"] == 0  # nothing came in
    quiet = bob.run("sync")
    assert b"already up to date" in quiet.stderr


def test_sync_tells_added_from_changed_by_the_diff_not_the_subject(team: Team) -> None:
    """Issue 14 bug 3: a new key whose name contains "update" was reported as changed."""
    alice, bob, _, _ = team
    alice.run("set", "app/update_token", input=b"new-Key-Value-1")
    alice.run("set", "svc/updater", input=b"new-Key-Value-2")
    alice.run("set", "shared/one", input=b"changed-Value-3")
    alice.run("sync")
    report = json.loads(bob.run("sync", "--json").stdout)
    assert set(report["added"]) == {"app/update_token", "svc/updater"}
    assert set(report["changed"]) == {"shared/one"}
    assert report["added"]["app/update_token"] == "alice"


def test_sync_reports_a_rename_as_a_move(team: Team) -> None:
    alice, bob, _, _ = team
    alice.run("mv", "shared/one", "shared/two")
    alice.run("sync")
    report = json.loads(bob.run("sync", "--json").stdout)
    assert report["moved"] == {"shared/one": "shared/two"}
    assert report["added"] == {} and report["removed"] == {}


# ------------------------------------------------------------ the policy
POLICY = """\
version: 1
default_action: deny
allowed_commands: [echo, ./deploy.sh]
commands:
  echo: {keys: ["shared/*"]}
  ./deploy.sh: {keys: ["shared/*"]}
"""


def test_policy_commit_keeps_audit_verify_green(team: Team) -> None:
    alice, bob, a_root, _b_root = team
    (a_root / ".secretctl/policy.yaml").write_text(POLICY)
    (a_root / "deploy.sh").write_text("#!/bin/sh\necho deployed\n")
    (a_root / "deploy.sh").chmod(0o755)
    out = alice.run("policy", "commit")
    assert b".secretctl/policy.yaml" in out.stderr and b"deploy.sh" in out.stderr
    body = git(a_root, "log", "-1", "--format=%B")
    assert "Secretctl-Action: policy" in body and "Secretctl-Actor: alice" in body
    assert_clean(a_root)
    assert alice.run("audit", "verify").returncode == 0
    # A broken policy is refused before anything is committed.
    (a_root / ".secretctl/policy.yaml").write_text("version: 1\nallowed_commands: [\n")
    head = git(a_root, "rev-parse", "HEAD")
    bad = alice.run("policy", "commit", check=False)
    assert bad.returncode == 5 and b"policy.yaml" in bad.stderr
    assert git(a_root, "rev-parse", "HEAD") == head
    git(a_root, "checkout", "--", ".secretctl/policy.yaml")
    alice.run("sync")
    bob.run("sync")
    assert bob.run("audit", "verify").returncode == 0


def test_the_documented_team_workflow_keeps_audit_verify_green(team: Team, tmp_path: Path) -> None:
    """docs/getting-started.md and docs/team.md, step by step, then `audit verify` on both clones."""
    alice, bob, a_root, b_root = team
    alice.run("set", "db/main", "--template", "database", "--field", "host=db.internal", "--field", "username=app",
              input=b"pg-Password-777\n")
    alice.run("set", "github/token", "--expires", "90d", "--tags", "ci", input=b"ghp-Token-Value-1")
    alice.run("get", "github/token")
    carol = make_member(tmp_path, "carol")
    alice.run("member", "add", "carol", carol.recipient, "--path", "prod")
    (a_root / ".secretctl/policy.yaml").write_text(POLICY)
    alice.run("policy", "commit")
    alice.run("sync")
    bob.run("sync")
    bob.run("hook", "install")
    bob.run("set", "shared/one", input=b"bob-Rotated-Value-9")
    bob.run("mv", "github/token", "ci/github_token")
    alice.run("set", "shared/one", input=b"alice-Rotated-Value-8")
    alice.run("sync")
    assert bob.run("sync", check=False).returncode == 7
    bob.run("resolve", "--show", "shared/one")
    bob.run("resolve", "shared/one", "--ours")
    bob.run("sync")
    alice.run("sync")
    alice.run("run", "-k", "db/main", "--", "true")
    alice.run("sync")
    bob.run("sync")
    for m in (alice, bob):
        out = m.run("audit", "verify", check=False)
        assert out.returncode == 0, out.stderr
        assert m.run("check").returncode == 0
    assert_clean(a_root, b_root)
