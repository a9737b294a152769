"""The all-values redactor of a big vault, built in two chunks (the first compiled while the rest
is decrypted, then joined): it redacts exactly what one build over every value redacts, and it is
taken only when the first chunk alone makes the build lean."""

from __future__ import annotations

import base64
import os

import pytest

from secretctl.core.redact import Redactor
from secretctl.core.secret import Secret
from secretctl.service import allvalues
from secretctl.service.results import FieldInput, SetRequest
from secretctl.service.vault import Vault


@pytest.fixture
def big(inproc: Vault, monkeypatch: pytest.MonkeyPatch) -> dict[str, bytes]:
    # 60 keys stand for a big vault: pipelined past 20, lean past 10 values.
    monkeypatch.setattr(allvalues, "PIPELINE_MIN", 20)
    monkeypatch.setattr(allvalues, "FRAGMENTS_ALL_MAX", 10)
    values = {f"svc{i % 7}/key{i}": os.urandom(16).hex().encode() for i in range(59)}
    values["svc0/key3"] = values["svc6/key55"]  # one value under two keys, one in each chunk
    inproc.import_entries([(k, Secret(v)) for k, v in values.items()])
    inproc.set("db/main", SetRequest(fields=[FieldInput("host", Secret(b"db.internal.example"), sensitive=False),
                                             FieldInput("password", Secret(b"pw-Pipeline-Field-7781"))]))
    values["db/main:password"] = b"pw-Pipeline-Field-7781"
    return values


def _output(values: dict[str, bytes]) -> bytes:
    lines = [b"host db.internal.example ok"]
    for v in values.values():
        lines += [b"v=" + v, b"b64 " + base64.b64encode(v), b"hex " + v.hex().encode(), v.upper(), v[::-1]]
    return b"\n".join(lines) + b"\n"


def test_the_pipelined_build_redacts_what_one_build_does(inproc: Vault, big: dict[str, bytes],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    joined: list[int] = []
    real = Redactor.joined

    def counting(parts: list[Redactor]) -> Redactor:
        joined.append(len(parts))
        return real(parts)

    monkeypatch.setattr(Redactor, "joined", staticmethod(counting))
    piped = allvalues.values_redactor(inproc)
    assert joined == [2]  # it was pipelined
    monkeypatch.setattr(allvalues, "PIPELINE_MIN", 10**9)
    whole = allvalues.values_redactor(inproc)
    assert joined == [2]
    out = _output(big)
    assert piped.redact(out) == whole.redact(out)
    assert piped.lean and whole.lean and piped.labels == whole.labels
    redacted = piped.redact(out)
    assert b"host db.internal.example ok" in redacted  # a public field stays
    for v in big.values():  # (lean: no base64 literals; a run adds them for what it injects)
        assert v not in redacted and v.hex().encode() not in redacted and v.upper() not in redacted
    stream = piped.stream()
    assert b"".join([*(stream.feed(out[i:i + 7]) for i in range(0, len(out), 7)), stream.close()]) == redacted


def test_not_pipelined_when_the_first_chunk_is_not_lean(inproc: Vault, big: dict[str, bytes],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    # The vault is lean only as a whole (the first chunk holds fewer values than the limit): one
    # build, as before, with the lean decision taken over every value.
    monkeypatch.setattr(allvalues, "FRAGMENTS_ALL_MAX", 50)
    red = allvalues.values_redactor(inproc)
    assert red.lean  # 60 values > 50
    assert len(red._raw._parts) == 1


def test_a_run_checks_its_arguments_without_listing_every_entry(inproc: Vault, big: dict[str, bytes],
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    # secret_run waits for the redactor anyway: it asks it first, and lists what secret_list shows
    # (every sidecar) only for an argument the redactor flags. The refusal is the same.
    from secretctl.errors import PolicyError
    from secretctl.service.session import AgentSession

    session = AgentSession(inproc)
    listed: list[int] = []
    real = Vault.list_entries
    monkeypatch.setattr(Vault, "list_entries", lambda self, *a, **k: listed.append(1) or real(self, *a, **k))
    session._check_arguments("secret_run", ["echo", "harmless-argument"], waiting=True)
    assert listed == []
    value = big["svc1/key1"].decode()
    with pytest.raises(PolicyError, match="secret material"):
        session._check_arguments("secret_run", ["echo", "--token=" + value], waiting=True)
    assert listed == [1]  # a flagged argument is looked up among keys, folders and tags first
    assert session.strikes == 1


def test_lean_forms_never_stand_in_for_full_ones(inproc: Vault, big: dict[str, bytes],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    # A lean build computes lean forms (no fragment anchors, no base64 cores), cached apart: a
    # later full build (the vault shrank under the limit) with the same cache has fragments.
    cache = allvalues.ValuesCache()
    lean = allvalues.values_redactor(inproc, cache=cache)
    value = big["svc2/key2"]
    # Before it no hex letter: a fragment grows over the text beside it that continues the value
    # ("id=" after a value whose 3rd character is d read "d" as part of it, 1 run in 16).
    fragment = b"ok=" + value[3:15] + b"\n"
    assert lean.lean and lean.redact(fragment) == fragment  # no fragments when lean
    monkeypatch.setattr(allvalues, "FRAGMENTS_ALL_MAX", 1000)
    full = allvalues.values_redactor(inproc, cache=cache)
    assert not full.lean
    assert full.redact(fragment) == b"ok=[REDACTED:svc2/key2]\n"
    assert full.redact(base64.b64encode(b"x" + value) + b"\n").startswith(b"[REDACTED:svc2/key2]")


def test_a_value_rewritten_in_place_within_the_same_clock_tick_is_read_again(
        inproc: Vault, monkeypatch: pytest.MonkeyPatch) -> None:
    # Bulk writes rewrite a file in its own inode: an import overwriting a value with one of the
    # same length, within the clock tick the cache read the old one in, can leave inode, size and
    # mtime as they were. The rebuild must still redact the new value, not only the old.
    from secretctl.core import keys as keys_mod
    from secretctl.infra import crypto

    real = crypto.encrypt_to

    def same_size(plaintext: Secret, recipients: object) -> bytes:
        # rage adds a random grease stanza: encrypt until the size is the old file's.
        while len(out := real(plaintext, recipients)) != before[0][1]:
            pass
        return out


    old, new = b"first-value-1234567890", b"other-value-0987654321"
    inproc.import_entries([("app/token", Secret(old))])
    cache = allvalues.ValuesCache()
    assert allvalues.values_redactor(inproc, cache=cache).redact(old) == b"[REDACTED:app/token]"
    files = [inproc.root / keys_mod.secret_path("app/token"), inproc.root / keys_mod.meta_path("app/token")]
    before = [(f.stat().st_ino, f.stat().st_size, f.stat().st_mtime_ns) for f in files]
    monkeypatch.setattr(crypto, "encrypt_to", same_size)
    inproc.import_entries([("app/token", Secret(new))], on_conflict="overwrite")
    for f, (_, _, mtime) in zip(files, before, strict=True):
        os.utime(f, ns=(mtime, mtime))  # the same clock tick
    assert [(f.stat().st_ino, f.stat().st_size, f.stat().st_mtime_ns) for f in files] == before
    assert allvalues.values_redactor(inproc, cache=cache).redact(new) == b"[REDACTED:app/token]"
