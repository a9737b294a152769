"""Bulk commands spread their cryptography over a forked worker (infra/forked) from 128 files on:
what they write is what the serial path writes (the `age` CLI reads every file), a dead worker
fails the command with the vault as it was, and a killed command leaves no worker behind.
Through the installed `secretctl` (a pytest-xdist worker runs threads, and a process with
threads never forks a worker)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from secretctl.core import agefile
from tests.conftest import AGE, SECRETCTL, Member, git, make_member, needs_age, snapshot

pytestmark = [pytest.mark.cli_subprocess, needs_age]

N = 200  # above infra/forked.MIN_ITEMS: the worker takes part
FAULTINJECT = str(Path(__file__).resolve().parent / "faultinject")


def _import(alice: Member, tmp_path: Path, prefix: str, *, env: dict[str, str] | None = None,
            check: bool = True) -> tuple[dict[str, bytes], subprocess.CompletedProcess[bytes]]:
    values = {f"{prefix}/k{i:03d}": f"{prefix}-{i}-{os.urandom(8).hex()}".encode() for i in range(N)}
    src = tmp_path / f"{prefix}.json"
    src.write_text(json.dumps({k: v.decode() for k, v in values.items()}))
    return values, alice.run("import", str(src), env=env, check=check)


def _age_reads_all(identity: Path, root: Path, values: dict[str, bytes]) -> None:
    """Every file decrypts to its value with this identity (pyrage, in this process), and the age
    CLI reads every 7th and the last: files of the caller's part and of the worker's (a contiguous
    tail, infra/forked.Spread) alike. An age process per file (600 in the first test) was most of
    this file's CPU."""
    import pyrage

    from secretctl.infra import identity as identities

    assert AGE is not None
    keys = identities.load(identity, lambda: "").keys
    for key, value in values.items():
        assert pyrage.decrypt((root / f"{key}.age").read_bytes(), list(keys)) == value, key
    names = list(values)
    for key in {*names[::7], names[-1]}:
        out = subprocess.run([AGE, "-d", "-i", str(identity), str(root / f"{key}.age")], capture_output=True,
                             check=True).stdout
        assert out == values[key], key


def _payloads(root: Path, values: dict[str, bytes]) -> dict[str, bytes]:
    out = {}
    for key in values:
        data = (root / f"{key}.age").read_bytes()
        out[key] = data[agefile.parse_header(data).payload_offset:]
    return out


def test_an_import_and_a_member_add_of_many_files_are_read_by_age(
        tmp_path: Path, alice: Member, vault_dir: Path) -> None:
    values, _ = _import(alice, tmp_path, "many")
    _age_reads_all(alice.identity, vault_dir, values)
    before = _payloads(vault_dir, values)
    bob = make_member(tmp_path, "bob")
    alice.run("member", "add", "bob", bob.recipient)
    assert _payloads(vault_dir, values) == before  # re-keyed, half of them by the worker
    _age_reads_all(bob.identity, vault_dir, values)
    _age_reads_all(alice.identity, vault_dir, values)
    assert alice.run("check").returncode == 0
    assert git(vault_dir, "status", "--porcelain") == ""


def _killing_the_worker() -> dict[str, str]:
    # tests/e2e/faultinject: the worker SIGKILLs itself after its first write to the pipe.
    return {"PYTHONPATH": FAULTINJECT, "SECRETCTL_TEST_KILL_AT": "forked.worker-wrote"}


def _unchanged(root: Path, before: dict[str, bytes]) -> None:
    after = snapshot(root)
    assert after == before, sorted(set(after.items()) ^ set(before.items()))[:4]


def test_a_dead_worker_fails_member_add_with_the_vault_as_it_was(
        tmp_path: Path, alice: Member, vault_dir: Path) -> None:
    values, _ = _import(alice, tmp_path, "many")
    start = git(vault_dir, "rev-parse", "HEAD")
    before = snapshot(vault_dir)
    bob = make_member(tmp_path, "bob")
    proc = alice.run("member", "add", "bob", bob.recipient, env=_killing_the_worker(), check=False)
    assert proc.returncode == 1, proc.stderr.decode()
    assert b"worker process ended abnormally" in proc.stderr and b"nothing was written" in proc.stderr
    assert git(vault_dir, "rev-parse", "HEAD") == start
    _unchanged(vault_dir, before)
    assert alice.run("check").returncode == 0
    alice.run("member", "add", "bob", bob.recipient)  # and the next try works
    _age_reads_all(bob.identity, vault_dir, values)


def test_a_dead_worker_fails_an_import_with_the_vault_as_it_was(
        tmp_path: Path, alice: Member, vault_dir: Path) -> None:
    _import(alice, tmp_path, "first")
    start = git(vault_dir, "rev-parse", "HEAD")
    before = snapshot(vault_dir)
    _, proc = _import(alice, tmp_path, "second", env=_killing_the_worker(), check=False)
    assert proc.returncode == 1, proc.stderr.decode()
    assert b"worker process ended abnormally" in proc.stderr
    assert git(vault_dir, "rev-parse", "HEAD") == start
    _unchanged(vault_dir, before)
    assert alice.run("check").returncode == 0


