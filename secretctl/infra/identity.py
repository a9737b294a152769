"""The member's identity: an age X25519 (or OpenSSH ed25519) private key in the user
config dir, optionally protected by the master password with age's scrypt format.

The file is a plain age identity file (unprotected) or that file encrypted with
``age -p`` (protected), so ``age -d -i identity.age`` reads it too. A ``.pub`` file
beside it holds the recipient, so commands that only need to know who you are never
ask for the password.
"""

from __future__ import annotations

import base64
import functools
import struct
from collections.abc import Callable, Sequence
from pathlib import Path

from secretctl.core.frozen import frozen
from secretctl.core.secret import Secret
from secretctl.errors import IdentityError, NotFoundError, SecretctlError, UsageError, WrongPasswordError
from secretctl.infra import crypto, store

TYPE_CHECKING = False  # typing costs every start ~3 ms to import: for mypy only
if TYPE_CHECKING:
    from typing import Any, Protocol

    from secretctl.infra import agerekey

MAX_IDENTITY_BYTES = 64 * 1024
MIN_PASSWORD = 8
PasswordSource = Callable[[], str]
BULK_MIN = 16  # files in one decrypt_many call from which agerekey's decryptor pays for its import


@frozen
class Identity:
    """An unlocked identity. ``keys`` are pyrage identity objects (opaque, masked repr);
    ``key_text`` is the key file's text, for re-keying age headers (infra/agerekey)."""

    keys: tuple[Any, ...]
    recipient: str
    path: Path
    key_text: Secret

    def __repr__(self) -> str:
        return f"Identity(recipient={self.recipient!r}, path={str(self.path)!r})"

    def decrypt(self, ciphertext: bytes, *, source: str) -> Secret:
        return crypto.decrypt(ciphertext, self.keys, source=source)

    def decrypt_many(self, items: Sequence[tuple[str, bytes]]) -> list[Secret | SecretctlError]:
        """Each file's plaintext or the error it gave, in order (the agent answers the same way).

        Many files go through agerekey's decryptor (pyca; half pyrage's cost per file), each file
        it declines through pyrage, whose error is the one reported. A few go through pyrage
        alone: importing cryptography costs about 10 ms."""
        fast = self._bulk if len(items) >= BULK_MIN else None
        out: list[Secret | SecretctlError] = []
        for source, data in items:
            plain = fast.decrypt(data) if fast is not None else None
            if plain is not None:
                out.append(Secret(plain))
                continue
            try:
                out.append(crypto.decrypt(data, self.keys, source=source))
            except SecretctlError as exc:
                out.append(exc)
        return out

    def after_fork(self) -> None:
        """In a forked child: nothing to do (the key is in this process's memory)."""

    @functools.cached_property
    def _bulk(self) -> agerekey.BulkDecryptor | None:
        from secretctl.infra import agerekey  # imports cryptography: paid by bulk reads only

        return agerekey.BulkDecryptor.for_key_text(self.key_text.reveal_text())


if TYPE_CHECKING:  # a Protocol is for mypy: nothing checks it at run time

    class Unlocked(Protocol):
        """What decrypts for a vault: a local ``Identity``, or the unlock agent that holds it
        (``infra.agentsock.AgentIdentity``), which never hands out the key."""

        @property
        def recipient(self) -> str: ...

        @property
        def path(self) -> Path: ...

        def decrypt(self, ciphertext: bytes, *, source: str) -> Secret: ...

        def decrypt_many(self, items: Sequence[tuple[str, bytes]]) -> list[Secret | SecretctlError]: ...

        def after_fork(self) -> None: ...


def pub_path(path: Path) -> Path:
    return path.with_name(path.name + ".pub")


def is_protected(data: bytes) -> bool:
    return data.startswith(crypto.AGE_MAGIC)


def _ssh_public_from_private(text: str) -> str:
    """The public key embedded in an OpenSSH private key file (openssh-key-v1 format)."""
    body = "".join(line.strip() for line in text.splitlines() if line and not line.startswith("-----"))
    try:
        blob = base64.b64decode(body)
        magic = b"openssh-key-v1\x00"
        if not blob.startswith(magic):
            raise ValueError("magic")
        off = len(magic)

        def take() -> bytes:
            nonlocal off
            (n,) = struct.unpack(">I", blob[off : off + 4])
            off += 4
            out = blob[off : off + n]
            off += n
            return out

        take()  # cipher
        take()  # kdf
        take()  # kdf options
        off += 4  # number of keys
        pub = take()
        (tn,) = struct.unpack(">I", pub[:4])
        ktype = pub[4 : 4 + tn].decode()
    except (ValueError, struct.error, UnicodeDecodeError):
        raise IdentityError("not a readable OpenSSH private key") from None
    if ktype not in ("ssh-ed25519", "ssh-rsa"):
        raise IdentityError(f"unsupported OpenSSH key type {ktype}", hint="use an ed25519 key or an age identity")
    return f"{ktype} {base64.b64encode(pub).decode()}"


