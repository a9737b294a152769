"""A crash leaves the old state or the new, never a third (issue 10 section 4).

Every mutating command is SIGKILLed, at named crash points (``core/faults.py``, armed only by
``tests/e2e/faultinject`` on PYTHONPATH) and after random delays, on a copy of one vault of a
few hundred secrets with a nested recipients file. Then the next command runs, and we check
what a user would: it says what it recovered; every committed value reads back exactly; each
file in HEAD is encrypted to exactly the recipients HEAD names for it; the work tree equals
HEAD; no temp file, journal or git lock is left; and the next mutation works.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from tests.conftest import SECRETCTL, Member, git, make_member

FAULTINJECT = str(Path(__file__).resolve().parent / "faultinject")
N_APP, N_PROD, N_IMPORT = 120, 40, 100


@dataclass
class World:
    alice: Member
    bob: Member
    carol: Member
    template: Path
    values: dict[str, bytes]
    keys: dict[str, tuple[object, ...]]  # member name -> pyrage identities


def seeded(seed: int) -> random.Random:
    return random.Random(seed)


def _value(rng: random.Random, tag: str, i: int) -> bytes:
    return f"{tag}-{i}-{rng.getrandbits(64):016x}".encode()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    from secretctl.infra import identity

    tmp = tmp_path_factory.mktemp("crash")
    alice, bob, carol = (make_member(tmp, n) for n in ("alice", "bob", "carol"))
    root = tmp / "template"
    alice.run("init", str(root), "--name", "alice")
    alice.env["SECRETCTL_VAULT"] = str(root)
    rng = seeded(10_4)
    values = {f"app/k{i:03d}": _value(rng, "app", i) for i in range(N_APP)}
    values |= {f"prod/db{i:02d}": _value(rng, "prod", i) for i in range(N_PROD)}
    src = tmp / "base.json"
    src.write_text(json.dumps({k: v.decode() for k, v in values.items()}))
    alice.run("import", str(src))
    # A nested recipients file: bob reads prod/ only.
    alice.run("member", "add", "bob", bob.recipient, "--path", "prod")
    alice.run("get", "app/k000")  # a pending access record, moved into alice's log by the next commit
    keys = {m.name: identity.load(m.identity, lambda: "").keys for m in (alice, bob, carol)}
    return World(alice, bob, carol, root, values, keys)


@pytest.fixture
def vault(world: World, tmp_path: Path) -> Path:
    root = tmp_path / "vault"
    shutil.copytree(world.template, root, symlinks=True)
    return root


def as_member(m: Member, root: Path) -> Member:
    return replace(m, env={**m.env, "SECRETCTL_VAULT": str(root)})


def crash(m: Member, *args: str, point: str | None = None, delay: float | None = None,
          input: bytes = b"", group: bool = False) -> subprocess.CompletedProcess[bytes]:
    """Run secretctl and SIGKILL it: at a named crash point, or after ``delay`` seconds (the whole
    process group with ``group``: git children die too)."""
    env = dict(m.env)
    if point is not None:
        env["PYTHONPATH"] = FAULTINJECT
        env["SECRETCTL_TEST_KILL_AT"] = point
    proc = subprocess.Popen([SECRETCTL, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env, cwd=m.home, start_new_session=True)
    if delay is not None:
        assert proc.stdin is not None
        proc.stdin.write(input)
        proc.stdin.close()
        time.sleep(delay)
        with _gone_ok():
            if group:
                os.killpg(proc.pid, signal.SIGKILL)
            else:
                proc.kill()
        out, err = proc.stdout.read(), proc.stderr.read()  # type: ignore[union-attr]
        proc.wait(timeout=60)
        return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    out, err = proc.communicate(input, timeout=120)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


class _gone_ok:
    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, exc: object, tb: object) -> bool:
        return isinstance(exc, ProcessLookupError)


# ------------------------------------------------------------------ invariants
def head_files(root: Path) -> dict[str, bytes]:
    """Every file in HEAD's tree, read from git objects."""
    listing = subprocess.run(["git", "ls-tree", "-r", "-z", "HEAD"], cwd=root, capture_output=True,
                             check=True).stdout
    entries = []
    for rec in listing.split(b"\0"):
        if rec:
            info, _, path = rec.partition(b"\t")
            entries.append((info.split()[2].decode(), path.decode()))
    batch = subprocess.run(["git", "cat-file", "--batch"], cwd=root, capture_output=True, check=True,
                           input="".join(f"{sha}\n" for sha, _ in entries).encode()).stdout
    out, pos = {}, 0
    for _, path in entries:
        header_end = batch.index(b"\n", pos)
        size = int(batch[pos:header_end].split()[2])
        out[path] = batch[header_end + 1 : header_end + 1 + size]
        pos = header_end + 1 + size + 1
    return out


