"""`secretctl get KEY` before anything heavy is imported: through a running unlock agent, or
with an unprotected identity file.

`get` needs no yaml, Typer or Vault: find the vault, check the key, read the ``.age`` file, ask
the agent (no pyrage either) or decrypt with the key file (infra/crypto, as the normal path),
record the access. This module does exactly that, for the plain form only (no option), and only
on the common path. Anything unusual (a protected identity and no agent, a sidecar with an expiry
to warn about, a config file that needs YAML, a vault in a git worktree, an interrupted command
to recover, any error) answers None *before* anything is decrypted, and the caller runs the
normal path (Vault.reveal), which does what it always does. tests/cli/test_fastget.py compares
the two.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing, collections.abc and pathlib cost this path about 20 ms: for mypy only
    from collections.abc import Mapping
    from typing import Any

# Spelled out here, not imported: their modules import what this path exists to skip
# (tests/cli/test_fastget.py checks they match service/base.py, core/recipients.py and core/keys.py).
CONFIG_FILE = ".secretctl/config.yaml"
RECIPIENTS_FILE = ".age-recipients"
FORMAT_VERSION = 1
MAX_SECRET_BYTES = 64 * 1024 * 1024
MAX_IDENTITY_BYTES = 64 * 1024
JOURNAL = ("secretctl", "journal")  # infra/journal.journal_path, under .git
AGE_MAGIC = b"age-encryption.org/v1\n"
SECRET_SUFFIX = ".age"
META_SUFFIX = ".meta.yaml"
_KEY_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-")
_RESERVED = frozenset(["con", "prn", "aux", "nul"] + [f"{d}{i}" for d in ("com", "lpt") for i in range(1, 10)])


# service/conflicts.CONFLICTS, spelled here so the fast path does not import that module
# (tests/service/test_fastget_conflicts.py keeps the two equal).
CONFLICTS = ("secretctl", "conflicts.json")
NAME_CACHE = ("secretctl", "key-names")  # service/keywalk.walk_cached: folder listings, checked per call


def plain_key(key: str) -> bool:
    """A key name every rule of core.keys.validate_key accepts, checked without its regular
    expressions (importing re costs this path ~7 ms). Stricter, never looser: anything unusual
    answers False and goes the normal way (tests/cli/test_fastget.py checks that by property)."""
    if not 0 < len(key) <= 256 or key.count("/") >= 16:
        return False
    for seg in key.split("/"):
        low = seg.lower()
        if (not 0 < len(seg) <= 100 or seg[0] == "." or not _KEY_CHARS.issuperset(seg)
                or low.split(".")[0] in _RESERVED or low.endswith((SECRET_SUFFIX, META_SUFFIX))):
            return False
    return True


def _find_root(start: str) -> str | None:
    cur = os.path.realpath(start)
    while True:
        if os.path.isfile(os.path.join(cur, CONFIG_FILE)):
            return cur
        if os.path.isfile(os.path.join(cur, RECIPIENTS_FILE)) and os.path.exists(os.path.join(cur, ".git")):
            return cur
        parent = os.path.dirname(cur)
        if parent == cur:
            return None
        cur = parent


def vault_root(explicit: str | None, env: Mapping[str, str]) -> str | None:
    """As service.base.locate, but None where it would fall back to the default vault (rare:
    left to the normal path, which knows where platformdirs puts it)."""
    if explicit:
        root = os.path.expanduser(explicit)
    elif env.get("SECRETCTL_VAULT"):
        root = os.path.expanduser(env["SECRETCTL_VAULT"])
    else:
        root = _find_root(os.getcwd()) or ""
    return os.path.realpath(root) if root and os.path.exists(root) else None


def _config_ok(root: str) -> bool:
    """What Vault.require() accepts without YAML: a vault folder whose config is the one-line
    form: comment lines, then ``version: N`` (read by hand: importing re costs this path ~7 ms)."""
    config = os.path.join(root, CONFIG_FILE)
    if not os.path.isfile(config):
        return os.path.isfile(os.path.join(root, RECIPIENTS_FILE))
    with open(config, "rb") as fh:
        data = fh.read(64 * 1024 + 1)
    *comments, last = data.removesuffix(b"\n").split(b"\n")
    if not all(line.startswith(b"#") for line in comments) or not last.startswith(b"version:"):
        return False
    number = last.removeprefix(b"version:").removeprefix(b" ")
    return 0 < len(number) <= 6 and number.isdigit() and int(number) <= FORMAT_VERSION


def _actor(root: str, env: Mapping[str, str], mine: str | None) -> str | None:
    """As Vault.actor: SECRETCTL_ACTOR, else my member name (``mine``: my recipient, from the
    identity's .pub) in the root recipients, else $USER."""
    if env.get("SECRETCTL_ACTOR"):
        return env["SECRETCTL_ACTOR"]
    from secretctl.errors import SecretctlError

    if mine is None:
        return None  # the normal path would parse the key itself
    try:
        from secretctl.core.recipients import parse_recipients_file

        with open(os.path.join(root, RECIPIENTS_FILE), "rb") as fh:
            rfile = parse_recipients_file(fh.read(256 * 1024 + 1), source=RECIPIENTS_FILE)
        for r in rfile.recipients:
            if r.text == mine and r.name:
                return r.name
    except (OSError, SecretctlError):
        pass
    return env.get("USER") or "unknown"


def _pub_recipient(identity: str) -> str | None:
    """As infra.identity.pub_recipient, whose module imports dataclasses and hashlib."""
    try:
        with open(f"{identity}.pub", "rb") as fh:
            text = fh.read(16 * 1024).decode("utf-8", errors="replace").strip()
    except OSError:
        return None
    return text or None


def plain_vault(vault: str | None, env: Mapping[str, str]) -> str | None:
    """The vault's root when the normal path would open it with nothing to say or do first: a
    one-line config (no YAML), a plain clone (no git worktree), no interrupted command to
    recover (a journal, a git index lock). None: leave it all to the normal path."""
    root = vault_root(vault, env)
    if root is None or not _config_ok(root) or not os.path.isdir(os.path.join(root, ".git")):
        return None
    if os.path.lexists(os.path.join(root, ".git", *JOURNAL)) or os.path.lexists(os.path.join(root, ".git",
                                                                                               "index.lock")):
        return None  # a command was interrupted: the normal path recovers before reading
    if not os.access(os.path.join(root, ".git"), os.W_OK):
        return None  # a read-only vault: the normal path says so and spools access records
    if os.path.lexists(os.path.join(root, ".git", *CONFLICTS)):
        return None  # a stopped sync: the normal path says which values are your side of a conflict
    return root


def list_names(vault: str | None, pattern: str | None, env: Mapping[str, str]) -> list[str] | None:
    """What Vault.list_keys(pattern) returns, without importing the Vault (yaml, dataclasses,
    git: ~50 ms of `list`); None where plain_vault leaves it to the normal path."""
    root = plain_vault(vault, env)
    if root is None:
        return None
    from secretctl.service.keywalk import walk_cached

    names = walk_cached(root, os.path.join(root, ".git", *NAME_CACHE))
    if not pattern:
        return names
    from secretctl.core.keys import match_pattern

    return [k for k in names if match_pattern(pattern, k)]


def _key_file(identity: str, mine: str | None) -> tuple[list[Any], str] | None:
    """An unprotected identity file's pyrage keys and text; None for anything else: a protected
    or OpenSSH key, a key that is not the one its .pub names (the normal path words it)."""
    from secretctl.errors import SecretctlError

    try:
        with open(identity, "rb") as fh:
            data = fh.read(MAX_IDENTITY_BYTES + 1)
        text = data.decode("utf-8")
    except (OSError, ValueError):
        return None
    if len(data) > MAX_IDENTITY_BYTES or data.startswith(AGE_MAGIC) or "OPENSSH" in text:
        return None  # too big, protected by a password, or an ssh key: the normal path knows
    from secretctl.infra import crypto

    try:
        keys = crypto.parse_identities(text, source=identity)
    except SecretctlError:
        return None
    if len(keys) != 1 or mine is None or str(keys[0].to_public()) != mine:
        return None  # the actor comes from the .pub file: it must be this key's
    return keys, text


# infra/identity.BULK_MIN, spelled here so a few files do not import that module
# (tests/cli/test_fastrun.py keeps the two equal).
BULK_MIN = 16


def decrypt_fast(items: list[tuple[str, bytes]], env: Mapping[str, str], identity: str,
                 mine: str | None) -> list[bytes] | None:
    """Each ``(source, ciphertext)``'s plaintext, decrypted by the unlock agent (one round trip),
    or with an unprotected identity file when no agent runs; None at the first problem (the
    normal path words it). ``mine``: the identity's recipient, from its .pub."""
    from secretctl.errors import SecretctlError
    from secretctl.infra import settings

    socket = settings.agent_socket_file(env)
    values: list[Any]
    if not os.path.exists(socket):
        opened = _key_file(identity, mine)
        if opened is None:
            return None
        if len(items) < BULK_MIN:
            # A few files: pyrage per file, as decrypt_many does below BULK_MIN anyway, without
            # importing infra.identity (~16 ms: dataclasses, the bulk decryptor's modules).
            from secretctl.infra import crypto

            values = []
            for rel, ciphertext in items:
                try:
                    values.append(crypto.decrypt(ciphertext, opened[0], source=rel).reveal())
                except SecretctlError:
                    return None
            return values
        # The identity read and parsed once, and every file through Identity.decrypt_many (many
        # files go through agerekey's bulk decryptor), as the normal path reads them.
        from pathlib import Path

        from secretctl.core.secret import Secret
        from secretctl.infra.identity import Identity

        ident = Identity(tuple(opened[0]), mine or "", Path(identity), Secret(opened[1].encode()))
        values = [v if isinstance(v, SecretctlError) else v.reveal() for v in ident.decrypt_many(items)]
    else:
        from secretctl.infra import agentsock  # here: its socket module costs a get without an agent ~1.5 ms

        client = agentsock.AgentClient(socket, recipient=mine)
        try:
            values = list(client.decrypt_many(items))
        except (agentsock.AgentUnavailable, SecretctlError):
            return None
        finally:
            client.close()
    if any(isinstance(v, SecretctlError) for v in values):
        return None
    return values


def actor_and_values(root: str, items: list[tuple[str, bytes]], env: Mapping[str, str]
                     ) -> tuple[str, list[bytes]] | None:
    """Who records the access (as Vault.actor) and each item's plaintext (decrypt_fast), the
    identity's .pub read once for both; None where either needs the normal path."""
    from secretctl.infra import settings

    identity = settings.identity_file(env)
    mine = _pub_recipient(identity)
    actor = _actor(root, env, mine)
    if actor is None:
        return None
    values = decrypt_fast(items, env, identity, mine)
    return None if values is None else (actor, values)


def read_ciphertext(root: str, rel: str) -> bytes | None:
    """A secret file's bytes; None if it cannot be read or is over the size limit (the normal
    path words both)."""
    try:
        with open(os.path.join(root, rel), "rb") as fh:
            ciphertext = fh.read(MAX_SECRET_BYTES + 1)
    except OSError:
        return None
    return ciphertext if len(ciphertext) <= MAX_SECRET_BYTES else None


def reveal_fast(vault: str | None, key: str, env: Mapping[str, str]) -> bytes | None:
    """The value of ``key``, decrypted by the unlock agent or with an unprotected identity file
    when no agent runs, its access recorded; None: not served, and nothing was recorded (the
    caller runs the normal path)."""
    root = plain_vault(vault, env)
    if root is None or not plain_key(key):
        return None
    from secretctl.errors import SecretctlError

    rel = key + SECRET_SUFFIX
    try:
        with open(os.path.join(root, key + META_SUFFIX), "rb") as fh:
            if b"expires:" in fh.read(64 * 1024 + 1):
                return None  # a warning may be due: the normal path parses the sidecar
    except FileNotFoundError:
        pass
    except OSError:
        return None
    ciphertext = read_ciphertext(root, rel)
    if ciphertext is None:
        return None
    found = actor_and_values(root, [(rel, ciphertext)], env)
    if found is None:
        return None  # the normal path reports it, worded as always
    actor, (value,) = found
    import time

    from secretctl.infra import store
    from secretctl.service import pending

    try:
        store.append_locked(pending.pending_file(root), pending.access_line(pending.format_ts(time.time()), actor,
                                                                            "get", [key]))
    except SecretctlError:
        return None  # not recorded (a read-only vault): the normal path keeps the record elsewhere
    return value
