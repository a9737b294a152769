"""Re-keying an age file for added recipients without touching its payload (https://c2sp.org/age).

DANGEROUS CODE: this module assembles age's recipient stanzas and header MAC by hand from
pyca/cryptography primitives (X25519, HKDF-SHA256, ChaCha20-Poly1305, HMAC-SHA256, SHA-512).
Everything else in secretctl leaves age to pyrage; this module exists because adding a member
to 1,000 files through pyrage means decrypting and re-encrypting 1,000 payloads. Here the file
key is unwrapped from our own stanza, the header MAC is verified with it, the same file key is
wrapped for each new recipient, and the MAC is recomputed over the longer header. The payload
bytes stay as they are, so no plaintext is ever in memory (the file key is).

It is kept apart and small, follows the spec's steps one function each, and is tested against
the C2SP vectors (tests/core/vectors/age) and the ``age`` CLI decrypting what it writes. Every
check raises; nothing here returns a bool for the caller to forget.

Supported: our identity X25519 or ssh-ed25519; new recipients X25519 or ssh-ed25519. Anything
else (ssh-rsa, plugins, scrypt files) raises :class:`CannotRekey`, and the caller re-encrypts.

It also decrypts (:class:`BulkDecryptor`), for bulk reads only: pyrage spends about 90 us per file
beside the 30 us X25519 exchange (measured on 1,000 vault files: 120 us of CPU per file through
pyrage, 62 us here with the same header parse), which is most of building a 10,000-secret
redactor. It returns plaintext only when the header MAC and every chunk's tag verified; on any
doubt the caller decrypts with pyrage instead, so an error is always pyrage's (and the C2SP vectors
check that nothing the spec refuses is accepted here).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from secretctl.core import agefile
from secretctl.core.frozen import frozen  # not dataclasses: ~8 ms of member add's imports (inspect, ast...)
from secretctl.errors import IdentityError, SecretctlError, VaultCorruptError

FILE_KEY_SIZE = 16
X25519_LABEL = b"age-encryption.org/v1/X25519"
SSH_ED25519_LABEL = b"age-encryption.org/v1/ssh-ed25519"
_ZERO_NONCE = bytes(12)  # each wrap key is used once, so age uses the all-zero nonce


class CannotRekey(SecretctlError):
    """This file or recipient cannot be re-keyed here; re-encrypt it instead."""


PAYLOAD_CHUNK = 64 * 1024  # plaintext bytes per STREAM chunk
_TAG = 16


def _hkdf(ikm: bytes, salt: bytes | None, info: bytes, length: int = 32) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(ikm)


def _b64(raw: bytes) -> bytes:
    return base64.b64encode(raw).rstrip(b"=")


# ------------------------------------------------------------------------------ the header MAC
def header_mac(file_key: bytes, header: bytes) -> bytes:
    """HMAC-SHA256 under HKDF(file key, no salt, "header") of the header up to and including "---"."""
    return hmac.digest(header_mac_key(file_key), header, "sha256")


def header_mac_key(file_key: bytes) -> bytes:
    return _hkdf(file_key, None, b"header")


def verify_header_mac(file_key: bytes, header: agefile.AgeHeader, *, source: str, mac_key: bytes | None = None) -> None:
    """``mac_key``: :func:`header_mac_key` of ``file_key`` when the caller has it already."""
    mac_key = mac_key or header_mac_key(file_key)
    if not hmac.compare_digest(hmac.digest(mac_key, header.header_bytes, "sha256"), header.mac):
        raise VaultCorruptError(f"{source}: header MAC does not verify",
                                hint="the file was altered; restore it with git (git log -- FILE)")


# ------------------------------------------------------------------------- bech32 (age keys)
_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"


def _polymod(values: Sequence[int]) -> int:
    gen = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
    chk = 1
    for v in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ v
        for i in range(5):
            chk ^= gen[i] if (top >> i) & 1 else 0
    return chk


def bech32_decode(text: str, hrp: str) -> bytes:
    """The data of a bech32 string (BIP 173 checksum; age lifts the 90-character limit)."""
    if text.lower() != text and text.upper() != text:
        raise ValueError("mixed case")
    text = text.lower()
    sep = text.rfind("1")
    if text[:sep] != hrp or len(text) - sep < 7:
        raise ValueError("wrong prefix")
    try:
        data = [_CHARSET.index(c) for c in text[sep + 1:]]
    except ValueError:
        raise ValueError("bad character") from None
    if _polymod([ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp] + data) != 1:
        raise ValueError("bad checksum")
    acc = bits = 0
    out = bytearray()
    for v in data[:-6]:
        acc = (acc << 5) | v
        bits += 5
        if bits >= 8:
            bits -= 8
            out.append((acc >> bits) & 0xFF)
    if bits >= 5 or acc & ((1 << bits) - 1):
        raise ValueError("non-zero padding")
    return bytes(out)


# ---------------------------------------------------------------------------- ssh-ed25519 keys
_P = 2**255 - 19
_D = (-121665 * pow(121666, _P - 2, _P)) % _P


def ed25519_public_to_x25519(pub: bytes) -> bytes:
    """The Montgomery u-coordinate of an Ed25519 public key: u = (1 + y) / (1 - y) mod p.

    The only arithmetic written by hand here (pyca has no such conversion). The point is checked
    to be a canonical encoding of a point on the curve, and not the identity, before converting.
    """
    if len(pub) != 32:
        raise ValueError("an Ed25519 public key is 32 bytes")
    y = int.from_bytes(pub, "little") & ((1 << 255) - 1)
    if y >= _P or y == 1:
        raise ValueError("not a usable Ed25519 point")
    # x^2 = (y^2 - 1) / (d y^2 + 1) must have a square root (Euler's criterion) for (x, y) on the curve.
    x2 = (y * y - 1) * pow(_D * y * y + 1, _P - 2, _P) % _P
    if x2 and pow(x2, (_P - 1) // 2, _P) != 1:
        raise ValueError("not a point on Ed25519")
    if x2 == 0 and pub[31] & 0x80:
        raise ValueError("non-canonical Ed25519 point")
    u = (1 + y) * pow(1 - y, _P - 2, _P) % _P
    return u.to_bytes(32, "little")


def _ssh_string(blob: bytes, off: int) -> tuple[bytes, int]:
    if off + 4 > len(blob):
        raise ValueError("truncated")
    n = int.from_bytes(blob[off:off + 4], "big")
    if off + 4 + n > len(blob):
        raise ValueError("truncated")
    return blob[off + 4:off + 4 + n], off + 4 + n


def ssh_ed25519_wire(text: str) -> bytes:
    """The SSH wire encoding of an ``ssh-ed25519 BASE64 [comment]`` public key, checked."""
    parts = text.split()
    if len(parts) < 2 or parts[0] != "ssh-ed25519":
        raise ValueError("not an ssh-ed25519 key")
    blob = base64.b64decode(parts[1], validate=True)
    kind, off = _ssh_string(blob, 0)
    key, off = _ssh_string(blob, off)
    if kind != b"ssh-ed25519" or len(key) != 32 or off != len(blob):
        raise ValueError("malformed ssh-ed25519 key")
    return blob


def _ssh_tag(wire: bytes) -> bytes:
    return hashlib.sha256(wire).digest()[:4]


def _ssh_tweak(wire: bytes) -> X25519PrivateKey:
    return X25519PrivateKey.from_private_bytes(_hkdf(b"", wire, SSH_ED25519_LABEL))


# ------------------------------------------------------------------------------- recipients
@frozen
class NewRecipient:
    """A recipient to wrap the file key for: X25519 (``age1...``) or ssh-ed25519."""

    kind: str  # "X25519" | "ssh-ed25519"
    point: bytes  # the X25519 public key (for ssh-ed25519: the converted Ed25519 key)
    ssh_wire: bytes = b""

    @classmethod
    def parse(cls, text: str) -> NewRecipient:
        try:
            if text.startswith("age1"):
                raw = bech32_decode(text, "age")
                if len(raw) != 32:
                    raise ValueError("an X25519 recipient is 32 bytes")
                return cls("X25519", raw)
            if text.startswith("ssh-ed25519 "):
                wire = ssh_ed25519_wire(text)
                return cls("ssh-ed25519", ed25519_public_to_x25519(wire[-32:]), wire)
        except ValueError as exc:
            raise CannotRekey(f"unusable recipient {text[:24]}...: {exc}") from None
        raise CannotRekey(f"re-keying supports X25519 and ssh-ed25519 recipients, not {text.split(' ', 1)[0][:24]}")

    def wrap(self, file_key: bytes, peer: X25519PublicKey | None = None) -> bytes:
        """The stanza (its text, newline-terminated) wrapping ``file_key`` for this recipient.
        ``peer``: :meth:`public_key`, when the caller wraps for this recipient many times."""
        ephemeral = X25519PrivateKey.generate()
        share = ephemeral.public_key().public_bytes_raw()
        shared = ephemeral.exchange(peer or self.public_key())  # raises if all zeros
        if self.kind == "X25519":
            args = [b"X25519", _b64(share)]
            label = X25519_LABEL
        else:
            shared = _ssh_tweak(self.ssh_wire).exchange(X25519PublicKey.from_public_bytes(shared))
            args = [b"ssh-ed25519", _b64(_ssh_tag(self.ssh_wire)), _b64(share)]
            label = SSH_ED25519_LABEL
        wrap_key = _hkdf(shared, share + self.point, label)
        body = ChaCha20Poly1305(wrap_key).encrypt(_ZERO_NONCE, file_key, None)
        return stanza_text(args, body)

    def public_key(self) -> X25519PublicKey:
        return X25519PublicKey.from_public_bytes(self.point)


def stanza_text(args: Sequence[bytes], body: bytes) -> bytes:
    """``-> ARGS\\n`` then the body in base64, 64 columns, the last line shorter than 64."""
    encoded = _b64(body)
    lines = [encoded[i:i + agefile.COLUMNS] for i in range(0, len(encoded), agefile.COLUMNS)]
    if not lines or len(lines[-1]) == agefile.COLUMNS:
        lines.append(b"")
    return b"-> " + b" ".join(args) + b"\n" + b"".join(line + b"\n" for line in lines)


# ------------------------------------------------------------------------------- identities
class RekeyIdentity:
    """Our own key, able to unwrap the file key from the stanza made for us."""

    def __init__(self, kind: str, scalar: bytes, ssh_wire: bytes = b"") -> None:
        self.kind = kind
        self._key = X25519PrivateKey.from_private_bytes(scalar)
        self._point = self._key.public_key().public_bytes_raw()
        self._ssh_wire = ssh_wire
        self._tag = _ssh_tag(ssh_wire) if ssh_wire else b""

    def __repr__(self) -> str:
        return f"RekeyIdentity({self.kind})"

    @classmethod
    def from_key_text(cls, text: str) -> list[RekeyIdentity]:
        """From an age identity file (``AGE-SECRET-KEY-1...`` lines) or an OpenSSH ed25519 key.
        Other keys (ssh-rsa) raise CannotRekey."""
        if "-----BEGIN OPENSSH PRIVATE KEY-----" in text:
            from cryptography.hazmat.primitives import serialization
            from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

            try:
                key = serialization.load_ssh_private_key(text.encode(), None)
            except (ValueError, TypeError):
                raise IdentityError("unusable OpenSSH private key") from None
            if not isinstance(key, Ed25519PrivateKey):
                raise CannotRekey("re-keying needs an X25519 or ssh-ed25519 identity")
            seed = key.private_bytes_raw()
            pub = key.public_key().public_bytes_raw()
            wire = b"".join(len(x).to_bytes(4, "big") + x for x in (b"ssh-ed25519", pub))
            # age (like libsodium) uses the first half of SHA-512(seed) as the X25519 scalar.
            return [cls("ssh-ed25519", hashlib.sha512(seed).digest()[:32], wire)]
        out = []
        for raw in text.splitlines():
            line = raw.strip()
            if line.startswith("AGE-SECRET-KEY-1"):
                try:
                    scalar = bech32_decode(line, "age-secret-key-")
                except ValueError:
                    raise IdentityError("malformed age identity") from None
                if len(scalar) != 32:
                    raise IdentityError("malformed age identity")
                out.append(cls("X25519", scalar))
        if not out:
            raise CannotRekey("re-keying needs an X25519 or ssh-ed25519 identity")
        return out

    def unwrap(self, stanza: agefile.Stanza) -> bytes | None:
        """The file key if ``stanza`` was made for us, else None (age tries every stanza)."""
        if self.kind == "X25519":
            if stanza.type != "X25519":
                return None
            share = base64.b64decode(stanza.args[0] + "=")
            shared = self._exchange(self._key, share)
            label = X25519_LABEL
        else:
            if stanza.type != "ssh-ed25519" or base64.b64decode(stanza.args[0] + "==") != self._tag:
                return None
            share = base64.b64decode(stanza.args[1] + "=")
            shared = self._exchange(_ssh_tweak(self._ssh_wire), self._exchange(self._key, share))
            label = SSH_ED25519_LABEL
        wrap_key = _hkdf(shared, share + self._point, label)
        try:
            file_key = ChaCha20Poly1305(wrap_key).decrypt(_ZERO_NONCE, stanza.body, None)
        except InvalidTag:
            return None
        if len(file_key) != FILE_KEY_SIZE:
            raise VaultCorruptError("a recipient stanza wraps a file key of the wrong size")
        return file_key

    @staticmethod
    def _exchange(key: X25519PrivateKey, share: bytes) -> bytes:
        try:
            return key.exchange(X25519PublicKey.from_public_bytes(share))
        except ValueError:  # an all-zero shared secret: a low-order share (the parser refuses most)
            raise VaultCorruptError("a recipient stanza has a low-order X25519 share") from None


class Rekeyer:
    """Adds recipients to age files, for one identity and one set of new recipients.

    Remembers which stanza held our key last time: files written by one tool for one recipients
    file list their stanzas in one order, so the first try is usually right (each wrong try
    costs an X25519 exchange).
    """

    def __init__(self, identities: Sequence[RekeyIdentity], recipients: Sequence[NewRecipient]) -> None:
        if not identities:
            raise CannotRekey("no identity to unwrap with")
        self._identities = list(identities)
        self._recipients = [(r, r.public_key()) for r in recipients]  # parsed once, not per file
        self._hint = 0

    def file_key(self, header: agefile.AgeHeader, *, source: str) -> bytes:
        """Our stanza's file key, with the header MAC verified under it."""
        return self._unwrapped(header, source)[0]

    def _unwrapped(self, header: agefile.AgeHeader, source: str) -> tuple[bytes, bytes]:
        """Our stanza's file key and the header MAC key derived from it, the MAC verified."""
        if header.has_scrypt():
            raise CannotRekey(f"{source}: a passphrase (scrypt) file cannot be re-keyed")
        n = len(header.stanzas)
        order = [self._hint, *(i for i in range(n) if i != self._hint)] if self._hint < n else range(n)
        for i in order:
            for ident in self._identities:
                key = ident.unwrap(header.stanzas[i])
                if key is not None:
                    self._hint = i
                    mac_key = header_mac_key(key)
                    verify_header_mac(key, header, source=source, mac_key=mac_key)
                    return key, mac_key
        raise IdentityError(f"{source}: your identity is not a recipient of this secret",
                            hint="ask a member to add you (secretctl member add) and run reencrypt")

    def add_recipients(self, data: bytes, *, source: str = "<bytes>") -> bytes:
        """``data`` with a stanza for each new recipient and a new MAC; the payload unchanged."""
        header = agefile.parse_header(data, source=source)
        file_key, mac_key = self._unwrapped(header, source)
        stanzas = b"".join(r.wrap(file_key, peer) for r, peer in self._recipients)
        new_header = header.header_bytes[:-3] + stanzas + b"---"
        mac = hmac.digest(mac_key, new_header, "sha256")
        return new_header + b" " + _b64(mac) + b"\n" + data[header.payload_offset:]