def recipient_for(key_text: str) -> str:
    if "-----BEGIN OPENSSH PRIVATE KEY-----" in key_text:
        return _ssh_public_from_private(key_text)
    keys = crypto.parse_identities(key_text, source="identity")
    r = crypto.recipient_of(keys[0])
    if r is None:
        raise IdentityError("cannot derive the recipient of this identity")
    return r


def _write(path: Path, key: Secret, recipient: str, passphrase: str | None) -> None:
    data = key.reveal() if passphrase is None else crypto.encrypt_with_passphrase(key, passphrase)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    store.atomic_write(path, data, mode=0o600)
    store.atomic_write(pub_path(path), (recipient + "\n").encode(), mode=0o644)


def create(path: Path, *, passphrase: str | None, force: bool = False) -> str:
    """Write a new identity to ``path``; return its recipient. Never overwrites unless ``force``."""
    if path.exists() and not force:
        raise UsageError(f"an identity already exists at {path}",
                         hint="use it (secretctl identity show), or pass --force to replace it (you lose access)")
    check_new_password(passphrase)
    key, recipient = crypto.generate_identity()
    _write(path, key, recipient, passphrase)
    return recipient


def check_new_password(passphrase: str | None) -> None:
    if passphrase is not None and len(passphrase) < MIN_PASSWORD:
        raise UsageError(f"password shorter than {MIN_PASSWORD} characters",
                         hint="choose a longer one, or pass --no-passphrase for automation")


def import_key(source: Path, path: Path, *, passphrase: str | None, force: bool = False) -> str:
    data = store.read_limited(source, MAX_IDENTITY_BYTES, what="key file")
    if is_protected(data):
        raise UsageError(f"{source} is password-protected",
                         hint="decrypt it first (age -d), then import the plain key file")
    check_new_password(passphrase)
    key = Secret(data)
    recipient = recipient_for(key.reveal_text())
    crypto.parse_identities(key.reveal_text(), source=str(source))  # refuse what we could not use later
    if path.exists() and not force:
        raise UsageError(f"an identity already exists at {path}", hint="pass --force to replace it")
    _write(path, key, recipient, passphrase)
    return recipient


def public_recipient(path: Path) -> str | None:
    """The recipient without unlocking, from the ``.pub`` file or an unprotected key."""
    pub = pub_path(path)
    if pub.exists():
        text = pub.read_text().strip()
        if text:
            return text
    try:
        data = store.read_limited(path, MAX_IDENTITY_BYTES, what="identity")
    except NotFoundError:
        return None
    if is_protected(data):
        return None
    return recipient_for(data.decode("utf-8", errors="replace"))


def pub_recipient(path: Path) -> str | None:
    """The recipient from the ``.pub`` file only (no key parsing: the fast path reads it)."""
    try:
        with open(pub_path(path), "rb") as fh:
            text = fh.read(16 * 1024).decode("utf-8", errors="replace").strip()
    except OSError:
        return None
    return text or None


def _read(path: Path) -> bytes:
    try:
        return store.read_limited(path, MAX_IDENTITY_BYTES, what="identity")
    except NotFoundError:
        raise IdentityError(f"no identity at {path}",
                            hint="create one with `secretctl identity new`, or set SECRETCTL_IDENTITY") from None


def _open(path: Path, data: bytes, password: PasswordSource) -> Secret:
    """The key file's text; a terminal's password source (``tries`` > 1) is asked again after a
    wrong password, the others fail at once."""
    if not is_protected(data):
        return Secret(data)
    tries = max(1, int(getattr(password, "tries", 1)))
    for attempt in range(tries):
        try:
            return crypto.decrypt_with_passphrase(data, password(), source=str(path))
        except WrongPasswordError:
            if attempt + 1 >= tries:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def load(path: Path, password: PasswordSource) -> Identity:
    key = _open(path, _read(path), password)
    text = key.reveal_text()
    keys = crypto.parse_identities(text, source=str(path))
    return Identity(tuple(keys), recipient_for(text), path, key)


def change_password(path: Path, old: PasswordSource, new: str | None) -> str:
    """Re-encrypt the identity file under a new password (None: unprotected), atomically: the
    key, and so the recipient, stay the same. Returns the recipient."""
    check_new_password(new)
    key = _open(path, _read(path), old)
    recipient = recipient_for(key.reveal_text())
    crypto.parse_identities(key.reveal_text(), source=str(path))
    _write(path, key, recipient, new)
    return recipient
