"""The one home of pyrage: encryption, decryption, identities and recipients.

pyrage's exceptions are translated here into secretctl's hierarchy; nothing above this
module sees a pyrage type except as an opaque identity/recipient object.
"""

from __future__ import annotations

from secretctl.core import agefile
from secretctl.core.secret import Secret
from secretctl.errors import IdentityError, UsageError, VaultCorruptError, WrongPasswordError

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing and core.recipients cost `get`'s fast path ~15 ms of imports: for mypy only
    from collections.abc import Sequence
    from typing import Any

    from secretctl.core.recipients import Recipient

ARMOR_BEGIN = b"-----BEGIN AGE ENCRYPTED FILE-----"
AGE_MAGIC = b"age-encryption.org/v1\n"


class _NoInteraction:
    """Plugin callbacks for unattended use: a plugin that needs a PIN or a touch to
    *encrypt* is refused rather than left waiting on a prompt nobody sees."""

    def display_message(self, message: str) -> None:
        return None

    def confirm(self, message: str, yes: str, no: str | None) -> bool | None:
        return None

    def request_public(self, message: str) -> str | None:
        return None

    def request_secret(self, message: str) -> str | None:
        return None


def to_pyrage_recipients(recipients: Sequence[Recipient]) -> list[Any]:
    import pyrage

    out: list[Any] = []
    plugins: dict[str, list[Any]] = {}
    for r in recipients:
        try:
            if r.kind == "x25519":
                out.append(pyrage.x25519.Recipient.from_str(r.text))
            elif r.kind in ("ssh-ed25519", "ssh-rsa"):
                out.append(pyrage.ssh.Recipient.from_str(r.text))
            else:
                plugins.setdefault(r.plugin_name or "", []).append(pyrage.plugin.Recipient.from_str(r.text))
        except pyrage.RecipientError:
            name = f" ({r.name})" if r.name else ""
            raise VaultCorruptError(f"invalid recipient{name} on line {r.line}: {r.text[:24]}...",
                                    hint="fix the .age-recipients file") from None
    for name, recs in plugins.items():
        out.append(pyrage.plugin.RecipientPluginV1(name, recs, [], _NoInteraction()))
    return out


def runs_plugins(pyrage_recipients: Sequence[Any]) -> bool:
    """Whether encrypting to these recipients starts an age plugin (a program of its own):
    bulk commands keep such encryption in the parent process (infra/forked)."""
    import pyrage

    return any(isinstance(r, pyrage.plugin.RecipientPluginV1) for r in pyrage_recipients)


def encrypt(plaintext: Secret, recipients: Sequence[Recipient]) -> bytes:
    return encrypt_to(plaintext, to_pyrage_recipients(recipients))


def encrypt_to(plaintext: Secret, pyrage_recipients: Sequence[Any]) -> bytes:
    """Encrypt to recipients already converted once (bulk re-encryption converts them once)."""
    import pyrage

    if not pyrage_recipients:
        raise UsageError("no recipients to encrypt to", hint="add a member: secretctl member add NAME RECIPIENT")
    try:
        result: bytes = pyrage.encrypt(plaintext.reveal(), list(pyrage_recipients))
    except pyrage.EncryptError as exc:
        raise VaultCorruptError("encryption failed: a recipient could not be used",
                                hint=f"check the recipients file and any age plugin on PATH ({_safe(exc)})") from None
    return result


def _safe(exc: BaseException) -> str:
    # pyrage errors describe keys and formats, never plaintext; still, keep them short and one line.
    return " ".join(str(exc).split())[:120]


