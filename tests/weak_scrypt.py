"""Test-only: write an age passphrase file with a low scrypt work factor.

pyrage (rage) always picks the work factor that costs about a second and 256-512 MB here, so
every protected identity the suite created cost that much. This writer lives in tests/, which
is not installed: the package itself can never write a weak identity, whatever the environment
(tests/infra/test_unlock_agent.py::test_identity_new_never_writes_a_weak_work_factor proves the
installed command does not). The format is age's scrypt recipient (age-encryption.org/v1 spec):
pyrage and the age CLI read what it writes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

TEST_LOG2_N = 10


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode().rstrip("=")


def _hkdf(ikm: bytes, salt: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(ikm)


def encrypt_with_passphrase(plaintext: bytes, passphrase: str, log2_n: int = TEST_LOG2_N) -> bytes:
    assert len(plaintext) <= 64 * 1024, "one STREAM chunk is enough for an identity file"
    file_key, salt = os.urandom(16), os.urandom(16)
    wrap_key = Scrypt(salt=b"age-encryption.org/v1/scrypt" + salt, length=32, n=2**log2_n, r=8,
                      p=1).derive(passphrase.encode())
    body = ChaCha20Poly1305(wrap_key).encrypt(b"\x00" * 12, file_key, None)
    header = f"age-encryption.org/v1\n-> scrypt {_b64(salt)} {log2_n}\n{_b64(body)}\n---".encode()
    mac = hmac.new(_hkdf(file_key, b"", b"header"), header, hashlib.sha256).digest()
    nonce = os.urandom(16)
    payload = ChaCha20Poly1305(_hkdf(file_key, nonce, b"payload")).encrypt(b"\x00" * 11 + b"\x01", plaintext, None)
    return header + f" {_b64(mac)}\n".encode() + nonce + payload


def work_factor(data: bytes) -> int:
    """log2(N) of an age passphrase file's scrypt stanza."""
    for line in data.split(b"\n")[1:3]:
        if line.startswith(b"-> scrypt "):
            return int(line.split()[3])
    raise ValueError("not an age passphrase file")
