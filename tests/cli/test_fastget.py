"""`get` on the start-up fast path (cli/fastget.py, service/fastget.py), through the unlock agent or with an
unprotected identity file, prints, records and fails exactly as the normal path does; and it imports none of what
it exists to skip."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from secretctl.core.secret import Secret
from tests.conftest import SECRETCTL, Member, stock_once
from tests.e2e.test_unlock import VALUE, carol, stop_agent, unlock, unlocked_fixtures  # noqa: F401 - carol is a fixture


def _stock(carol: Member) -> None:  # noqa: F811 - a Member, not the fixture
    root = Path(carol.env["SECRETCTL_VAULT"])
    assert unlock(carol).returncode == 0
    carol.run("set", "app/soon", "--expires", "3d", input=b"soon-Value-123456")
    carol.run("set", "app/plain", input=b"plain-Value-1234\n")
    (root / "app" / "notes.meta.yaml").write_text("tags: []\n")  # a sidecar with no secret


unlocked, shared = unlocked_fixtures(_stock, "fastget")


def pending(root: Path) -> list[dict[str, object]]:
    path = root / ".git" / "secretctl" / "audit-pending.jsonl"
    recs = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    for r in recs:
        r.pop("ts")
    return recs


def both(m: Member, key: str, *, cwd: Path | None = None, env: dict[str, str] | None = None,
         vault: list[str] | None = None) -> tuple[tuple[int, bytes, bytes, list[object]], ...]:
    """(exit code, stdout, stderr, new access records) from the fast form and from `get -- KEY`,
    which the fast parser leaves to Typer, and so to the normal path."""
    root = Path(m.env["SECRETCTL_VAULT"])
    out = []
    for args in ([*(vault or []), "get", key], [*(vault or []), "get", "--", key]):
        before = len(pending(root))
        p = m.run(*args, check=False, cwd=cwd, env=env)
        out.append((p.returncode, p.stdout, p.stderr, pending(root)[before:]))
    return tuple(out)


@pytest.mark.parametrize("key", ["app/token", "app/plain", "app/soon", "app/missing", "app/notes", "bad//key",
                                 ".hidden", "app/token.age"])
def test_fast_and_normal_get_agree(shared: Member, key: str) -> None:
    fast, normal = both(shared, key)
    assert fast == normal


def test_fast_and_normal_agree_without_an_actor_and_from_the_vault_folder(unlocked: Member) -> None:
    root = Path(unlocked.env["SECRETCTL_VAULT"])
    env = {k: v for k, v in unlocked.env.items() if k not in ("SECRETCTL_ACTOR", "SECRETCTL_VAULT")}
    for cwd, vault in ((root / "app", None), (unlocked.home, ["--vault", str(root)])):
        fast, normal = both(unlocked, "app/token", cwd=cwd, env=None, vault=vault)
        assert fast == normal
        p = subprocess.run([SECRETCTL, *(vault or []), "get", "app/token"], env=env, cwd=cwd, capture_output=True)
        q = subprocess.run([SECRETCTL, *(vault or []), "get", "--", "app/token"], env=env, cwd=cwd,
                           capture_output=True)
        assert (p.returncode, p.stdout, p.stderr) == (q.returncode, q.stdout, q.stderr) == (0, VALUE, b"")
    recs = pending(root)
    assert recs[-1] == recs[-2] == {"action": "get", "actor": "carol", "keys": ["app/token"]}


def test_fast_and_normal_agree_when_the_agent_is_locked(unlocked: Member) -> None:
    unlocked.run("lock")
    fast, normal = both(unlocked, "app/token")
    assert fast == normal
    assert fast[0] == 4


def imported(m: Member, *args: str) -> tuple[bytes, set[str]]:
    code = ("import sys\nfrom secretctl.cli.main import main\nsys.argv = ['secretctl', *sys.argv[1:]]\n"
            "try:\n    main()\nfinally:\n    sys.stderr.write('\\nMODULES ' + ' '.join(sorted(sys.modules)) + '\\n')\n")
    p = subprocess.run([sys.executable, "-c", code, *args], env=m.env, capture_output=True, cwd=m.home)
    mods = p.stderr.decode().rsplit("MODULES ", 1)[1].split()
    return p.stdout, set(mods)


def test_the_fast_path_imports_nothing_heavy(unlocked: Member) -> None:
    out, mods = imported(unlocked, "get", "app/token")
    assert out == VALUE
    heavy = {m for m in mods if m.split(".")[0] in ("pyrage", "yaml", "typer", "click", "rich", "platformdirs",
                                                     "dataclasses", "hashlib")}
    heavy |= {m for m in mods if m.startswith(("secretctl.service", "secretctl.infra.crypto",
                                               "secretctl.infra.identity"))}
    heavy -= {"secretctl.service", "secretctl.service.fastget", "secretctl.service.pending"}
    assert heavy == set()
    # Each of these costs 2-12 ms of a start whose budget is 25 ms (bench_unlock.py).
    assert {"typing", "re", "pathlib", "json", "contextlib", "collections", "enum", "dataclasses"} & mods == set()
    _, normal = imported(unlocked, "get", "--", "app/token")
    assert "typer" in normal  # the comparison form really takes the other path


def test_a_protected_identity_without_an_agent_goes_the_normal_way(carol: Member) -> None:  # noqa: F811
    fast, normal = both(carol, "app/token")  # no password here: both fail, the same way
    assert fast == normal and fast[0] != 0
    _, mods = imported(carol, "get", "app/token")
    assert "typer" in mods or "secretctl.service.vault" in mods  # the fast path left it to the Vault


@pytest.fixture
def plain(alice: Member, vault_dir: Path) -> Member:
    """An unprotected identity and no agent."""
    def stock() -> None:
        alice.run("set", "app/token", input=VALUE)
        alice.run("set", "app/soon", "--expires", "3d", input=b"soon-Value-123456")
        alice.run("set", "app/plain", input=b"plain-Value-1234\n")
        (vault_dir / "app" / "notes.meta.yaml").write_text("tags: []\n")
        (vault_dir / "app" / "broken.age").write_bytes(b"age-encryption.org/v1\n-> X25519 AAAA\n\n--- x\n")
    stock_once("test_fastget.plain", alice, vault_dir, stock)
    return alice


@pytest.mark.parametrize("key", ["app/token", "app/plain", "app/soon", "app/missing", "app/notes", "app/broken",
                                 "bad//key", ".hidden", "app/token.age"])
def test_without_an_agent_fast_and_normal_get_agree(plain: Member, key: str) -> None:
    fast, normal = both(plain, key)
    assert fast == normal


def test_without_an_agent_the_fast_path_imports_nothing_heavy(plain: Member) -> None:
    out, mods = imported(plain, "get", "app/token")
    assert out == VALUE
    assert {"typer", "yaml", "platformdirs", "secretctl.service.vault", "typing", "re", "pathlib", "json",
            "dataclasses", "contextlib"} & mods == set()
    assert "pyrage" in mods  # it decrypted here, with the key file
    assert {"secretctl.infra.agentsock", "socket", "_socket"} & mods == set()  # no agent to ask: ~1.5 ms


def test_an_interrupted_command_is_recovered_first(plain: Member, vault_dir: Path) -> None:
    """A journal or a git index lock: the normal path (which recovers) reads, never the fast one."""
    for leftover in (vault_dir / ".git" / "index.lock", vault_dir / ".git" / "secretctl" / "journal"):
        leftover.parent.mkdir(exist_ok=True)
        leftover.write_bytes(b"")
        _, mods = imported(plain, "get", "app/token")
        assert "secretctl.service.vault" in mods, leftover
        leftover.unlink(missing_ok=True)


def test_a_key_file_its_pub_does_not_name_goes_the_normal_way(plain: Member) -> None:
    pub = Path(f"{plain.identity}.pub")
    pub.write_text("age1qyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqs3290gq\n")  # someone else's
    fast, normal = both(plain, "app/token")
    assert fast == normal
    _, mods = imported(plain, "get", "app/token")
    assert "secretctl.service.vault" in mods
    pub.unlink()
    fast, normal = both(plain, "app/token")
    assert fast == normal and fast[1] == VALUE


def test_constants_match_their_homes() -> None:
    from secretctl.core import keys, recipients
    from secretctl.service import base, fastget

    assert fastget.CONFIG_FILE == base.CONFIG_FILE
    assert fastget.RECIPIENTS_FILE == recipients.RECIPIENTS_FILE
    assert fastget.FORMAT_VERSION == base.FORMAT_VERSION
    assert fastget.MAX_SECRET_BYTES == base.MAX_SECRET_BYTES
    assert (fastget.SECRET_SUFFIX, fastget.META_SUFFIX) == (keys.SECRET_SUFFIX, keys.META_SUFFIX)
    assert fastget._RESERVED == keys._WINDOWS_RESERVED
    from secretctl.infra import crypto, identity, journal

    assert fastget.MAX_IDENTITY_BYTES == identity.MAX_IDENTITY_BYTES
    assert fastget.AGE_MAGIC == crypto.AGE_MAGIC
    assert Path(".git", *fastget.JOURNAL) == journal.journal_path(Path(".git"))


KEY_TEXT = st.text(alphabet="aZ09._-/cCoOnNlLpPtT1aAgGeE\u00e9 ", max_size=40)


@given(st.one_of(KEY_TEXT, st.sampled_from(["con", "a/CON.x", "lpt1", "com10", "a/.b", "x.AGE", "x.Meta.yaml",
                                            "a" * 101, "a/" * 16 + "b", "a" * 257, "x.age/y", "y/x.meta.yaml"])))
def test_a_plain_key_is_always_a_valid_key(key: str) -> None:
    from secretctl.core import keys
    from secretctl.errors import UsageError

    try:
        keys.validate_key(key)
        valid = True
    except UsageError:
        valid = False
    assert valid or not fastget_plain(key)


def fastget_plain(key: str) -> bool:
    from secretctl.service.fastget import plain_key

    return plain_key(key)


@pytest.mark.parametrize("key", ["app/token", "aws/secret_key", "a.b-c_d/E9", "x" * 100, "svc0/key5000",
                                 "console/x", "lpt10", "a/com0.txt"])
def test_everyday_keys_are_plain(key: str) -> None:
    assert fastget_plain(key)


@pytest.mark.parametrize(("text", "ok"), [
    (b"version: 1\n", True), (b"version: 1", True), (b"version:1\n", True), (b"# a\n#\nversion: 1\n", True),
    (b"version: 2\n", False), (b"version: 1\n\n", False), (b"version:  1\n", False), (b" version: 1\n", False),
    (b"version: 0000001\n", False), (b"version: 1\nname: x\n", False), (b"a\nversion: 1\n", False),
    (b"", False), (b"version: \n", False), (b"version: \xd9\xa1\n", False),
])
def test_the_config_is_read_as_the_pattern_it_replaced(tmp_path: Path, text: bytes, ok: bool) -> None:
    import re

    from secretctl.service.fastget import _config_ok

    (tmp_path / ".secretctl").mkdir()
    (tmp_path / ".secretctl" / "config.yaml").write_bytes(text)
    m = re.fullmatch(rb"(?:#[^\n]*\n)*version: ?([0-9]{1,6})\n?", text)
    assert (m is not None and int(m.group(1)) <= 1) == ok == _config_ok(str(tmp_path))


# ---------------------------------------------------------------- `list` (names) without the Vault
def test_list_names_are_the_vaults_names(inproc: Any) -> None:
    from secretctl.service.fastget import list_names
    from secretctl.service.results import SetRequest

    root = Path(inproc.root)
    for key in ("a/one", "a/b/two", "z", "CON_ok/x", "deep/" * 10 + "k"):
        inproc.set(key, SetRequest(value=Secret(b"v")))
    (root / "a" / ".hidden").mkdir()
    (root / "a" / ".hidden" / "h.age").write_bytes(b"x")
    (root / "dir.age").mkdir()
    (root / "dir.age" / "in.age").write_bytes(b"x")
    (root / "link").symlink_to(root / "a")
    (root / "bad name.age").write_bytes(b"x")
    (root / "nul.age").write_bytes(b"x")
    for pattern in (None, "a/*", "a/**", "**", "deep/**", "nope/*", "*"):
        assert list_names(str(root), pattern, {}) == inproc.list_keys(pattern), pattern


def test_a_names_only_list_never_imports_the_vault(plain: Member, vault_dir: Path) -> None:
    out, mods = imported(plain, "list")
    assert out == b"app/broken\napp/plain\napp/soon\napp/token\n"
    assert {"secretctl.service.vault", "yaml", "typer", "secretctl.cli.common"} & mods == set()
    (vault_dir / ".git" / "index.lock").write_bytes(b"")  # something to recover: the normal way
    out2, mods = imported(plain, "list")
    assert "secretctl.service.vault" in mods and out2 == out