def governing(files: Mapping[str, bytes], key: str) -> str:
    parts = key.split("/")[:-1]
    while True:
        cand = "/".join([*parts, ".age-recipients"])
        if cand in files:
            return cand
        parts.pop()


def leftovers(root: Path) -> list[str]:
    """Temp files, a journal or git locks a crash could leave behind."""
    found = [p.relative_to(root).as_posix() for p in root.rglob("*") if ".tmp-" in p.name]
    gitdir = root / ".git"
    found += [p.relative_to(root).as_posix() for p in (gitdir / "secretctl").glob("journal*")]
    found += [p.relative_to(root).as_posix() for p in gitdir.rglob("*.lock") if p.name != "secretctl.lock"]
    return found


def unsealed_status(root: Path) -> list[str]:
    """`git status` lines: the work tree must equal HEAD. The one exception is an access log
    holding records already moved out of the pending log (final, never rolled back), which
    `.git/secretctl/audit-sealed` names for the next commit to carry."""
    marker = root / ".git" / "secretctl" / "audit-sealed"
    sealed = set(marker.read_text().split()) if marker.exists() else set()
    status = git(root, "status", "--porcelain", "--untracked-files=all", "--ignored").splitlines()
    return [line for line in status if line[3:] not in sealed]


def assert_invariants(world: World, root: Path, expected: Mapping[str, bytes]) -> None:
    import pyrage

    from secretctl.core import agefile
    from secretctl.core.meta import parse_meta
    from secretctl.core.recipients import parse_recipients_file

    assert unsealed_status(root) == []
    assert leftovers(root) == []
    files = head_files(root)
    secrets = {p[: -len(".age")]: data for p, data in files.items() if p.endswith(".age")}
    assert sorted(secrets) == sorted(expected)
    members = {m.recipient: m.name for m in (world.alice, world.bob, world.carol)}
    for key, data in secrets.items():
        rfile = parse_recipients_file(files[governing(files, key)], source=key)
        named = {members[r.text] for r in rfile.recipients}
        assert agefile.parse_header(data, source=key).recipient_stanza_count() == len(named), key
        readers = set()
        for name, ids in world.keys.items():  # each member's decryption once (a quarter of this file's CPU)
            try:
                plain = pyrage.decrypt(data, list(ids))
            except pyrage.DecryptError:
                continue
            assert plain == expected[key], (key, name)
            readers.add(name)
        assert "alice" in readers and readers == named, key
        meta = parse_meta(files[f"{key}.meta.yaml"], source=key)
        assert meta.recipients_fingerprint == rfile.fingerprint(), key


def next_command_works(m: Member, root: Path) -> None:
    m.run("set", "probe/after-crash", input=b"probe-value")
    assert m.run("get", "probe/after-crash").stdout == b"probe-value"
    assert git(root, "status", "--porcelain", "--untracked-files=all") == ""


def recovered_line(stderr: bytes, op: str) -> str:
    lines = [ln for ln in stderr.decode().splitlines() if ln.startswith(f"secretctl: recovered an interrupted '{op}'")]
    assert len(lines) == 1, stderr.decode()
    return lines[0]


def head(root: Path) -> str:
    return git(root, "rev-parse", "HEAD").strip()


