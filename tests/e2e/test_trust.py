"""Issue 16: secretctl trusts only what is committed, and its own children get nothing a
same-user process planted. Each test writes the files as an agent's shell next door would
(plain file writes, no secretctl), then lets the person run the installed `secretctl`."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import AGE, Member, git, make_member, needs_age, snapshot

PASSWORD = "correct-horse-battery-staple"


@pytest.fixture
def carol(tmp_path: Path) -> Member:
    """A member whose identity is protected by a password (SECRETCTL_PASSWORD in her env)."""
    return make_member(tmp_path, "carol", password=PASSWORD)


@pytest.fixture
def cvault(tmp_path: Path, carol: Member) -> Path:
    root = tmp_path / "vault"
    carol.run("init", str(root), "--name", "carol")
    carol.env["SECRETCTL_VAULT"] = str(root)
    carol.run("set", "app/token", input=b"tok-Trust-Canary-0001")
    return root


def plant_env_dumper(path: Path, out: Path) -> Path:
    """A program that writes its whole environment to ``out`` (what an attacker wants)."""
    path.write_text(f"#!/bin/sh\nenv >> {out}\ncat >/dev/null 2>&1 </dev/null\nexit 0\n")
    path.chmod(0o755)
    return path


def leaked(out: Path) -> bool:
    return out.exists() and (PASSWORD.encode() in out.read_bytes() or b"SECRETCTL_PASSWORD" in out.read_bytes())


# ---------------------------------------------------------------- git config
def test_planted_fsmonitor_in_the_vault_config_is_refused_and_never_runs(carol: Member, cvault: Path,
                                                                         tmp_path: Path) -> None:
    out = tmp_path / "stolen.txt"
    git(cvault, "config", "core.fsmonitor", str(plant_env_dumper(tmp_path / "fsm.sh", out)))
    before = snapshot(cvault)
    proc = carol.run("set", "app/other", input=b"other-Value-0002", check=False)
    assert proc.returncode == 6, proc.stderr
    err = proc.stderr.decode()
    assert "core.fsmonitor" in err and ".git/config" in err
    assert len([ln for ln in err.splitlines() if ln.startswith("secretctl: error:")]) == 1
    assert not out.exists()
    assert snapshot(cvault) == before
    # Reading needs no git: `get` still works, and still runs nothing planted.
    assert carol.run("get", "app/token").stdout == b"tok-Trust-Canary-0001"
    assert not out.exists()


@pytest.mark.parametrize("key", ["filter.evil.clean", "merge.evil.driver", "credential.helper",
                                 "remote.origin.uploadpack", "alias.st", "include.path"])
def test_every_program_running_key_in_the_vault_config_is_refused(carol: Member, cvault: Path, tmp_path: Path,
                                                                   key: str) -> None:
    out = tmp_path / "stolen.txt"
    value = str(plant_env_dumper(tmp_path / "x.sh", out))
    if key == "alias.st":
        value = "!" + value
    if key == "include.path":  # a file that brings in anything at all
        (tmp_path / "more.cfg").write_text(f"[core]\n\tfsmonitor = {value}\n")
        value = str(tmp_path / "more.cfg")
    git(cvault, "config", key, value)
    (cvault / ".git/info").mkdir(exist_ok=True)
    (cvault / ".git/info/attributes").write_text("* filter=evil merge=evil\n")
    proc = carol.run("set", "app/other", input=b"other-Value-0002", check=False)
    assert proc.returncode == 6, proc.stderr
    assert key in proc.stderr.decode()
    assert not out.exists()


def test_secretctl_own_merge_driver_settings_are_accepted(carol: Member, cvault: Path) -> None:
    listing = git(cvault, "config", "--local", "--list")
    assert "merge.secretctl-age.driver=" in listing and "diff.age.textconv=" in listing
    carol.run("set", "app/other", input=b"other-Value-0002")


def test_an_altered_merge_driver_is_refused(carol: Member, cvault: Path, tmp_path: Path) -> None:
    out = tmp_path / "stolen.txt"
    git(cvault, "config", "merge.secretctl-age.driver", str(plant_env_dumper(tmp_path / "d.sh", out)) + " %A")
    proc = carol.run("set", "app/other", input=b"other-Value-0002", check=False)
    assert proc.returncode == 6
    assert "merge.secretctl-age.driver" in proc.stderr.decode()


def test_planted_fsmonitor_and_filter_in_global_gitconfig_never_run(carol: Member, cvault: Path,
                                                                    tmp_path: Path) -> None:
    out = tmp_path / "stolen.txt"
    script = plant_env_dumper(tmp_path / "fsm.sh", out)
    with (carol.home / ".gitconfig").open("a") as fh:  # GIT_CONFIG_GLOBAL of this member
        fh.write(f"[core]\n\tfsmonitor = {script}\n\tpager = {script}\n[filter \"g\"]\n\tclean = {script}\n"
                 f"\tsmudge = {script}\n")
    (cvault / ".git/info").mkdir(exist_ok=True)
    (cvault / ".git/info/attributes").write_text("* filter=g\n")
    carol.run("set", "app/other", input=b"other-Value-0002")
    carol.run("set", "app/token", input=b"tok-Trust-Canary-0003")
    assert not out.exists()
    assert "secretctl: update app/token" in git(cvault, "log", "-1", "--format=%s")


def test_hooks_secretctl_runs_get_no_password(carol: Member, cvault: Path, tmp_path: Path) -> None:
    """A hook planted in .git/hooks runs on a commit (the person's hooks are kept for commits),
    but its environment holds no SECRETCTL_* secret; plumbing calls run no hook at all."""
    out = tmp_path / "stolen.txt"
    hooks = cvault / ".git/hooks"
    for name in ("pre-commit", "post-commit", "reference-transaction", "post-index-change"):
        plant_env_dumper(hooks / name, out)
    carol.run("set", "app/other", input=b"other-Value-0002")
    assert out.exists()  # the person's hooks still run on commit...
    assert not leaked(out)  # ...with nothing of ours in their environment


def test_our_git_children_get_no_password_even_without_planted_config(carol: Member, cvault: Path,
                                                                      tmp_path: Path) -> None:
    """A merge driver sees what every git child sees: run a sync whose rebase calls our driver
    through a wrapper that records the environment."""
    out = tmp_path / "stolen.txt"
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    git(cvault, "remote", "add", "origin", str(remote))
    carol.run("sync")
    hooks = cvault / ".git/hooks"
    plant_env_dumper(hooks / "pre-push", out)
    carol.run("set", "app/token", input=b"tok-Trust-Canary-0004")
    carol.run("sync")
    assert out.exists()
    assert not leaked(out)


# ------------------------------------------------------------ recipients
def extra_recipient(tmp_path: Path) -> tuple[Member, str]:
    mallory = make_member(tmp_path, "mallory")
    return mallory, mallory.recipient


@needs_age
def test_planted_recipient_is_refused_before_encrypting(carol: Member, cvault: Path, tmp_path: Path) -> None:
    mallory, rcpt = extra_recipient(tmp_path)
    with (cvault / ".age-recipients").open("a") as fh:
        fh.write(f"# mallory\n{rcpt}\n")
    before = snapshot(cvault)
    proc = carol.run("set", "app/token", input=b"tok-Trust-Canary-0005", check=False)
    assert proc.returncode == 6, proc.stderr
    err = proc.stderr.decode()
    assert ".age-recipients" in err and "committed" in err
    assert rcpt[:10] in err and rcpt[-6:] in err  # names the extra recipient
    assert snapshot(cvault) == before
    # Nothing mallory can read was written.
    dec = subprocess.run([str(AGE), "-d", "-i", str(mallory.identity), str(cvault / "app/token.age")],
                         capture_output=True, check=False)
    assert dec.returncode != 0


@needs_age
def test_planted_recipients_file_in_a_folder_is_refused(carol: Member, cvault: Path, tmp_path: Path) -> None:
    _, rcpt = extra_recipient(tmp_path)
    (cvault / "app/.age-recipients").write_text(f"{carol.recipient}\n{rcpt}\n")
    proc = carol.run("set", "app/new", input=b"new-Value-0006", check=False)
    assert proc.returncode == 6, proc.stderr
    assert "app/.age-recipients" in proc.stderr.decode()
    assert not (cvault / "app/new.age").exists()


def test_a_removed_recipients_file_is_refused(carol: Member, cvault: Path, tmp_path: Path) -> None:
    bob = make_member(tmp_path, "bob")
    carol.run("member", "add", "bob", bob.recipient, "--path", "app")
    carol.run("member", "add", "bob2", make_member(tmp_path, "bob2").recipient, "--path", "app")
    carol.run("member", "remove", "bob2", "-y")
    (cvault / "app/.age-recipients").unlink()  # secrets under app/ would fall back to the root set
    proc = carol.run("set", "app/token", input=b"tok-Trust-Canary-0007", check=False)
    assert proc.returncode == 6, proc.stderr
    assert "app/.age-recipients" in proc.stderr.decode()


def test_member_add_is_the_way_and_check_reports_uncommitted_changes(carol: Member, cvault: Path,
                                                                     tmp_path: Path) -> None:
    _, rcpt = extra_recipient(tmp_path)
    with (cvault / ".age-recipients").open("a") as fh:
        fh.write(f"{rcpt}\n")
    (cvault / "app/token.meta.yaml").write_text((cvault / "app/token.meta.yaml").read_text() + "\n")
    check = carol.run("check", check=False)
    assert check.returncode == 1
    text = check.stdout.decode() + check.stderr.decode()
    assert ".age-recipients" in text and "uncommitted" in text
    assert "app/token.meta.yaml" in text
    git(cvault, "checkout", "--", ".age-recipients", "app/token.meta.yaml")
    carol.run("member", "add", "mallory", rcpt)
    carol.run("set", "app/token", input=b"tok-Trust-Canary-0008")


def test_a_merge_driver_without_the_password_leaves_a_named_conflict(tmp_path: Path) -> None:
    """The merge driver gets no password (secretctl's children never do): with protected
    identities both sides' changes become a conflict `resolve` settles, in the person's process."""
    dave = make_member(tmp_path, "dave", password=PASSWORD)
    erin = make_member(tmp_path, "erin", password=PASSWORD + "-erin")
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(remote)], check=True)
    d_root = tmp_path / "dave-vault"
    dave.run("init", str(d_root), "--name", "dave")
    dave.env["SECRETCTL_VAULT"] = str(d_root)
    dave.run("member", "add", "erin", erin.recipient)
    dave.run("set", "shared/one", input=b"first-Value-111")
    git(d_root, "remote", "add", "origin", str(remote))
    git(d_root, "push", "-q", "-u", "origin", "main", env=dave.env)
    e_root = tmp_path / "erin-vault"
    erin.run("clone", str(remote), str(e_root))
    erin.env["SECRETCTL_VAULT"] = str(e_root)
    git(e_root, "branch", "-q", "--set-upstream-to=origin/main")
    dave.run("set", "shared/one", input=b"dave-Changed-1")
    dave.run("sync")
    erin.run("set", "shared/one", input=b"erin-Changed-22")
    out = erin.run("sync", check=False)
    assert out.returncode == 7, out.stderr
    assert b"shared/one" in out.stderr
    erin.run("resolve", "shared/one", "--theirs")
    erin.run("sync")
    assert erin.run("get", "shared/one").stdout == b"dave-Changed-1"