# --------------------------------------------------------------------------------- decryption
def decrypt_payload(file_key: bytes, data: bytes, offset: int) -> bytes:
    """The payload after the header (https://c2sp.org/age#payload): a 16-byte nonce, then STREAM
    chunks of 64 KiB + tag under HKDF(file key, nonce, "payload"); each chunk's nonce is its
    11-byte big-endian counter and a last-chunk flag. Raises ValueError/InvalidTag on any defect:
    no nonce, no chunk, a short or bad tag, an empty last chunk after others, trailing data."""
    nonce = data[offset:offset + agefile.NONCE_SIZE]
    if len(nonce) != agefile.NONCE_SIZE:
        raise ValueError("payload nonce missing")
    aead = ChaCha20Poly1305(_hkdf(file_key, nonce, b"payload"))
    body = memoryview(data)[offset + agefile.NONCE_SIZE:]
    size = PAYLOAD_CHUNK + _TAG
    # Chunking is fixed: every chunk but the last is full, the last may be full too (never empty
    # unless it is the only one). A chunk flagged wrongly, or data after the last, fails its tag.
    count = max(1, -(-len(body) // size))
    out = []
    for i in range(count):
        chunk = body[i * size:(i + 1) * size]
        last = i == count - 1
        if len(chunk) < _TAG or (last and i > 0 and len(chunk) == _TAG):
            raise ValueError("short or empty final chunk")
        out.append(aead.decrypt(i.to_bytes(11, "big") + (b"\x01" if last else b"\x00"), bytes(chunk), None))
    return b"".join(out)


class BulkDecryptor:
    """Decrypts age files for our X25519 or ssh-ed25519 identity, or returns None where pyrage
    must decide (a passphrase file, a damaged file, a file not for us: pyrage then raises)."""

    def __init__(self, identities: Sequence[RekeyIdentity]) -> None:
        self._rekeyer = Rekeyer(identities, [])

    @classmethod
    def for_key_text(cls, text: str) -> BulkDecryptor | None:
        """None for an identity this module cannot use (ssh-rsa, plugins)."""
        try:
            return cls(RekeyIdentity.from_key_text(text))
        except SecretctlError:
            return None

    def decrypt(self, data: bytes) -> bytes | None:
        try:
            header = agefile.parse_header(data)
            if header.has_scrypt():
                return None
            return decrypt_payload(self._rekeyer.file_key(header, source="<bytes>"), data, header.payload_offset)
        except (SecretctlError, ValueError, InvalidTag):
            return None


# ------------------------------------------------------------- passphrase files, with a floor
SCRYPT_FLOOR = 18  # log2(N) that age's reference implementation always writes (256 MiB, ~1 s)


def scrypt_work_factor(data: bytes, *, source: str) -> int:
    """log2(N) of a passphrase-encrypted age file's scrypt stanza."""
    for stanza in agefile.parse_header(data, source=source).stanzas:
        if stanza.type == "scrypt" and len(stanza.args) == 2 and stanza.args[1].isdigit():
            return int(stanza.args[1])
    raise VaultCorruptError(f"{source}: not a passphrase-encrypted age file")


def scrypt_wrap_key(passphrase: str, salt: bytes, log2_n: int) -> bytes:
    """The key that wraps a scrypt stanza's file key (age spec: scrypt with the labelled salt, r=8,
    p=1). No floor here: the writers check theirs."""
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

    return Scrypt(salt=b"age-encryption.org/v1/scrypt" + salt, length=32, n=2**log2_n, r=8,
                  p=1).derive(passphrase.encode())


def encrypt_with_passphrase(plaintext: bytes, passphrase: str, log2_n: int = SCRYPT_FLOOR) -> bytes:
    """An age file for one scrypt recipient (the spec's "scrypt recipient stanza") at a fixed
    work factor, never below :data:`SCRYPT_FLOOR`. rage calibrates its work factor to about a
    second on the machine as loaded at that moment, and on a busy machine it wrote 15 (32 MiB);
    the caller uses this only when rage went below the floor."""
    import os

    if log2_n < SCRYPT_FLOOR:
        raise ValueError(f"scrypt work factor {log2_n} is below the floor of {SCRYPT_FLOOR}")
    file_key, salt, nonce = os.urandom(FILE_KEY_SIZE), os.urandom(16), os.urandom(16)
    wrap_key = scrypt_wrap_key(passphrase, salt, log2_n)
    body = ChaCha20Poly1305(wrap_key).encrypt(_ZERO_NONCE, file_key, None)
    header = b"age-encryption.org/v1\n" + stanza_text([b"scrypt", _b64(salt), str(log2_n).encode()], body) + b"---"
    return header + b" " + _b64(header_mac(file_key, header)) + b"\n" + encrypt_payload(file_key, nonce, plaintext)


def encrypt_payload(file_key: bytes, nonce: bytes, plaintext: bytes) -> bytes:
    """The payload :func:`decrypt_payload` reads: the nonce, then STREAM chunks of 64 KiB, the
    last one flagged (one empty chunk for an empty plaintext)."""
    aead = ChaCha20Poly1305(_hkdf(file_key, nonce, b"payload"))
    chunks = [plaintext[i : i + PAYLOAD_CHUNK] for i in range(0, len(plaintext), PAYLOAD_CHUNK)] or [b""]
    out = [nonce]
    for i, chunk in enumerate(chunks):
        last = b"\x01" if i == len(chunks) - 1 else b"\x00"
        out.append(aead.encrypt(i.to_bytes(11, "big") + last, chunk, None))
    return b"".join(out)


def decrypt_with_passphrase(data: bytes, passphrase: str, *, source: str) -> bytes:
    """A passphrase file rage refused only for its work factor. rage accepts up to 16 times the
    work it calibrates as a second on the machine as loaded now, so an identity written at 2^20
    on an idle machine was refused on a busy one, and that read as "wrong password". Here the
    limit is fixed: agefile.MAX_SCRYPT_WORK_FACTOR (2^22, what the age reference implementation
    reads by default), checked by the header parse. Every check of the spec is made, and each
    raises."""
    from secretctl.errors import WrongPasswordError

    header = agefile.parse_header(data, source=source)  # well formed, work factor at most 2^22
    if [s.type for s in header.stanzas] != ["scrypt"]:
        raise VaultCorruptError(f"{source}: not a passphrase-encrypted age file")
    stanza = header.stanzas[0]
    log2_n = int(stanza.args[1])
    salt = base64.b64decode(stanza.args[0] + "==")
    wrap_key = scrypt_wrap_key(passphrase, salt, log2_n)
    try:
        file_key = ChaCha20Poly1305(wrap_key).decrypt(_ZERO_NONCE, stanza.body, None)
    except InvalidTag:
        raise WrongPasswordError(f"{source}: wrong password",
                                 hint="check SECRETCTL_PASSWORD or type it again") from None
    if len(file_key) != FILE_KEY_SIZE:  # the parser's 32-byte body rule implies it; said again here
        raise VaultCorruptError(f"{source}: the scrypt stanza wraps a file key of the wrong size")
    verify_header_mac(file_key, header, source=source)
    try:
        return decrypt_payload(file_key, data, header.payload_offset)
    except (ValueError, InvalidTag):
        raise VaultCorruptError(f"{source}: damaged age file (a payload chunk does not verify)",
                                hint="restore it from a backup") from None
