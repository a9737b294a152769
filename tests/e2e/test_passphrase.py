"""The master password: at least 8 characters, changed with `identity passwd`, asked again after
a typo on a terminal (3 tries), and the test suite's cheap scrypt is impossible outside tests."""

from __future__ import annotations

import os
import pty
import select
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO, SECRETCTL, Member
from tests.e2e.test_unlock import PASSWORD, VALUE, agent_status, carol, stop_agent  # noqa: F401 - carol: fixture
from tests.weak_scrypt import TEST_LOG2_N, work_factor

# rage picks the work factor that costs about a second here (2^18-2^20); 2^16 is a floor with
# room for a loaded machine, and far above the suite's 2^10.
REAL_LOG2_N_FLOOR = 18  # secretctl.infra.agerekey.SCRYPT_FLOOR: age's own, never less (rage alone wrote 15 when busy)


def test_identity_new_refuses_a_password_under_8_characters(tmp_path: Path) -> None:
    from tests.conftest import _base_env

    home = tmp_path / "dave"
    home.mkdir()
    env = {**_base_env(home), "SECRETCTL_PASSWORD": "seven77"}
    import subprocess

    out = subprocess.run([SECRETCTL, "identity", "new"], env=env, capture_output=True, input=b"")
    assert out.returncode == 2
    assert b"shorter than 8 characters" in out.stderr
    assert not (home / "config" / "identity.age").exists()


def test_identity_passwd_changes_the_password_and_keeps_the_key(carol: Member) -> None:  # noqa: F811
    ident = carol.identity
    pub_before = Path(f"{ident}.pub").read_bytes()
    short = carol.run("identity", "passwd", env={"SECRETCTL_PASSWORD": PASSWORD}, input=b"short\n", check=False)
    assert short.returncode == 2
    assert work_factor(ident.read_bytes()) == TEST_LOG2_N  # untouched
    wrong = carol.run("identity", "passwd", env={"SECRETCTL_PASSWORD": "not-the-password"},
                      input=b"whatever-long\n", check=False)
    assert wrong.returncode == 4
    assert work_factor(ident.read_bytes()) == TEST_LOG2_N  # untouched
    new = "a-New-Password-2027"
    out = carol.run("identity", "passwd", env={"SECRETCTL_PASSWORD": PASSWORD}, input=new.encode() + b"\n")
    assert b"password changed" in out.stderr
    assert new.encode() not in out.stdout + out.stderr
    assert Path(f"{ident}.pub").read_bytes() == pub_before
    assert (ident.stat().st_mode & 0o777) == 0o600
    # Written by the package: the real work factor, whatever the test environment holds.
    assert work_factor(ident.read_bytes()) >= REAL_LOG2_N_FLOOR
    assert carol.run("get", "app/token", env={"SECRETCTL_PASSWORD": new}).stdout == VALUE
    # The old password no longer opens it: the file has one stanza, a scrypt one, which the new
    # password opened. Trying the old one through `get` cost another second or two of real
    # scrypt; the wrong-password path is tested above.
    assert ident.read_bytes().split(b"\n---")[0].count(b"\n-> ") == 1


def test_identity_new_never_writes_a_weak_work_factor(tmp_path: Path) -> None:
    """The suite's cheap scrypt comes from tests/weak_scrypt.py alone: the installed command, run
    with the suite's whole environment, writes the real one, and no package module can reach the
    test writer (tests/ is not part of the distribution)."""
    import subprocess

    from tests.conftest import _base_env

    home = tmp_path / "erin"
    home.mkdir()
    env = {**os.environ, **_base_env(home), "SECRETCTL_PASSWORD": "long-enough-password"}
    subprocess.run([SECRETCTL, "identity", "new"], env=env, check=True, capture_output=True)
    assert work_factor((home / "config" / "identity.age").read_bytes()) >= REAL_LOG2_N_FLOOR
    for src in (REPO / "secretctl").rglob("*.py"):
        text = src.read_text()
        assert "weak_scrypt" not in text and "from tests" not in text, src
    assert 'include = ["secretctl*"]' in (REPO / "pyproject.toml").read_text()


