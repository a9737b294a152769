"""The Vault's state and its basics: where it is, who you are, which recipients govern a key.

The Vault is built in layers, one concern per module, each class extending the one below:
``base`` -> ``access`` (the access log) -> ``reading`` -> ``writing`` -> ``members`` -> ``health``
-> ``vault.Vault``. Every front end goes through ``vault.Vault``."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from pathlib import Path

from secretctl.core import keys as keys_mod
from secretctl.core import schema
from secretctl.core.recipients import (
    RECIPIENTS_FILE,
    RecipientsFile,
    parse_recipients_file,
)
from secretctl.errors import (
    ConflictError,
    NotFoundError,
    ReadOnlyError,
    SecretctlError,
    VaultCorruptError,
)
from secretctl.infra import identity as identity_mod
from secretctl.infra import settings, store
from secretctl.infra.clock import utcnow

TYPE_CHECKING = False  # typing costs every start ~3 ms to import: for mypy only

if TYPE_CHECKING:
    from typing import Self

    from secretctl.core.meta import Meta
    from secretctl.service.recovery import IntentLog
    from secretctl.service.trust import CommittedRecipients

CONFIG_DIR = ".secretctl"
CONFIG_FILE = f"{CONFIG_DIR}/config.yaml"
AUDIT_DIR = f"{CONFIG_DIR}/audit"
FORMAT_VERSION = 1
MAX_SECRET_BYTES = 64 * 1024 * 1024
MAX_CONFIG_BYTES = 64 * 1024
EXPIRY_WARNING = timedelta(days=7)
_SKIP_DIRS = {".git", CONFIG_DIR}
RECIPIENTS_PATHSPEC = ":(glob)**/.age-recipients"
SIDECAR_PATHSPEC = ":(glob)**/*.meta.yaml"
POLICY_PATHSPEC = ".secretctl/policy.yaml"

Clock = Callable[[], datetime]
_SIMPLE_CONFIG = re.compile(rb"(?:#[^\n]*\n)*version: ?([0-9]{1,6})\n?")

def find_vault_root(start: Path) -> Path | None:
    """The vault containing ``start``: the nearest directory with a secretctl config, or
    a passage-style store (a git repo with a root ``.age-recipients``)."""
    cur = start.resolve()
    for d in (cur, *cur.parents):
        if (d / CONFIG_FILE).is_file():
            return d
        if (d / RECIPIENTS_FILE).is_file() and (d / ".git").exists():
            return d
    return None


def locate(explicit: str | None, env: Mapping[str, str], cwd: Path) -> Path:
    """``--vault`` > ``SECRETCTL_VAULT`` > the vault containing cwd > the default vault."""

    if explicit:
        return Path(explicit).expanduser()
    if env.get(settings.ENV_VAULT):
        return Path(env[settings.ENV_VAULT]).expanduser()
    found = find_vault_root(cwd)
    if found is not None:
        return found
    return settings.default_vault_dir(env)


def being_rewritten(rel: str) -> ConflictError:
    """A read that met a file half-rewritten by a bulk write under its journal (exit 7, retry)."""
    return ConflictError(f"{rel} is being rewritten by another secretctl command", hint="retry when it has finished")


class VaultBase:
    """One open vault. Cheap to construct: nothing is read until needed."""

    def __init__(
        self,
        root: Path,
        *,
        identity_path: Path,
        password: identity_mod.PasswordSource,
        actor: str | None = None,
        clock: Clock = utcnow,
        agent_socket: Path | None = None,
        notify: Callable[[str], None] | None = None,
    ) -> None:
        self.root = root.resolve() if root.exists() else root
        self.identity_path = identity_path
        self._password = password
        self.agent_socket = agent_socket  # where a running unlock agent would listen (None: never ask one)
        self._actor = actor
        self.clock = clock
        self._identity: identity_mod.Unlocked | None = None
        self._recipients_cache: dict[str, tuple[str, RecipientsFile]] = {}
        self._committed: CommittedRecipients | None = None  # HEAD's recipients, per mutation
        self._log_key: bytes | None = None
        self._committed_meta_cache: tuple[str | None, dict[str, Meta | None]] = (None, {})
        # Recovery of an interrupted mutation reports itself in one line through ``notify`` (the
        # library never prints); the journal of the running mutation, if any (service/writing.py).
        self._notify = notify
        self._recovery_checked = False
        self._intent: IntentLog | None = None
        self._syncing: store.Syncing | None = None  # a bulk write's sync, running beside its commit
        self._keys_cache: list[str] | None = None

    # ----------------------------------------------------------------- basics
    def require(self) -> Self:
        if not self.root.is_dir():
            raise NotFoundError(f"no vault at {self.root}",
                                hint="create one with `secretctl init`, or pass --vault / set SECRETCTL_VAULT")
        if not (self.root / RECIPIENTS_FILE).is_file() and not (self.root / CONFIG_FILE).is_file():
            raise NotFoundError(f"{self.root} is not a secretctl vault",
                                hint="create one with `secretctl init`, or point --vault at your vault")
        if (self.root / CONFIG_FILE).is_file():
            self._check_config()
        if not self._recovery_checked:
            self._recover_before_reading()
        return self

    # --------------------------------------------------------------- recovery
    @property
    def git_dir(self) -> Path:
        """The vault's git directory (``.git``, or where a ``.git`` file points in a worktree)."""
        from secretctl.infra import gitrepo

        return gitrepo.git_dir(self.root)  # cached by gitrepo: no git spawned in a plain clone

    def _lock_path(self) -> Path:
        return self.git_dir / "secretctl.lock"

    ORPHAN_GIT_WAIT = 2.0  # seconds a read waits for a killed command's git children (rare: after a crash)

    def _recover_before_reading(self) -> None:
        """Any command, reads included, first finishes or undoes a mutation that was killed
        (service/recovery.py). A read never waits for a live secretctl: while one holds the vault
        lock its journal is not an interrupted one; on a read-only vault the read goes on and
        says why it could not recover."""
        from secretctl.infra import journal

        self._recovery_checked = True
        if not (self.root / ".git").exists():
            return
        gitdir = self.git_dir
        if not (journal.pending(gitdir) or os.path.lexists(gitdir / "index.lock")):
            return  # the common case: two stats
        try:
            with store.locked(self._lock_path(), timeout=0):
                try:
                    # Under our lock a journal is a killed command's: its git children (update-index,
                    # commit) may still be finishing, for a moment. Wait for them that long only then.
                    self._recover_locked(wait=self.ORPHAN_GIT_WAIT if journal.pending(gitdir) else 0.0)
                except ConflictError as exc:
                    # Under our lock no mutation is live: a git still running (a killed command's
                    # child, or one started by hand) holds its lock. Say so, as for any failure.
                    raise SecretctlError(exc.message) from None
        except ReadOnlyError as exc:  # a ConflictError too, but it is no live mutation: say so
            if journal.pending(gitdir):
                self._say(f"warning: an interrupted command could not be recovered ({exc.message}); "
                          "what you read may be its uncommitted state")
        except ConflictError:
            return  # the vault lock is held: a live mutation, nothing was interrupted
        except (OSError, SecretctlError) as exc:
            if journal.pending(gitdir):
                detail = exc.message if isinstance(exc, SecretctlError) else (exc.strerror or type(exc).__name__)
                self._say(f"warning: an interrupted command could not be recovered ({detail}); "
                          "what you read may be its uncommitted state")

    def _recover_locked(self, *, wait: float = 5.0) -> None:
        """Under the vault lock: finish or undo an interrupted mutation, clear dead git locks."""
        from secretctl.service import recovery

        done = recovery.recover(self.root, self.git_dir, wait=wait)
        if done is not None:
            self._keys_cache = None
            self._recipients_cache.clear()
            self._say(done.line())

    def _say(self, line: str) -> None:
        if self._notify is not None:
            self._notify(line)

    def _check_config(self) -> None:
        data = store.read_limited(self.root / CONFIG_FILE, MAX_CONFIG_BYTES, what="config")
        # The usual file is one line; reading it without importing yaml keeps `get` fast.
        simple = _SIMPLE_CONFIG.fullmatch(data)
        raw: object = {"version": int(simple.group(1))} if simple else _load_config_yaml(data)
        if not isinstance(raw, dict) or not isinstance(raw.get("version"), int):
            raise VaultCorruptError(f"{CONFIG_FILE}: missing format version")
        unknown = set(raw) - {"version", "name"}
        if unknown:
            raise VaultCorruptError(f"{CONFIG_FILE}: unknown field {sorted(unknown)[0]!r}")
        if raw["version"] > FORMAT_VERSION:
            raise VaultCorruptError(f"vault format {raw['version']} is newer than this secretctl supports",
                                    hint="upgrade secretctl")

    def path_of(self, key: str) -> Path:
        return self.root / keys_mod.secret_path(keys_mod.validate_key(key))

    def meta_path_of(self, key: str) -> Path:
        return self.root / keys_mod.meta_path(keys_mod.validate_key(key))

    def rel(self, p: Path) -> str:
        return p.relative_to(self.root).as_posix()

    # --------------------------------------------------------------- identity
    def unlock(self) -> identity_mod.Unlocked:
        """What decrypts: the unlock agent when one runs for this identity, else the identity
        file, opened with the password source (which may prompt)."""
        if self._identity is None:
            self._identity = self.agent_identity() or identity_mod.load(self.identity_path, self._password)
        return self._identity

    def check_unlocked(self) -> None:
        """Raise VaultLockedError when nothing could decrypt now: no password and no agent, or the
        agent this session used has gone (``secretctl lock``). Cheap: one status round trip."""
        from secretctl.infra import agentsock

        ident = self.unlock()
        if isinstance(ident, agentsock.AgentIdentity):
            ident.check_unlocked()

    def agent_identity(self) -> identity_mod.Unlocked | None:
        """The running unlock agent for this identity, or None (none runs, or none is asked)."""
        if self._identity is not None:
            return None if isinstance(self._identity, identity_mod.Identity) else self._identity
        if self.agent_socket is None:
            return None
        from secretctl.infra import agentsock

        try:
            self._identity = agentsock.AgentIdentity.open(self.agent_socket, self.identity_path,
                                                          identity_mod.pub_recipient(self.identity_path))
        except agentsock.AgentUnavailable:
            return None
        return self._identity

    def my_recipient(self) -> str | None:
        if self._identity is not None:
            return self._identity.recipient
        try:
            return identity_mod.public_recipient(self.identity_path)
        except SecretctlError:
            return None

    @property
    def actor(self) -> str:
        """Who is acting: SECRETCTL_ACTOR, else my member name in the root recipients, else git/OS user."""
        if self._actor:
            return self._actor
        mine = self.my_recipient()
        if mine:
            try:
                for r in self.recipients_file("").recipients:
                    if r.text == mine and r.name:
                        self._actor = r.name
                        return r.name
            except SecretctlError:
                pass
        self._actor = settings.get("USER") or "unknown"
        return self._actor

    def actor_trailer(self) -> str:
        mine = self.my_recipient()
        return f"{self.actor} <{mine}>" if mine else self.actor

    # ------------------------------------------------------------- recipients
    def recipients_file(self, reldir: str) -> RecipientsFile:
        path = self.root / reldir / RECIPIENTS_FILE
        data = store.read_limited(path, 256 * 1024, what="recipients file", display=self.rel(path))
        return parse_recipients_file(data, source=self.rel(path))

    def governing(self, key: str) -> tuple[str, RecipientsFile]:
        """(directory of the governing .age-recipients, its parsed content) for ``key``."""
        parts = key.split("/")[:-1]
        passed: list[str] = []  # folders without a file of their own: they get the answer cached too
        while True:
            reldir = "/".join(parts)
            found = self._recipients_cache.get(reldir)
            if found is None and os.path.isfile(os.path.join(self.root, reldir, RECIPIENTS_FILE)):
                found = (reldir, self.recipients_file(reldir))
                self._recipients_cache[reldir] = found
            if found is not None:
                # Bulk commands ask once per secret: without this, each asked the disk again.
                for folder in passed:
                    self._recipients_cache[folder] = found
                return found
            if not parts:
                raise VaultCorruptError("the vault has no .age-recipients file at its root",
                                        hint="add one: secretctl member add NAME RECIPIENT")
            passed.append(reldir)
            parts.pop()

    def encryption_recipients(self, key: str) -> tuple[str, RecipientsFile]:
        """The recipients ``key`` is encrypted to: HEAD's governing file, and only if the work tree
        agrees with HEAD on the way up (TamperedError otherwise; see service/trust.py)."""
        return self._trust().governing(key)

    def _trust(self) -> CommittedRecipients:
        if self._committed is None:
            from secretctl.service.trust import CommittedRecipients

            self._committed = CommittedRecipients(self.root)
        return self._committed

    def recipients_files(self) -> list[str]:
        """Directories (vault-relative, '' for the root) that hold a .age-recipients file."""
        out = []
        for dirpath, dirnames, filenames in os.walk(self.root):
            dirnames[:] = [d for d in dirnames if d not in _SKIP_DIRS]
            if RECIPIENTS_FILE in filenames:
                rel = Path(dirpath).relative_to(self.root).as_posix()
                out.append("" if rel == "." else rel)
        return sorted(out)


def _load_config_yaml(data: bytes) -> object:
    return schema.load(data, source=CONFIG_FILE)
