"""`member add` re-keys headers (payload unchanged) and `member remove` re-encrypts afresh:
checked through the installed `secretctl`, real git and the real `age` CLI."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from secretctl.core import agefile
from tests.conftest import AGE, Member, git, make_member, needs_age

VALUES = {"app/token": b"token-value-1", "app/db/password": b"db-password-2", "top": b"top-value-3"}


def payloads(root: Path) -> dict[str, bytes]:
    out = {}
    for key in VALUES:
        data = (root / f"{key}.age").read_bytes()
        out[key] = data[agefile.parse_header(data).payload_offset:]
    return out


def age_decrypt(identity: Path, path: Path) -> bytes:
    assert AGE is not None
    return subprocess.run([AGE, "-d", "-i", str(identity), str(path)], capture_output=True, check=True).stdout


def ssh_member(tmp_path: Path) -> tuple[Path, str]:
    key = Ed25519PrivateKey.generate()
    path = tmp_path / "carol_ed25519"
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                       serialization.NoEncryption()))
    path.chmod(0o600)
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return path, public.decode() + " carol@laptop"


@needs_age
def test_member_add_keeps_every_payload_and_each_member_decrypts_with_age(
        tmp_path: Path, alice: Member, vault_dir: Path) -> None:
    for key, value in VALUES.items():
        alice.run("set", key, input=value)
    before = payloads(vault_dir)
    bob = make_member(tmp_path, "bob")
    carol_key, carol_public = ssh_member(tmp_path)
    alice.run("member", "add", "bob", bob.recipient)
    alice.run("member", "add", "carol", carol_public)
    assert payloads(vault_dir) == before  # the same bytes: nothing was decrypted and encrypted again
    for key, value in VALUES.items():
        path = vault_dir / f"{key}.age"
        stanzas = [s.type for s in agefile.parse_header(path.read_bytes()).stanzas]
        assert stanzas[-2:] == ["X25519", "ssh-ed25519"]
        for identity in (alice.identity, bob.identity, carol_key):
            assert age_decrypt(identity, path) == value
    assert alice.run("check").returncode == 0
    assert git(vault_dir, "status", "--porcelain") == ""
    # reencrypt finds nothing stale: the sidecars name the new recipient sets.
    assert alice.run("reencrypt", "--dry-run").stdout.decode().split() == []
    # A removal re-encrypts under fresh file keys: new payloads, and bob's stanza is gone.
    alice.run("member", "remove", "bob", "-y")
    after = payloads(vault_dir)
    assert all(after[k] != before[k] for k in VALUES)
    for key, value in VALUES.items():
        path = vault_dir / f"{key}.age"
        assert age_decrypt(carol_key, path) == value
        out = subprocess.run([AGE, "-d", "-i", str(bob.identity), str(path)], capture_output=True, check=False)
        assert out.returncode != 0 and value not in out.stdout


@needs_age
def test_member_add_with_an_ssh_identity_and_a_stale_file(tmp_path: Path, alice: Member, vault_dir: Path) -> None:
    """Alice's own key is ssh-ed25519: her stanza unwraps the file key too. A file whose sidecar
    names another recipient set is re-encrypted in full instead (its payload changes)."""
    ssh_key, ssh_public = ssh_member(tmp_path)
    alice.run("identity", "import", str(ssh_key), "--no-passphrase", "--force")
    rec = vault_dir / ".age-recipients"
    rec.write_text(f"# alice\n{ssh_public.rsplit(' ', 1)[0]}\n")
    git(vault_dir, "commit", "-qam", "alice uses her ssh key", env=alice.env)
    for key, value in VALUES.items():
        alice.run("set", key, input=value)
    meta = vault_dir / "top.meta.yaml"
    text = meta.read_text()
    meta.write_text("\n".join(ln for ln in text.splitlines() if not ln.startswith("recipients_fingerprint")) + "\n")
    git(vault_dir, "commit", "-qam", "sidecar without a fingerprint", env=alice.env)
    before = payloads(vault_dir)
    bob = make_member(tmp_path, "bob")
    alice.run("member", "add", "bob", bob.recipient)
    after = payloads(vault_dir)
    assert after["app/token"] == before["app/token"] and after["app/db/password"] == before["app/db/password"]
    assert after["top"] != before["top"]
    for key, value in VALUES.items():
        assert age_decrypt(bob.identity, vault_dir / f"{key}.age") == value
        assert age_decrypt(ssh_key, vault_dir / f"{key}.age") == value


@pytest.mark.parametrize("kind", ["ssh-rsa"])
def test_member_add_for_a_recipient_that_cannot_be_rekeyed_re_encrypts(
        tmp_path: Path, alice: Member, vault_dir: Path, kind: str) -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    alice.run("set", "app/token", input=b"token-value-1")
    before = payloads_of(vault_dir, "app/token")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    alice.run("member", "add", "dave", public.decode())
    assert payloads_of(vault_dir, "app/token") != before
    assert alice.run("get", "app/token").stdout == b"token-value-1"


def payloads_of(root: Path, key: str) -> bytes:
    data = (root / f"{key}.age").read_bytes()
    return data[agefile.parse_header(data).payload_offset:]