# ------------------------------------------------------------------ terminal
class Terminal:
    """A real pseudo-terminal running the installed command (getpass reads /dev/tty)."""

    def __init__(self, env: dict[str, str], *args: str) -> None:
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: exec at once
            os.execve(SECRETCTL, [SECRETCTL, *args], env)  # noqa: S606 - the command under test, no shell
        self.seen = b""

    def expect(self, text: bytes, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.seen:
            left = deadline - time.monotonic()
            assert left > 0, f"never saw {text!r}; got {self.seen!r}"
            ready, _, _ = select.select([self.fd], [], [], left)
            if ready:
                try:
                    chunk = os.read(self.fd, 4096)
                except OSError:
                    chunk = b""
                assert chunk, f"exited before {text!r}; got {self.seen!r}"
                self.seen += chunk
        self.seen = self.seen.split(text, 1)[1]

    def send(self, line: str) -> None:
        os.write(self.fd, line.encode() + b"\n")

    def finish(self, timeout: float = 60) -> tuple[int, bytes]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.fd], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(self.fd, 4096)
                except OSError:
                    chunk = b""
                self.seen += chunk
                if not chunk:
                    break
        _, status = os.waitpid(self.pid, 0)
        os.close(self.fd)
        return os.waitstatus_to_exitcode(status), self.seen


@pytest.fixture
def tty_carol(carol: Member) -> Iterator[Member]:  # noqa: F811
    yield carol
    stop_agent(carol)


def test_a_wrong_password_on_a_terminal_asks_again(tty_carol: Member) -> None:
    t = Terminal(tty_carol.env, "get", "app/token")
    for _ in range(2):
        t.expect(b"password: ")
        t.send("not-it-at-all")
    t.expect(b"password: ")
    t.send(PASSWORD)
    code, out = t.finish()
    assert code == 0
    assert VALUE in out
    assert PASSWORD.encode() not in out  # getpass does not echo


def test_three_wrong_passwords_on_a_terminal_fail(tty_carol: Member) -> None:
    t = Terminal(tty_carol.env, "get", "app/token")
    for _ in range(3):
        t.expect(b"password: ")
        t.send("not-it-at-all")
    code, out = t.finish()
    assert code == 4
    assert b"wrong password" in out
    assert VALUE not in out


def test_unlock_on_a_terminal_asks_again_after_a_typo(tty_carol: Member) -> None:
    t = Terminal(tty_carol.env, "unlock")
    t.expect(b"password: ")
    t.send("a-typo-in-it")
    t.expect(b"try again")
    t.expect(b"password: ")
    t.send(PASSWORD)
    code, out = t.finish()
    assert code == 0, out
    assert agent_status(tty_carol) is not None
    assert tty_carol.run("get", "app/token").stdout == VALUE


@pytest.mark.parametrize(("command", "typed", "said"), [
    (["identity", "passwd"], ["", None], b"empty password"),
    (["identity", "passwd"], ["Zq7-x9", None], b"shorter than 8 characters"),
    (["identity", "passwd"], ["a-New-Password-2027", "a-New-Password-2O27"], b"the passwords do not match"),
    (["identity", "new", "--force"], ["", None], b"empty password"),
    (["identity", "new", "--force"], ["a-New-Password-2027", "another-one-entirely"], b"the passwords do not match"),
])
def test_a_new_password_typed_on_a_terminal_is_checked_and_confirmed(tty_carol: Member, command: list[str],
                                                                       typed: list[str | None], said: bytes) -> None:
    before = tty_carol.identity.read_bytes()
    env = {**tty_carol.env, "SECRETCTL_PASSWORD": PASSWORD} if command[1] == "passwd" else tty_carol.env
    t = Terminal(env, *command)
    for text in typed:
        if text is None:
            break
        t.expect(b"password: ")
        t.send(text)
    code, out = t.finish()
    assert code == 2, out
    assert said in out
    assert b"hint: " in out
    assert tty_carol.identity.read_bytes() == before  # nothing written
    for text in typed:
        assert not text or text.encode() not in out  # getpass does not echo, errors do not repeat it