def settle_and_check(world: World, m: Member, root: Path, op: str, start: str,
                     before: Mapping[str, bytes], after: Mapping[str, bytes], *, killed_at_point: bool,
                     stale_before: bool = False) -> None:
    """The next command (`check`, a read) recovers; then every invariant holds. ``stale_before``:
    the starting state needed a re-encryption (check says so until it is done)."""
    proc = m.run("check", check=False)
    moved = head(root) != start
    assert proc.returncode == (1 if stale_before and not moved else 0), proc.stderr.decode()
    if killed_at_point:
        line = recovered_line(proc.stderr, op)
        assert (f"completed as {head(root)[:7]}" in line) if moved else (f"rolled back to {start[:7]}" in line)
    if stale_before and not moved:
        m.run("reencrypt")
    assert_invariants(world, root, after if moved else before)
    next_command_works(m, root)


# ----------------------------------------------------------------- the commands
IMPORT_POINTS = ["journal.written", "store.batch-writing@2", "git.staged", "git.commit-created",
                 "mutation.committed"]


def _import_file(tmp_path: Path) -> tuple[Path, dict[str, bytes]]:
    rng = seeded(7)
    new = {f"imp/n{i:03d}": _value(rng, "imp", i) for i in range(N_IMPORT)}
    new["app/k001"] = b"overwritten-by-import"  # an existing key, with --on-conflict overwrite
    f = tmp_path / "new.json"
    f.write_text(json.dumps({k: v.decode() for k, v in new.items()}))
    return f, new


@pytest.mark.parametrize("point", IMPORT_POINTS)
def test_a_killed_import_leaves_the_old_state_or_the_new(world: World, vault: Path, tmp_path: Path,
                                                         point: str) -> None:
    alice = as_member(world.alice, vault)
    src, new = _import_file(tmp_path)
    start = head(vault)
    proc = crash(alice, "import", str(src), "--on-conflict", "overwrite", point=point)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()
    settle_and_check(world, alice, vault, "import", start, world.values, world.values | new, killed_at_point=True)


def test_an_import_killed_at_random_moments(world: World, tmp_path: Path) -> None:
    rng = seeded(int(os.environ.get("CRASH_SEED", "1")))
    src, new = _import_file(tmp_path)
    for n in range(2):
        root = tmp_path / f"v{n}"
        shutil.copytree(world.template, root, symlinks=True)
        alice = as_member(world.alice, root)
        start = head(root)
        delay = rng.uniform(0.2, 1.2)
        # The second time the whole process group dies: git children too, mid-write.
        crash(alice, "import", str(src), "--on-conflict", "overwrite", delay=delay, group=n == 1)
        settle_and_check(world, alice, root, "import", start, world.values, world.values | new,
                         killed_at_point=False)


@pytest.mark.parametrize("point", ["members.recipients-written", "store.batch-writing@3", "mutation.committed"])
def test_a_killed_member_add_then_the_suggested_reencrypt(world: World, vault: Path, point: str) -> None:
    alice = as_member(world.alice, vault)
    start = head(vault)
    proc = crash(alice, "member", "add", "carol", world.carol.recipient, point=point)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()
    settle_and_check(world, alice, vault, "member-add", start, world.values, world.values, killed_at_point=True)
    # What the issue saw: HEAD's recipients without carol while every file was encrypted to her.
    alice.run("reencrypt")
    assert_invariants(world, vault, world.values | {"probe/after-crash": b"probe-value"})


