"""While the all-values redactor is still being built, read tools answer unsanitized metadata,
but never while the vault is locked (the build would find that out only later)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from secretctl.core.secret import Secret
from secretctl.errors import VaultLockedError
from secretctl.service.results import SetRequest
from secretctl.service.session import AgentSession
from secretctl.service.vault import Vault
from tests.weak_scrypt import encrypt_with_passphrase


@pytest.fixture
def held_build(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """The redactor build blocks until the test lets it go: the race is made certain, not likely."""
    release = threading.Event()
    real = AgentSession.values_redactor

    def slow(*args: object, **kwargs: object) -> object:
        release.wait(10)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(AgentSession, "values_redactor", staticmethod(slow))
    yield release
    release.set()


def _locked(vault: Vault) -> Vault:
    def no_password() -> str:
        raise VaultLockedError("vault locked: run `secretctl unlock`")

    return Vault(vault.root, identity_path=vault.identity_path.with_name("protected.txt"),
                 password=no_password, actor="alice")


def test_a_read_tool_during_the_build_says_locked_when_the_vault_is_locked(
        inproc: Vault, held_build: threading.Event) -> None:
    inproc.set("app/token", SetRequest(value=Secret(b"t" * 24)))
    protected = inproc.identity_path.with_name("protected.txt")
    # The same identity under a passphrase nobody can give (the MCP server cannot prompt).
    protected.write_bytes(encrypt_with_passphrase(inproc.identity_path.read_bytes(), "correct horse battery"))
    session = AgentSession(_locked(inproc))
    with pytest.raises(VaultLockedError):
        session.sanitize(session.secret_list())


def test_a_read_tool_during_the_build_answers_when_unlocked(inproc: Vault, held_build: threading.Event) -> None:
    inproc.set("app/token", SetRequest(value=Secret(b"t" * 24)))
    session = AgentSession(inproc)
    listed = session.sanitize(session.secret_list())
    assert [e["key"] for e in listed["secrets"]] == ["app/token"]
    assert not session.start_redactor().ready  # answered while the build was still held
