"""agerekey.BulkDecryptor (bulk reads decrypt through pyca, not pyrage): it returns a plaintext
only where age would, the same plaintext, and declines (None) everything else, so that pyrage
decides and its error is the one reported. Checked against the C2SP vectors, against pyrage on
files of every chunk shape, and through Identity.decrypt_many, the path bulk reads take."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pyrage
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from secretctl.core.secret import Secret
from secretctl.errors import IdentityError, SecretctlError, VaultCorruptError
from secretctl.infra import crypto, identity
from secretctl.infra.agerekey import PAYLOAD_CHUNK, BulkDecryptor, RekeyIdentity
from tests.infra.test_agerekey import X25519_VECTORS, load


@pytest.mark.parametrize("name", X25519_VECTORS)
def test_vector_decrypts_only_where_age_does(name: str) -> None:
    meta, body = load(name)
    ids = [i for text in meta["identity"] if text.startswith("AGE-SECRET-KEY-1")
           for i in RekeyIdentity.from_key_text(text)]
    plain = BulkDecryptor(ids).decrypt(body)
    if meta["expect"] == ["success"]:
        assert plain is not None
        assert hashlib.sha256(plain).hexdigest() == meta["payload"][0]
    else:
        assert plain is None  # declined: pyrage decides, and raises


def test_a_stream_vector_of_each_failure_kind_is_covered() -> None:
    failing = {n for n in X25519_VECTORS if load(n)[0]["expect"] == ["payload failure"]}
    assert {"stream_last_chunk_empty", "stream_no_final_full", "stream_two_final_chunks_full",
            "stream_trailing_garbage_short", "stream_no_chunks", "stream_bad_tag_second_chunk"} <= failing


@pytest.mark.parametrize("size", [0, 1, 100, PAYLOAD_CHUNK - 1, PAYLOAD_CHUNK, PAYLOAD_CHUNK + 1,
                                  2 * PAYLOAD_CHUNK, 2 * PAYLOAD_CHUNK + 17])
def test_same_plaintext_as_pyrage_at_every_chunk_shape(size: int) -> None:
    ident = pyrage.x25519.Identity.generate()
    other = pyrage.x25519.Identity.generate()
    value = os.urandom(size)
    data = pyrage.encrypt(value, [other.to_public(), ident.to_public()])
    assert BulkDecryptor.for_key_text(str(ident)).decrypt(data) == pyrage.decrypt(data, [ident]) == value  # type: ignore[union-attr]  # X25519: never None


def test_ssh_ed25519_identity() -> None:
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    data = pyrage.encrypt(b"hunter2-ssh", [pyrage.ssh.Recipient.from_str(public.decode())])
    fast = BulkDecryptor.for_key_text(private.decode())
    assert fast is not None
    assert fast.decrypt(data) == b"hunter2-ssh"


def test_declines_what_is_not_ours_or_not_age() -> None:
    ident, stranger = pyrage.x25519.Identity.generate(), pyrage.x25519.Identity.generate()
    fast = BulkDecryptor.for_key_text(str(ident))
    assert fast is not None
    good = pyrage.encrypt(b"value-123456", [ident.to_public()])
    assert fast.decrypt(pyrage.encrypt(b"value-123456", [stranger.to_public()])) is None
    assert fast.decrypt(load("scrypt")[1]) is None  # a passphrase file: pyrage decides
    assert fast.decrypt(good[:-1]) is None  # a cut tag
    assert fast.decrypt(good + b"x") is None  # data after the last chunk
    flipped = bytearray(good)
    flipped[-20] ^= 1
    assert fast.decrypt(bytes(flipped)) is None
    assert fast.decrypt(b"not age at all") is None


def _identity(tmp_path: Path, text: str) -> identity.Identity:
    return identity.Identity(tuple(crypto.parse_identities(text, source="t")), "age1x", tmp_path / "id",
                             Secret(text.encode()))


def test_decrypt_many_gives_pyrage_s_answers(tmp_path: Path) -> None:
    """Above BULK_MIN files: the same values, and for a damaged or foreign file pyrage's error."""
    ident, stranger = pyrage.x25519.Identity.generate(), pyrage.x25519.Identity.generate()
    values = [os.urandom(24).hex().encode() for _ in range(identity.BULK_MIN + 4)]
    items = [(f"k{i}.age", pyrage.encrypt(v, [ident.to_public()])) for i, v in enumerate(values)]
    damaged = bytearray(items[3][1])
    damaged[-5] ^= 1
    items[3] = ("k3.age", bytes(damaged))
    items[5] = ("k5.age", pyrage.encrypt(values[5], [stranger.to_public()]))
    me = _identity(tmp_path, str(ident))
    got = me.decrypt_many(items)
    assert me._bulk is not None  # the fast path was taken
    for i, (result, value) in enumerate(zip(got, values, strict=True)):
        if i == 3:
            assert isinstance(result, VaultCorruptError) and "k3.age: damaged age file" in result.message
        elif i == 5:
            assert isinstance(result, IdentityError) and "not a recipient" in result.message
        else:
            assert not isinstance(result, SecretctlError) and result.reveal() == value
    assert [r.message if isinstance(r, SecretctlError) else r.reveal() for r in got] == \
        [r.message if isinstance(r, SecretctlError) else r.reveal() for r in
         (_one(me, s, d) for s, d in items)]


def _one(me: identity.Identity, source: str, data: bytes) -> Secret | SecretctlError:
    try:
        return crypto.decrypt(data, me.keys, source=source)
    except SecretctlError as exc:
        return exc


@pytest.mark.parametrize("count", [3, identity.BULK_MIN + 4])
def test_the_unlock_agent_answers_many_files_as_it_answers_one(tmp_path: Path, count: int) -> None:
    """The agent decrypts a batch of BULK_MIN files or more through decrypt_many: the same
    plaintexts, and each failing file's own error in its place."""
    from secretctl.infra.unlock_agent import Agent

    ident, stranger = pyrage.x25519.Identity.generate(), pyrage.x25519.Identity.generate()
    values = [os.urandom(12).hex().encode() for _ in range(count)]
    blobs = [pyrage.encrypt(v, [ident.to_public()]) for v in values]
    blobs[1] = pyrage.encrypt(values[1], [stranger.to_public()])
    mine = _identity(tmp_path, str(ident))
    agent = Agent(mine, timeout=None, idle=None)
    header, out = agent._decrypt({"sources": [f"k{i}.age" for i in range(count)]}, blobs)
    assert ("_bulk" in mine.__dict__) == (count >= identity.BULK_MIN)  # the bulk decryptor was used
    results = header["results"]
    assert out[0] == values[0] and out[2:] == values[2:]
    assert results[0] == {} and out[1] == b""
    assert results[1]["error"]["type"] == "IdentityError" and "k1.age" in results[1]["error"]["message"]