def test_a_member_add_killed_while_rewriting_files_in_place_is_rolled_back_even_if_a_file_was_torn(
        world: World, vault: Path) -> None:
    # Bulk writes rewrite each file in its own inode (no temp file): a kill, or a power loss,
    # between two of those writes leaves some files new and possibly one torn. Recovery makes
    # every file the journal names what HEAD has.
    alice = as_member(world.alice, vault)
    start = head(vault)
    proc = crash(alice, "member", "add", "carol", world.carol.recipient, point="store.batch-writing")
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()
    torn = vault / "app" / "k001.age"
    data = torn.read_bytes()
    torn.write_bytes(data[: len(data) // 2])  # what a power loss mid-write can leave
    settle_and_check(world, alice, vault, "member-add", start, world.values, world.values, killed_at_point=True)
    assert torn.read_bytes() != data[: len(data) // 2]


@pytest.mark.parametrize("point", ["store.batch-temps-written", "git.commit-created"])
def test_a_killed_member_remove(world: World, vault: Path, point: str) -> None:
    alice = as_member(world.alice, vault)
    start = head(vault)
    proc = crash(alice, "member", "remove", "bob", "-y", point=point)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()
    settle_and_check(world, alice, vault, "member-remove", start, world.values, world.values, killed_at_point=True)


def _stale_vault(world: World, root: Path) -> Member:
    """carol's recipient added to the root file by hand (as a teammate might): app/* is stale."""
    alice = as_member(world.alice, root)
    with (root / ".age-recipients").open("a") as fh:
        fh.write(f"# carol\n{world.carol.recipient}\n")
    git(root, "commit", "-qam", "carol, by hand", env=alice.env)
    return alice


@pytest.mark.parametrize("point", ["store.batch-writing@2", "mutation.committed"])
def test_a_killed_reencrypt(world: World, vault: Path, point: str) -> None:
    alice = _stale_vault(world, vault)
    start = head(vault)
    proc = crash(alice, "reencrypt", point=point)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()
    assert alice.run("get", "app/k002").stdout == world.values["app/k002"]  # the next command: a read
    if head(vault) == start:
        # Rolled back: still stale, as HEAD says; `check` says so and the re-run fixes it.
        assert alice.run("check", check=False).returncode == 1
        alice.run("reencrypt")
    assert_invariants(world, vault, world.values)
    next_command_works(alice, vault)


def test_member_changes_killed_at_random_moments(world: World, tmp_path: Path) -> None:
    rng = seeded(int(os.environ.get("CRASH_SEED", "2")))
    for n, args in enumerate([("member", "add", "carol", world.carol.recipient), ("member", "remove", "bob", "-y"),
                              ("reencrypt",)]):
        root = tmp_path / f"v{n}"
        shutil.copytree(world.template, root, symlinks=True)
        alice = _stale_vault(world, root) if args == ("reencrypt",) else as_member(world.alice, root)
        start = head(root)
        crash(alice, *args, delay=rng.uniform(0.2, 1.0))
        settle_and_check(world, alice, root, args[0], start, world.values, world.values, killed_at_point=False,
                         stale_before=args == ("reencrypt",))


SET_POINTS = ["store.file-written@1", "audit.flushed", "git.staged", "git.commit-created", "mutation.committed"]


@pytest.mark.parametrize("point", SET_POINTS)
def test_a_killed_set(world: World, vault: Path, point: str) -> None:
    alice = as_member(world.alice, vault)
    start = head(vault)
    proc = crash(alice, "set", "app/k003", input=b"the-new-value", point=point)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()
    settle_and_check(world, alice, vault, "set", start, world.values,
                     world.values | {"app/k003": b"the-new-value"}, killed_at_point=True)


def test_a_set_killed_between_each_temp_file_and_its_rename(world: World, tmp_path: Path) -> None:
    """Every atomic write of a set that also moves access records into the member's log
    (.secretctl/audit/alice.jsonl): a kill after the temp file is written, before the rename,
    leaves the old state, and `check` finds no temp file (the access log's was left behind)."""
    after = world.values | {"app/k003": b"the-new-value"}
    killed = 0
    for n in range(1, 12):
        root = tmp_path / f"v{n}"
        shutil.copytree(world.template, root, symlinks=True)
        alice = as_member(world.alice, root)
        alice.run("get", "app/k001")  # an access record to move into the member's log
        start = head(root)
        proc = crash(alice, "set", "app/k003", input=b"the-new-value", point=f"store.temp-written@{n}")
        if proc.returncode == 0:
            break  # fewer atomic writes than n: every one was interrupted once
        assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()
        killed += 1
        settle_and_check(world, alice, root, "set", start, world.values, after, killed_at_point=True)
        assert not [p for p in root.rglob("*.tmp-*") if ".git" not in p.parts]
    assert killed >= 2  # the secret's files and the access log at least


@pytest.mark.parametrize("point", ["store.file-written@2", "git.staged"])
def test_a_killed_mv(world: World, vault: Path, point: str) -> None:
    alice = as_member(world.alice, vault)
    start = head(vault)
    proc = crash(alice, "mv", "app/k004", "moved/k004", point=point)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()
    after = {k: v for k, v in world.values.items() if k != "app/k004"} | {"moved/k004": world.values["app/k004"]}
    settle_and_check(world, alice, vault, "move", start, world.values, after, killed_at_point=True)
    assert not (vault / "moved").exists() or head(vault) != start


@pytest.mark.parametrize("point", ["journal.written", "git.staged"])
def test_a_killed_delete(world: World, vault: Path, point: str) -> None:
    alice = as_member(world.alice, vault)
    start = head(vault)
    proc = crash(alice, "rm", "-y", "app/k005", point=point)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()
    after = {k: v for k, v in world.values.items() if k != "app/k005"}
    settle_and_check(world, alice, vault, "delete", start, world.values, after, killed_at_point=True)


# -------------------------------------------------------- what the issue saw, exactly
def test_a_killed_import_is_not_committed_by_the_next_unrelated_set(world: World, vault: Path,
                                                                    tmp_path: Path) -> None:
    alice = as_member(world.alice, vault)
    src, _ = _import_file(tmp_path)
    assert crash(alice, "import", str(src), "--on-conflict", "overwrite", point="git.staged").returncode < 0
    proc = alice.run("set", "other/key", input=b"unrelated")
    assert "recovered an interrupted 'import' (rolled back to" in proc.stderr.decode()
    changed = git(vault, "show", "--name-only", "--format=", "HEAD").split()
    assert sorted(changed) == [".secretctl/audit/alice.jsonl", "other/key.age", "other/key.meta.yaml"]


def test_a_crash_loses_and_duplicates_no_access_record(world: World, vault: Path) -> None:
    alice = as_member(world.alice, vault)
    for key in ("app/k010", "app/k011"):
        alice.run("get", key)

    def logged() -> list[str]:
        log = head_files(vault).get(".secretctl/audit/alice.jsonl", b"")
        return [json.loads(line)["keys"][0] for line in log.splitlines()]

    before = logged()
    # Killed before its commit: the records stay pending; the next commit logs them once.
    assert crash(alice, "set", "app/k012", input=b"v2", point="git.staged").returncode < 0
    alice.run("set", "app/k013", input=b"v3")
    assert logged() == [*before, "app/k000", "app/k010", "app/k011"]
    alice.run("get", "app/k014")
    # Killed after its commit: the records are in HEAD's log once, and no longer pending.
    assert crash(alice, "set", "app/k015", input=b"v5", point="mutation.committed").returncode < 0
    alice.run("set", "app/k016", input=b"v6")
    assert logged() == [*before, "app/k000", "app/k010", "app/k011", "app/k014"]


# ------------------------------------------------------------------ git locks
def test_a_stale_index_lock_is_removed_and_said(world: World, vault: Path) -> None:
    alice = as_member(world.alice, vault)
    lock = vault / ".git" / "index.lock"
    lock.write_bytes(b"")
    os.utime(lock, (time.time() - 5, time.time() - 5))
    proc = alice.run("set", "app/k020", input=b"after-a-stale-lock")
    assert "removed the stale git lock .git/index.lock" in proc.stderr.decode()
    assert not lock.exists()
    assert alice.run("get", "app/k020").stdout == b"after-a-stale-lock"


def test_a_lock_held_by_a_live_git_is_left_alone_with_a_clear_hint(world: World, vault: Path) -> None:
    alice = as_member(world.alice, vault)
    (vault / "README.md").write_text("edited by hand\n")
    # `git commit -a` holds index.lock while the editor is open: here an editor that sleeps.
    editor = subprocess.Popen(["git", "commit", "-a"], cwd=vault, env={**alice.env, "GIT_EDITOR": "sleep 30; true"},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 10
        while not (vault / ".git" / "index.lock").exists():
            assert time.monotonic() < deadline
            time.sleep(0.02)
        time.sleep(0.6)  # older than the grace period: only the live process protects it
        t0 = time.monotonic()
        proc = alice.run("set", "app/k021", input=b"blocked", check=False)
        assert proc.returncode == 7
        err = proc.stderr.decode()
        assert "another git process holds" in err and "hint:" in err and len(err.splitlines()) == 2, err
        assert (vault / ".git" / "index.lock").exists()
        assert time.monotonic() - t0 < 20
    finally:
        os.killpg(editor.pid, signal.SIGKILL)
        editor.wait()
    (vault / ".git" / "index.lock").unlink(missing_ok=True)
    git(vault, "checkout", "-q", "HEAD", "--", "README.md")
    # The failed set changed nothing: old value, clean tree (but for access records sealed for
    # the next commit).
    assert alice.run("get", "app/k021").stdout == world.values["app/k021"]
    assert unsealed_status(vault) == []


# ------------------------------------------------------------- the test hook
def test_the_kill_hook_is_inert_in_a_normal_install(world: World, vault: Path) -> None:
    alice = as_member(world.alice, vault)
    # The variable alone (no test folder on PYTHONPATH) does nothing: the set completes.
    proc = alice.run("set", "app/k030", input=b"not-killed", env={"SECRETCTL_TEST_KILL_AT": "journal.written"})
    assert proc.returncode == 0
    assert alice.run("get", "app/k030").stdout == b"not-killed"
    # And no module of the package reads it or arms the hook.
    package = Path(__file__).resolve().parents[2] / "secretctl"
    for path in package.rglob("*.py"):
        text = path.read_text()
        assert "SECRETCTL_TEST_KILL_AT" not in text, path
        assert "_hook =" not in text or path.name == "faults.py", path


# ------------------------------------------------------------------ check
def test_check_reports_every_difference_from_head(world: World, vault: Path) -> None:
    alice = as_member(world.alice, vault)
    (vault / "app/k040.meta.yaml").write_text((vault / "app/k040.meta.yaml").read_text() + "# edited\n")
    (vault / "app/k041.age").unlink()
    (vault / "app/.k042.age.tmp-1-2-3").write_bytes(b"x")
    (vault / "app/k043.age").write_bytes((vault / "app/k044.age").read_bytes())
    git(vault, "add", "app/k043.age")
    (vault / "new").mkdir()
    (vault / "new/extra.age").write_bytes((vault / "app/k045.age").read_bytes())
    proc = alice.run("check", "--no-decrypt", "--json", check=False)
    assert proc.returncode == 1
    problems = {p["path"]: p["message"] for p in json.loads(proc.stdout)["problems"]}
    assert "changed" in problems["app/k040.meta.yaml"] or "modified" in problems["app/k040.meta.yaml"]
    assert "deleted" in problems["app/k041.age"]
    assert "temp file" in problems["app/.k042.age.tmp-1-2-3"]
    assert "staged" in problems["app/k043.age"]
    assert "untracked" in problems["new/extra.age"]


def test_check_reports_a_journal_it_could_not_recover(world: World, vault: Path) -> None:
    alice = as_member(world.alice, vault)
    journal = vault / ".git" / "secretctl" / "journal"
    journal.write_bytes(b'{"v": 1, "op": "set", "head": null, "pid": 1, "started": "x"}\n{"paths": ["../x.age"]}\n')
    proc = alice.run("check", "--no-decrypt", check=False)
    assert proc.returncode == 1
    assert "journal" in proc.stderr.decode() + proc.stdout.decode()
    assert journal.exists()  # a damaged journal is never guessed at
    assert (vault / "app/k000.age").exists()


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A 6 MiB tmpfs: a disk that can be filled (root only)."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("needs root to mount a tmpfs")
    mnt = tmp_path / "small"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(mnt)]).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def _fill(mnt: Path, leave: int) -> Path:
    st = os.statvfs(mnt)
    free = st.f_bavail * st.f_frsize
    filler = mnt / "filler"
    with filler.open("wb") as fh:
        fh.write(b"\0" * max(0, free - leave))
    return filler


def test_a_set_on_a_full_disk_leaves_the_old_state_and_one_line(world: World, small_fs: Path,
                                                               tmp_path: Path) -> None:
    root = small_fs / "vault"
    alice = as_member(world.alice, root)
    alice.run("init", str(root), "--name", "alice")
    alice.run("set", "big", input=b"old-value")
    start = head(root)
    value = seeded(3).randbytes(400 * 1024)
    (tmp_path / "big.bin").write_bytes(value)
    # Room for the new file, not for git's copy of it too.
    filler = _fill(small_fs, leave=600 * 1024)
    proc = alice.run("set", "big", "--from-file", str(tmp_path / "big.bin"), check=False)
    assert proc.returncode != 0
    err = proc.stderr.decode()
    assert err.startswith("secretctl: error: ") and "internal error" not in err, err
    assert len([ln for ln in err.splitlines() if ln.startswith("secretctl: error:")]) == 1
    assert head(root) == start
    assert alice.run("get", "big").stdout == b"old-value"
    assert git(root, "status", "--porcelain", "--untracked-files=all") == ""
    assert leftovers(root) == []
    filler.unlink()
    alice.run("set", "big", "--from-file", str(tmp_path / "big.bin"))
    assert alice.run("get", "big").stdout == value


def test_a_read_only_vault_with_an_interrupted_set_is_still_readable(world: World, small_fs: Path) -> None:
    root = small_fs / "vault"
    alice = as_member(world.alice, root)
    alice.run("init", str(root), "--name", "alice")
    alice.run("set", "k", input=b"old-value")
    assert crash(alice, "set", "k", input=b"new-value", point="git.staged").returncode < 0
    subprocess.run(["mount", "-o", "remount,ro", str(small_fs)], check=True)
    try:
        proc = alice.run("get", "k", "--masked", check=False)
        assert proc.returncode == 0, proc.stderr.decode()
        assert "an interrupted command could not be recovered" in proc.stderr.decode()
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(small_fs)], check=True)
    proc = alice.run("get", "k")
    assert proc.stdout == b"old-value"
    assert "recovered an interrupted 'set' (rolled back to" in proc.stderr.decode()