def _running_in_group(pgid: int) -> list[int]:
    """Processes of process group ``pgid`` that still run (zombies left for init count as gone)."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            out.append(int(entry))
    return out


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads /proc")
def test_a_member_add_killed_while_its_worker_runs_leaves_no_worker(
        tmp_path: Path, alice: Member, vault_dir: Path) -> None:
    values, _ = _import(alice, tmp_path, "many")
    start = git(vault_dir, "rev-parse", "HEAD")
    bob = make_member(tmp_path, "bob")
    env = {**alice.env, "PYTHONPATH": FAULTINJECT, "SECRETCTL_TEST_KILL_AT": "forked.started"}
    proc = subprocess.Popen([SECRETCTL, "member", "add", "bob", bob.recipient], env=env, cwd=alice.home,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL, err.decode()
    deadline = time.monotonic() + 1
    while _running_in_group(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert _running_in_group(proc.pid) == []  # the worker (same process group) is gone too
    check = alice.run("check", check=False)
    assert check.returncode == 0, check.stderr.decode()
    assert b"rolled back" in check.stderr
    assert git(vault_dir, "rev-parse", "HEAD") == start
    _age_reads_all(alice.identity, vault_dir, dict(list(values.items())[:20]))


def test_a_member_remove_of_many_files_encrypts_afresh_on_two_cores(
        tmp_path: Path, alice: Member, vault_dir: Path) -> None:
    values, _ = _import(alice, tmp_path, "many")
    bob = make_member(tmp_path, "bob")
    alice.run("member", "add", "bob", bob.recipient)
    before = _payloads(vault_dir, values)
    alice.run("member", "remove", "bob", "-y")
    after = _payloads(vault_dir, values)
    assert all(after[k] != before[k] for k in values)  # fresh file keys, half of them from the worker
    _age_reads_all(alice.identity, vault_dir, values)
    assert AGE is not None
    for key in list(values)[::20]:
        out = subprocess.run([AGE, "-d", "-i", str(bob.identity), str(vault_dir / f"{key}.age")],
                             capture_output=True, check=False)
        assert out.returncode != 0 and values[key] not in out.stdout
    assert alice.run("check").returncode == 0


def test_a_dead_worker_fails_member_remove_with_the_vault_as_it_was(
        tmp_path: Path, alice: Member, vault_dir: Path) -> None:
    _import(alice, tmp_path, "many")
    bob = make_member(tmp_path, "bob")
    alice.run("member", "add", "bob", bob.recipient)
    start = git(vault_dir, "rev-parse", "HEAD")
    before = snapshot(vault_dir)
    proc = alice.run("member", "remove", "bob", "-y", env=_killing_the_worker(), check=False)
    assert proc.returncode == 1, proc.stderr.decode()
    assert b"worker process ended abnormally" in proc.stderr
    assert git(vault_dir, "rev-parse", "HEAD") == start
    _unchanged(vault_dir, before)
    assert alice.run("check").returncode == 0


def test_a_link_among_the_workers_files_is_refused_as_the_serial_path_refuses_it(
        tmp_path: Path, alice: Member, vault_dir: Path) -> None:
    # Attack: a committed `x.age` that is a symbolic link to a secret of another vault of yours,
    # placed among the files the forked worker reads itself (the last of the batch). The worker
    # refuses the link (O_NOFOLLOW); the parent then reads it again and fails the command with
    # the serial path's error, before anything is written.
    values, _ = _import(alice, tmp_path, "many")
    last = sorted(values)[-1]
    elsewhere = tmp_path / "other-vault" / "db.age"
    elsewhere.parent.mkdir()
    elsewhere.write_bytes((vault_dir / f"{last}.age").read_bytes())
    (vault_dir / f"{last}.age").unlink()
    os.symlink(elsewhere, vault_dir / f"{last}.age")
    git(vault_dir, "add", f"{last}.age")
    git(vault_dir, "commit", "-qm", "planted")
    before = snapshot(vault_dir)
    outside = elsewhere.read_bytes()
    bob = make_member(tmp_path, "bob")
    proc = alice.run("member", "add", "bob", bob.recipient, check=False)
    assert proc.returncode != 0
    assert f"{last}.age: is a symbolic link".encode() in proc.stderr
    _unchanged(vault_dir, before)
    assert elsewhere.read_bytes() == outside


def test_an_import_over_many_secrets_keeps_their_history_in_the_workers_part_too(
        tmp_path: Path, alice: Member, vault_dir: Path) -> None:
    # The worker builds and renders the sidecars of its part of an import: an overwrite keeps
    # each secret's creation and takes the new tags, in the worker's part as in the parent's.
    values, _ = _import(alice, tmp_path, "many")
    created = {k: _field(vault_dir, k, "created") for k in values}
    again = {k: f"{k}-second".encode() for k in values}
    src = tmp_path / "again.json"
    src.write_text(json.dumps({k: v.decode() for k, v in again.items()}))
    alice.run("import", str(src), "--on-conflict", "overwrite", "--tags", "rotated")
    _age_reads_all(alice.identity, vault_dir, again)
    for k in values:
        assert _field(vault_dir, k, "created") == created[k], k
        assert "rotated" in (vault_dir / f"{k}.meta.yaml").read_text(), k
    assert alice.run("check").returncode == 0


def _field(root: Path, key: str, name: str) -> str:
    for line in (root / f"{key}.meta.yaml").read_text().splitlines():
        if line.startswith(f"{name}:"):
            return line
    raise AssertionError(f"{key}: no {name}")
