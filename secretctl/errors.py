"""The one exception hierarchy. Every anticipated failure is a SecretctlError.

Messages are one line, name the problem, and never contain a secret value; the
``hint`` says what to do about it. Only the two front ends (``cli`` and
``mcp_server``) catch everything, and they never print an unknown exception's
text (it might carry a value from a third-party library).

Exit codes (documented in docs/cli.md):

====  ===========================================================
0     success
1     a negative answer: ``exists`` found nothing, ``check`` found problems
2     bad input: usage, malformed key name, bad duration, bad file
3     not found: secret, field, member, vault, identity file
4     identity: wrong password, locked identity, not a recipient
5     policy: the command or its keys are not allowed
6     vault damaged or tampered: corrupt age file, sidecar or recipients file; an
      uncommitted recipients change; a planted program-running git config key
7     conflict: lock held, merge conflict, git failure
124   ``run``: the child exceeded its timeout (its process group was killed)
125   ``run``: secretctl failed before or while running the child
126   ``run``: the command exists but cannot be executed
127   ``run``: the command was not found
128+N ``run``: the child was killed by signal N
====  ===========================================================
"""

from __future__ import annotations


class SecretctlError(Exception):
    """Base of every anticipated error. ``str(err)`` is the one-line message."""

    exit_code: int = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        # One line, always: a newline in a message could forge a second line
        # of output (a fake "hint:") or split a log record.
        self.message = " ".join(message.split("\n"))
        self.hint = None if hint is None else " ".join(hint.split("\n"))
        super().__init__(self.message)


class UsageError(SecretctlError):
    """Bad input from the caller: arguments, key names, durations, files to import."""

    exit_code = 2


class NotFoundError(SecretctlError):
    """A named thing does not exist: secret, field, member, vault, identity."""

    exit_code = 3


class IdentityError(SecretctlError):
    """The identity cannot be used: missing, wrong password, not a recipient."""

    exit_code = 4


class WrongPasswordError(IdentityError):
    """The master password does not open the identity (a terminal asks again)."""


class VaultLockedError(IdentityError):
    """No unlock agent holds the identity and no password can be asked (the MCP server's tools
    answer this instead of exiting)."""


class PolicyError(SecretctlError):
    """The policy forbids this, or the policy itself is broken (fail closed)."""

    exit_code = 5


class VaultCorruptError(SecretctlError):
    """A file in the vault does not parse: age file, sidecar, recipients, config."""

    exit_code = 6


class TamperedError(VaultCorruptError):
    """Something that steers secretctl differs from what it trusts: an uncommitted change to a
    recipients file, or a git config key that runs a program and that secretctl did not set."""


class ConflictError(SecretctlError):
    """Concurrent or divergent state: a lock, a merge conflict, a git failure."""

    exit_code = 7


class RunError(SecretctlError):
    """``run`` failed around the child (spawn, I/O); not the child's own failure."""

    exit_code = 125


class ReadOnlyError(ConflictError):
    """A write was refused by the file system: a read-only mount, or files the user may not
    change. Nothing was changed (exit 7, as for a locked vault)."""
