"""Re-keying age headers (secretctl.infra.agerekey), checked three ways: the C2SP vectors
(tests/core/vectors/age) unwrap to their stated file key and verify or fail their MAC as they say;
re-keyed files decrypt with pyrage and with the real `age` CLI for every recipient, old and new;
and the payload bytes never change."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import subprocess
import zlib
from pathlib import Path

import pyrage
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from secretctl.core import agefile
from secretctl.errors import IdentityError, VaultCorruptError
from secretctl.infra import agerekey
from secretctl.infra.agerekey import CannotRekey, NewRecipient, Rekeyer, RekeyIdentity
from tests.conftest import AGE, needs_age

VECTORS = Path(__file__).resolve().parent.parent / "core" / "vectors" / "age"


def load(name: str) -> tuple[dict[str, list[str]], bytes]:
    head, _, body = (VECTORS / name).read_bytes().partition(b"\n\n")
    meta: dict[str, list[str]] = {}
    for line in head.decode().splitlines():
        k, _, v = line.partition(": ")
        meta.setdefault(k, []).append(v)
    return meta, zlib.decompress(body) if meta.get("compressed") == ["zlib"] else body


def _x25519_vectors() -> list[str]:
    out = []
    for p in sorted(VECTORS.iterdir()):
        if p.name == "README.md":
            continue
        meta, _ = load(p.name)
        if meta.get("armored") != ["yes"] and any(i.startswith("AGE-SECRET-KEY-1") for i in meta.get("identity", [])):
            out.append(p.name)
    return out


X25519_VECTORS = _x25519_vectors()


def test_the_x25519_vectors_are_found() -> None:
    assert len(X25519_VECTORS) == 68  # the non-armored vectors with an X25519 identity
    assert {"x25519", "x25519_multiple_recipients", "hmac_bad", "x25519_no_match"} <= set(X25519_VECTORS)


@pytest.mark.parametrize("name", X25519_VECTORS)
def test_vector_unwraps_as_expected(name: str) -> None:
    """success / payload failure: our stanza gives the stated file key and the MAC verifies;
    HMAC failure: the MAC check raises; no match: an IdentityError; header failure: the parser."""
    meta, body = load(name)
    expect = meta["expect"][0]
    ids = [i for text in meta["identity"] if text.startswith("AGE-SECRET-KEY-1")
           for i in RekeyIdentity.from_key_text(text)]
    try:
        header = agefile.parse_header(body, source=name)
    except VaultCorruptError:
        assert expect == "header failure"
        return
    rekeyer = Rekeyer(ids, [])
    if expect in ("success", "payload failure"):
        assert rekeyer.file_key(header, source=name) == bytes.fromhex(meta["file key"][0])
    elif expect == "HMAC failure":
        with pytest.raises(VaultCorruptError, match="MAC"):
            rekeyer.file_key(header, source=name)
    elif expect == "no match":
        with pytest.raises(IdentityError):
            rekeyer.file_key(header, source=name)
    else:
        pytest.fail(f"{name}: a header that parses cannot expect {expect}")


def test_scrypt_files_are_refused() -> None:
    _, body = load("scrypt")
    ident = pyrage.x25519.Identity.generate()
    with pytest.raises(CannotRekey, match="scrypt"):
        Rekeyer(RekeyIdentity.from_key_text(str(ident)), []).add_recipients(body, source="scrypt")


def _new_x25519() -> tuple[pyrage.x25519.Identity, str]:
    ident = pyrage.x25519.Identity.generate()
    return ident, str(ident.to_public())


def _new_ssh() -> tuple[bytes, str]:
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return private, public.decode()


def _age_decrypt(tmp_path: Path, data: bytes, identity_text: bytes) -> bytes:
    assert AGE is not None
    key = tmp_path / f"key-{hashlib.sha256(identity_text).hexdigest()[:8]}"
    key.write_bytes(identity_text)
    key.chmod(0o600)
    return subprocess.run([AGE, "-d", "-i", str(key)], input=data, capture_output=True, check=True).stdout


@pytest.mark.parametrize("name", ["x25519", "x25519_multiple_recipients", "x25519_grease", "stanza_valid_characters"])
def test_rekeyed_vector_decrypts_for_the_new_recipients(name: str) -> None:
    meta, body = load(name)
    new_x, new_x_text = _new_x25519()
    ssh_private, ssh_public = _new_ssh()
    ids = RekeyIdentity.from_key_text(meta["identity"][0])
    out = Rekeyer(ids, [NewRecipient.parse(new_x_text), NewRecipient.parse(ssh_public)]).add_recipients(
        body, source=name)
    old_header = agefile.parse_header(body)
    new_header = agefile.parse_header(out)
    assert out[new_header.payload_offset:] == body[old_header.payload_offset:]
    assert new_header.stanzas[: len(old_header.stanzas)] == old_header.stanzas
    assert [s.type for s in new_header.stanzas[len(old_header.stanzas):]] == ["X25519", "ssh-ed25519"]
    want = meta["payload"][0]
    for identity in (pyrage.x25519.Identity.from_str(meta["identity"][0]), new_x,
                     pyrage.ssh.Identity.from_buffer(ssh_private)):
        assert hashlib.sha256(pyrage.decrypt(out, [identity])).hexdigest() == want


@needs_age
def test_age_cli_decrypts_for_old_and_new_recipients(tmp_path: Path) -> None:
    """Both identity kinds re-key (X25519 and ssh-ed25519), for both recipient kinds; the age CLI
    reads the result with every identity."""
    plaintext = b"correct horse battery staple"
    me_x, me_x_text = _new_x25519()
    me_ssh_private, me_ssh_public = _new_ssh()
    new_x, new_x_text = _new_x25519()
    new_ssh_private, new_ssh_public = _new_ssh()
    for mine, my_key_text in ((pyrage.x25519.Recipient.from_str(me_x_text), str(me_x)),
                              (pyrage.ssh.Recipient.from_str(me_ssh_public), me_ssh_private.decode())):
        original = pyrage.encrypt(plaintext, [mine])
        out = Rekeyer(RekeyIdentity.from_key_text(my_key_text),
                      [NewRecipient.parse(new_x_text), NewRecipient.parse(new_ssh_public)]).add_recipients(
            original, source="test")
        assert plaintext not in out
        for identity_text in (my_key_text.encode(), str(new_x).encode(), new_ssh_private):
            assert _age_decrypt(tmp_path, out, identity_text) == plaintext


@needs_age
def test_rekeyed_twice_still_decrypts(tmp_path: Path) -> None:
    me, me_text = _new_x25519()
    data = pyrage.encrypt(b"v", [pyrage.x25519.Recipient.from_str(me_text)])
    second, second_text = _new_x25519()
    data = Rekeyer(RekeyIdentity.from_key_text(str(me)), [NewRecipient.parse(second_text)]).add_recipients(data)
    third, third_text = _new_x25519()
    # The second member re-keys: their stanza is not the first one.
    data = Rekeyer(RekeyIdentity.from_key_text(str(second)), [NewRecipient.parse(third_text)]).add_recipients(data)
    for ident in (me, second, third):
        assert _age_decrypt(tmp_path, data, str(ident).encode()) == b"v"


def test_a_tampered_header_is_refused() -> None:
    me, me_text = _new_x25519()
    data = pyrage.encrypt(b"v", [pyrage.x25519.Recipient.from_str(me_text)])
    rekeyer = Rekeyer(RekeyIdentity.from_key_text(str(me)), [NewRecipient.parse(_new_x25519()[1])])
    # A stanza added by someone without the file key: the MAC no longer covers the header.
    header = agefile.parse_header(data)
    forged = header.header_bytes[:-3] + NewRecipient.parse(_new_x25519()[1]).wrap(bytes(16)) + b"---"
    forged += b" " + base64.b64encode(header.mac).rstrip(b"=") + b"\n" + data[header.payload_offset:]
    with pytest.raises(VaultCorruptError, match="MAC"):
        rekeyer.add_recipients(forged)
    # Not ours at all.
    other = pyrage.encrypt(b"v", [pyrage.x25519.Recipient.from_str(_new_x25519()[1])])
    with pytest.raises(IdentityError):
        rekeyer.add_recipients(other)


def test_recipient_parsing_matches_pyrage() -> None:
    ident, text = _new_x25519()
    (mine,) = RekeyIdentity.from_key_text(f"# a comment\n{ident}\n")
    assert NewRecipient.parse(text).point == mine._point
    with pytest.raises(CannotRekey):
        NewRecipient.parse(text[:-1] + ("q" if text[-1] != "q" else "p"))  # checksum broken
    with pytest.raises(CannotRekey):
        NewRecipient.parse("ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ")
    with pytest.raises(CannotRekey):
        NewRecipient.parse("age1yubikey1qwt50d05nh5vutpdzmlg5wn80xq5negm4uj9ghv0snvdd3yysf5yw3rhl3t")


def test_ed25519_conversion_refuses_bad_points() -> None:
    p = 2**255 - 19
    with pytest.raises(ValueError):
        agerekey.ed25519_public_to_x25519((1).to_bytes(32, "little"))  # the identity point
    with pytest.raises(ValueError):
        agerekey.ed25519_public_to_x25519(p.to_bytes(32, "little"))  # y not reduced
    with pytest.raises(ValueError):
        agerekey.ed25519_public_to_x25519(bytes(31))
    # y = 2 is not on the curve: (y^2 - 1)/(d y^2 + 1) is not a square mod p.
    with pytest.raises(ValueError):
        agerekey.ed25519_public_to_x25519((2).to_bytes(32, "little"))


def test_stanza_body_lines_follow_the_grammar() -> None:
    for size in (0, 32, 47, 48, 49, 96):
        text = agerekey.stanza_text([b"X25519", b"arg"], bytes(range(size)))
        lines = text.split(b"\n")[1:-1]
        assert all(len(line) == 64 for line in lines[:-1]) and len(lines[-1]) < 64
        body = base64.b64decode(b"".join(lines) + b"=" * (-len(b"".join(lines)) % 4))
        assert body == bytes(range(size))


# ------------------------------------------------------------- passphrase files, with a floor
CHUNK = agerekey.PAYLOAD_CHUNK


@pytest.mark.parametrize("size", [0, 20, CHUNK, CHUNK + 1, 3 * CHUNK])
def test_the_floor_writers_payload_round_trips_at_every_chunk_shape(size: int) -> None:
    """The payload alone (the scrypt step costs a second at the floor: it is checked once below)."""
    plaintext = bytes(i % 251 for i in range(size))
    key, nonce = bytes(range(16)), bytes(range(16, 32))
    data = agerekey.encrypt_payload(key, nonce, plaintext)
    assert agerekey.decrypt_payload(key, data, 0) == plaintext
    chunks = -(-len(data[16:]) // (agerekey.PAYLOAD_CHUNK + 16))
    assert chunks == max(1, -(-size // agerekey.PAYLOAD_CHUNK))


@pytest.mark.long
def test_the_floor_writer_round_trips_through_rage() -> None:
    data = agerekey.encrypt_with_passphrase(b"AGE-SECRET-KEY-1EXAMPLE\n", "a-long-passphrase")
    assert agerekey.scrypt_work_factor(data, source="t") == agerekey.SCRYPT_FLOOR
    assert pyrage.passphrase.decrypt(data, "a-long-passphrase") == b"AGE-SECRET-KEY-1EXAMPLE\n"
    with pytest.raises(pyrage.DecryptError):
        pyrage.passphrase.decrypt(data, "another-passphrase")


def test_the_floor_writer_refuses_a_lower_work_factor() -> None:
    with pytest.raises(ValueError, match="below the floor"):
        agerekey.encrypt_with_passphrase(b"x", "a-long-passphrase", log2_n=agerekey.SCRYPT_FLOOR - 1)


@pytest.mark.long
@needs_age
def test_the_age_cli_decrypts_what_the_floor_writer_wrote(tmp_path: Path) -> None:
    """age reads a passphrase from the terminal only: a real pseudo-terminal types it."""
    import os
    import pty

    src, out = tmp_path / "id.age", tmp_path / "id.txt"
    src.write_bytes(agerekey.encrypt_with_passphrase(b"AGE-SECRET-KEY-1EXAMPLE\n", "a-long-passphrase"))
    pid, fd = pty.fork()
    if pid == 0:  # the child: exec at once
        os.execv(str(AGE), [str(AGE), "-d", "-o", str(out), str(src)])  # noqa: S606 - the real CLI, no shell
    seen = b""
    while b"passphrase" not in seen.lower():
        seen += os.read(fd, 1024)
    os.write(fd, b"a-long-passphrase\n")
    with contextlib.suppress(OSError):  # EIO once the child closes the terminal
        while os.read(fd, 1024):
            pass
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, seen
    assert out.read_bytes() == b"AGE-SECRET-KEY-1EXAMPLE\n"


@pytest.mark.long
def test_a_low_work_factor_from_rage_is_replaced_by_the_floor(monkeypatch: pytest.MonkeyPatch) -> None:
    """rage sizes its work factor to about a second on the machine as loaded at that moment (a
    busy machine got 15): what the package writes never goes below the floor."""
    from secretctl.core.secret import Secret
    from secretctl.infra import crypto
    from tests.weak_scrypt import encrypt_with_passphrase as weak

    monkeypatch.setattr(pyrage.passphrase, "encrypt", lambda data, pw: weak(data, pw, 10))
    data = crypto.encrypt_with_passphrase(Secret(b"AGE-SECRET-KEY-1EXAMPLE\n"), "a-long-passphrase")
    assert agerekey.scrypt_work_factor(data, source="t") == agerekey.SCRYPT_FLOOR
    monkeypatch.undo()
    assert pyrage.passphrase.decrypt(data, "a-long-passphrase") == b"AGE-SECRET-KEY-1EXAMPLE\n"


SCRYPT_VECTORS = sorted(p.name for p in VECTORS.iterdir()
                        if p.name.startswith("scrypt") and load(p.name)[0].get("armored") != ["yes"])


def test_the_scrypt_vectors_are_found() -> None:
    assert {"scrypt", "scrypt_bad_tag", "scrypt_no_match", "scrypt_work_factor_23", "scrypt_and_x25519"} <= \
        set(SCRYPT_VECTORS)


@pytest.mark.parametrize("name", SCRYPT_VECTORS)
def test_the_fixed_limit_reader_agrees_with_the_scrypt_vectors(name: str) -> None:
    from secretctl.errors import WrongPasswordError

    meta, data = load(name)
    passphrase = meta["passphrase"][0]
    if meta["expect"] == ["success"]:
        plaintext = agerekey.decrypt_with_passphrase(data, passphrase, source=name)
        assert hashlib.sha256(plaintext).hexdigest() == meta["payload"][0]
        return
    wrong_password = meta["expect"] == ["no match"] and name != "scrypt_uppercase"  # "Scrypt" is no scrypt stanza
    expected = WrongPasswordError if wrong_password else VaultCorruptError
    with pytest.raises(expected):
        agerekey.decrypt_with_passphrase(data, passphrase, source=name)


def test_a_work_factor_rage_refuses_for_the_load_is_read_with_the_fixed_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    """rage accepts up to 16 times the work it measures as a second right now: an identity written
    at 2^20 on an idle machine was refused on a busy one, and read as "wrong password"."""
    from secretctl.errors import WrongPasswordError
    from secretctl.infra import crypto
    from tests.weak_scrypt import encrypt_with_passphrase as weak

    data = weak(b"AGE-SECRET-KEY-1EXAMPLE\n", "a-long-passphrase")  # rage's refusal is simulated below

    def busy(ciphertext: bytes, passphrase: str) -> bytes:
        raise pyrage.DecryptError("Excessive work parameter for passphrase.\nDecryption would take around 20 seconds.")

    monkeypatch.setattr(pyrage.passphrase, "decrypt", busy)
    assert crypto.decrypt_with_passphrase(data, "a-long-passphrase", source="id").reveal() == \
        b"AGE-SECRET-KEY-1EXAMPLE\n"
    with pytest.raises(WrongPasswordError):
        crypto.decrypt_with_passphrase(data, "not-the-passphrase", source="id")
    tampered = bytearray(data)
    tampered[-1] ^= 1
    with pytest.raises(VaultCorruptError, match="payload"):
        crypto.decrypt_with_passphrase(bytes(tampered), "a-long-passphrase", source="id")