def test_a_vault_in_a_git_worktree_recovers_in_its_own_git_dir(world: World, vault: Path, tmp_path: Path) -> None:
    wt = tmp_path / "side"
    git(vault, "worktree", "add", "-q", "-b", "side", str(wt))
    alice = as_member(world.alice, wt)
    start = head(wt)
    assert crash(alice, "set", "app/k050", input=b"new", point="git.staged").returncode < 0
    journal = vault / ".git" / "worktrees" / "side" / "secretctl" / "journal"
    assert journal.exists()  # where `git rev-parse --git-dir` points, not in the work tree
    proc = alice.run("get", "app/k050")
    assert proc.stdout == world.values["app/k050"]
    assert f"recovered an interrupted 'set' (rolled back to {start[:7]})" in proc.stderr.decode()
    assert not journal.exists()
    assert unsealed_status(wt) == []
    assert unsealed_status(vault) == []


def test_a_commit_made_by_hand_after_a_crash_is_not_taken_for_the_interrupted_one(world: World,
                                                                                    vault: Path) -> None:
    alice = as_member(world.alice, vault)

    def logged() -> list[str]:
        log = head_files(vault).get(".secretctl/audit/alice.jsonl", b"")
        return [json.loads(line)["keys"][0] for line in log.splitlines()]

    before = logged()
    alice.run("get", "app/k060")
    # Killed before its commit; then someone commits by hand before the next secretctl command.
    assert crash(alice, "set", "app/k061", input=b"lost", point="git.staged").returncode < 0
    # (--only with no path: an empty commit that leaves the interrupted command's staged files out)
    git(vault, "commit", "-q", "--allow-empty", "--only", "-m", "by hand", env=alice.env)
    proc = alice.run("get", "app/k061")
    assert proc.stdout == world.values["app/k061"]
    assert "its files reset to HEAD" in proc.stderr.decode()
    alice.run("set", "app/k062", input=b"v")
    # The records the interrupted set had copied stayed pending: logged once, by the next commit.
    assert logged() == [*before, "app/k000", "app/k060", "app/k061"]
    # Landed, then a commit by hand on top: still recognised as complete.
    alice.run("get", "app/k063")
    assert crash(alice, "set", "app/k064", input=b"kept", point="mutation.committed").returncode < 0
    landed = head(vault)
    git(vault, "commit", "-q", "--allow-empty", "-m", "by hand", env=alice.env)
    proc = alice.run("get", "app/k064")
    assert proc.stdout == b"kept"
    assert f"completed as {landed[:7]}" in proc.stderr.decode()
    alice.run("set", "app/k065", input=b"v")
    assert logged() == [*before, "app/k000", "app/k060", "app/k061", "app/k063", "app/k064"]
    assert_invariants(world, vault, world.values | {"app/k062": b"v", "app/k064": b"kept", "app/k065": b"v"})