def decrypt(ciphertext: bytes, identities: Sequence[Any], *, source: str) -> Secret:
    import pyrage

    if ciphertext.startswith(ARMOR_BEGIN):
        raise VaultCorruptError(f"{source}: ASCII-armored age file",
                                hint="vault files are binary age files; re-encrypt it without --armor")
    if not ciphertext.startswith(AGE_MAGIC):
        raise VaultCorruptError(f"{source}: not an age file",
                                hint="restore it with git (git checkout -- FILE) or set the secret again")
    # The strict header check first: pyrage is lenient about some header defects.

    agefile.parse_header(ciphertext, source=source)
    try:
        return Secret(pyrage.decrypt(ciphertext, list(identities)))
    except pyrage.DecryptError as exc:
        text = str(exc)
        if "No matching keys" in text:
            raise IdentityError(f"{source}: your identity is not a recipient of this secret",
                                hint="ask a member to add you (secretctl member add) and run reencrypt") from None
        raise VaultCorruptError(f"{source}: damaged age file ({_safe(exc)})",
                                hint="restore it with git (git log -- FILE) or set the secret again") from None


def decrypt_with_passphrase(ciphertext: bytes, passphrase: str, *, source: str) -> Secret:
    import pyrage

    if not ciphertext.startswith(AGE_MAGIC):
        raise VaultCorruptError(f"{source}: not an age file")

    agefile.parse_header(ciphertext, source=source)
    try:
        return Secret(pyrage.passphrase.decrypt(ciphertext, passphrase))
    except pyrage.DecryptError as exc:
        text = str(exc)
        if text.startswith("Excessive work parameter"):
            # rage's limit moves with the machine's load; the fixed one lives beside the floor.
            from secretctl.infra import agerekey

            return Secret(agerekey.decrypt_with_passphrase(ciphertext, passphrase, source=source))
        if "Decryption failed" in text or "passphrase" in text.lower() or "No matching keys" in text:
            raise WrongPasswordError(f"{source}: wrong password",
                                hint="check SECRETCTL_PASSWORD or type it again") from None
        raise VaultCorruptError(f"{source}: damaged age file ({_safe(exc)})") from None


def encrypt_with_passphrase(plaintext: Secret, passphrase: str) -> bytes:
    import pyrage

    result: bytes = pyrage.passphrase.encrypt(plaintext.reveal(), passphrase)
    from secretctl.infra import agerekey  # pyca: only to check, and when rage went low

    if agerekey.scrypt_work_factor(result, source="<new identity>") < agerekey.SCRYPT_FLOOR:
        # rage sized the work to about a second on this machine as loaded now; a busy machine got 15.
        result = agerekey.encrypt_with_passphrase(plaintext.reveal(), passphrase)
    return result


def parse_identities(text: str, *, source: str) -> list[Any]:
    """Identities from an age key file (AGE-SECRET-KEY-1 lines) or an OpenSSH private key."""
    import pyrage

    if "-----BEGIN OPENSSH PRIVATE KEY-----" in text:
        try:
            return [pyrage.ssh.Identity.from_buffer(text.encode())]
        except pyrage.IdentityError:
            raise IdentityError(f"{source}: unusable OpenSSH private key",
                                hint="only unencrypted ed25519/rsa OpenSSH keys are supported; "
                                     "protect it with secretctl's password instead") from None
    out: list[Any] = []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if not line.startswith("AGE-SECRET-KEY-1"):
            raise IdentityError(f"{source}:{n}: not an age identity line",
                                hint="expected AGE-SECRET-KEY-1... (age-keygen output)")
        try:
            out.append(pyrage.x25519.Identity.from_str(line))
        except pyrage.IdentityError:
            raise IdentityError(f"{source}:{n}: malformed age identity") from None
    if not out:
        raise IdentityError(f"{source}: contains no identity", hint="create one: secretctl identity new")
    return out


def generate_identity() -> tuple[Secret, str]:
    """A new X25519 identity: (the key file text as a Secret, its recipient)."""
    import pyrage

    ident = pyrage.x25519.Identity.generate()
    recipient = str(ident.to_public())
    return Secret(f"# created by secretctl\n# public key: {recipient}\n{ident}\n".encode()), recipient


def recipient_of(identity: Any) -> str | None:
    to_public = getattr(identity, "to_public", None)
    return str(to_public()) if to_public else None
