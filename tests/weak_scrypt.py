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
import os

from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from secretctl.infra import agerekey

TEST_LOG2_N = 10


def encrypt_with_passphrase(plaintext: bytes, passphrase: str, log2_n: int = TEST_LOG2_N) -> bytes:
    """The scrypt stanza at any work factor is made here; the wrap key, stanza text, header MAC and
    payload come from agerekey's helpers (its own writer, encrypt_with_passphrase, refuses below 2^18)."""
    file_key, salt, nonce = os.urandom(16), os.urandom(16), os.urandom(16)
    body = ChaCha20Poly1305(agerekey.scrypt_wrap_key(passphrase, salt, log2_n)).encrypt(b"\x00" * 12, file_key, None)
    stanza = agerekey.stanza_text([b"scrypt", base64.b64encode(salt).rstrip(b"="), str(log2_n).encode()], body)
    header = b"age-encryption.org/v1\n" + stanza + b"---"
    return (header + b" " + base64.b64encode(agerekey.header_mac(file_key, header)).rstrip(b"=") + b"\n"
            + agerekey.encrypt_payload(file_key, nonce, plaintext))


def work_factor(data: bytes) -> int:
    """log2(N) of an age passphrase file's scrypt stanza."""
    for line in data.split(b"\n")[1:3]:
        if line.startswith(b"-> scrypt "):
            return int(line.split()[3])
    raise ValueError("not an age passphrase file")