def test_an_import_on_a_full_disk_rolls_back_and_leaves_no_journal(world: World, small_fs: Path,
                                                                   tmp_path: Path) -> None:
    """Bulk writes rewrite existing files in place and create new ones: on a full disk the undo
    must not need room of its own (it removes the new files first, then rewrites in place)."""
    root = small_fs / "vault"
    alice = as_member(world.alice, root)
    alice.run("init", str(root), "--name", "alice")
    old = {f"K{i}": f"old-value-{i}" for i in range(5)}
    (tmp_path / "old.json").write_text(json.dumps(old))
    alice.run("import", str(tmp_path / "old.json"))
    start = head(root)
    rng = seeded(4)
    new = {**{k: rng.randbytes(60 * 1024).hex() for k in old}, **{f"N{i}": rng.randbytes(60 * 1024).hex()
                                                                  for i in range(20)}}
    (tmp_path / "new.json").write_text(json.dumps(new))
    filler = _fill(small_fs, leave=900 * 1024)  # room for part of the new files only
    proc = alice.run("import", str(tmp_path / "new.json"), "--on-conflict", "overwrite", check=False)
    assert proc.returncode != 0
    err = proc.stderr.decode()
    assert err.startswith("secretctl: error: ") and "internal error" not in err, err
    assert head(root) == start
    assert not (root / ".git" / "secretctl" / "journal").exists(), err  # undone on the full disk
    assert git(root, "status", "--porcelain", "--untracked-files=all") == ""
    assert leftovers(root) == []
    filler.unlink()  # a `get` records its access: it needs a little room
    for k, v in old.items():
        assert alice.run("get", k).stdout == v.encode()


def test_a_read_waits_a_moment_for_a_killed_commands_git_child(world: World, vault: Path) -> None:
    """A killed command's git child may hold git's index lock for a moment after the kill: the
    next read (which never waits for a live secretctl) waits for it, then recovers. It used to
    skip recovery without a word while that git ran, and `check` then reported the vault dirty."""
    alice = as_member(world.alice, vault)
    start = head(vault)
    assert crash(alice, "set", "app/k050", input=b"new", point="git.staged").returncode < 0
    lock = vault / ".git" / "index.lock"
    lock.write_bytes(b"")
    orphan = subprocess.Popen(["git", "cat-file", "--batch"], cwd=vault, stdin=subprocess.PIPE,
                              stdout=subprocess.DEVNULL)  # a git working in the vault, as the orphan would

    def finish() -> None:
        time.sleep(0.5)
        lock.unlink()
        assert orphan.stdin is not None
        orphan.stdin.close()
        orphan.wait(10)

    ender = threading.Thread(target=finish)
    ender.start()
    try:
        proc = alice.run("get", "app/k050")
    finally:
        ender.join()
    assert proc.stdout == world.values["app/k050"]
    assert f"rolled back to {start[:7]}" in recovered_line(proc.stderr, "set")
