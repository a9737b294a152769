"""core.fields and core.templates: the sensitivity rule, the encrypted document, per-field masks."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from secretctl.core import fields
from secretctl.core.meta import Field, Meta, parse_meta, render_meta
from secretctl.core.secret import Secret
from secretctl.core.templates import TEMPLATES, get_template
from secretctl.errors import UsageError, VaultCorruptError

NOW = datetime(2026, 11, 30, tzinfo=UTC)


def meta_with(*flds: Field) -> Meta:
    return Meta(created=NOW, updated=NOW, updated_by="t", fields=flds)


@pytest.mark.parametrize("name", ["password", "db_password", "dbPassword", "PASSWD", "api_token", "apiToken",
                                  "secret", "client_secret", "AWS_SECRET_ACCESS_KEY", "private_key", "privateKey",
                                  "ssh-key", "apikey", "key", "pin", "user_pin", "pwd", "pass", "passphrase",
                                  "credential", "credentials", "creds", "auth", "otp", "mnemonic", "signing.key"])
def test_secret_looking_names(name: str) -> None:
    assert fields.secret_word(name) is not None
    with pytest.raises(UsageError) as exc:
        fields.check_public(name)
    assert name in exc.value.message


@pytest.mark.parametrize("name", ["host", "hostname", "port", "user", "username", "database", "dbname", "endpoint",
                                  "url", "region", "spinner", "keyspace", "bypass", "account_id"])
def test_ordinary_names(name: str) -> None:
    # Short words count only as whole words: "bypass" is not a password, "spinner" not a pin.
    assert fields.secret_word(name) is None
    fields.check_public(name)


@pytest.mark.parametrize("kind", ["password", "token"])
def test_secret_kinds(kind: str) -> None:
    assert fields.secret_word("login", kind) == kind
    assert fields.is_sensitive(Field("login", False, kind=kind))


def test_is_sensitive_overrules_a_sidecar() -> None:
    assert fields.is_sensitive(Field("password", False))
    assert not fields.is_sensitive(Field("host", False))
    assert fields.is_sensitive(Field("host", True))


def test_document_round_trip_is_sorted_json() -> None:
    doc = fields.encode_document({"b": Secret(b"2"), "a": Secret("é".encode())})
    assert doc.reveal() == '{"a": "é", "b": "2"}'.encode()
    assert {k: v.reveal() for k, v in fields.decode_document(doc, source="x.age").items()} == {
        "a": "é".encode(), "b": b"2"}


@pytest.mark.parametrize("raw", [b"not json", b"[1]", b'{"a": 1}', b"\xff\xfe", b'"text"'])
def test_decode_refuses_without_echoing(raw: bytes) -> None:
    with pytest.raises(VaultCorruptError) as exc:
        fields.decode_document(Secret(raw), source="db.age")
    assert exc.value.message.startswith("db.age: ")
    assert raw.decode(errors="replace") not in exc.value.message


@given(st.dictionaries(st.text(min_size=1, max_size=20), st.text(max_size=50), max_size=8))
def test_document_round_trip_property(values: dict[str, str]) -> None:
    # Lone surrogates cannot travel as UTF-8; field values come from UTF-8 input.
    values = {k: v for k, v in values.items() if k.isprintable() and _utf8(k) and _utf8(v)}
    doc = fields.encode_document({k: Secret(v.encode()) for k, v in values.items()})
    assert json.loads(doc.reveal()) == values
    back = fields.decode_document(doc, source="x")
    assert {k: v.reveal().decode() for k, v in back.items()} == values


@given(st.binary(max_size=200))
def test_decode_never_raises_anything_else(raw: bytes) -> None:
    with contextlib.suppress(VaultCorruptError):
        fields.decode_document(Secret(raw), source="x")


def _utf8(s: str) -> bool:
    try:
        s.encode()
    except UnicodeEncodeError:
        return False
    return True


def test_masks_each_field_with_its_own_length() -> None:
    m = meta_with(Field("host", False), Field("password", True), Field("pin", True))
    values = {"host": Secret(b"db.internal"), "password": Secret(b"S3cret-Value-42!"), "pin": Secret(b"1234")}
    masked = fields.mask_fields(m, values)
    assert [(x.name, x.masked_value, x.value_length, x.sensitive) for x in masked] == [
        ("host", "****rnal", 11, False), ("password", "****-42!", 16, True), ("pin", "****", 4, True)]


def test_values_fall_back_to_an_old_sidecar() -> None:
    m = meta_with(Field("host", False, "h.example"), Field("token", True))
    values = fields.field_values(m, {"token": Secret(b"t")})
    assert {k: v.reveal() for k, v in values.items()} == {"host": b"h.example", "token": b"t"}
    assert set(fields.sensitive_values(m, values)) == {"token"}


def test_legacy_sidecar_problem_names_fields_never_values() -> None:
    m = meta_with(Field("host", False, "h.example"), Field("password", False, "hunter2hunter2"), Field("token", True))
    problem = fields.legacy_problem(m)
    assert problem is not None
    assert "host" in problem and "password" in problem and "migrate fields" in problem
    assert "hunter2" not in problem and "h.example" not in problem
    assert [(x.name, x.rotate) for x in fields.legacy_fields(m)] == [("host", False), ("password", True)]
    fixed = fields.migrated(m)
    assert fields.legacy_problem(fixed) is None
    assert [(f.name, f.sensitive, f.value) for f in fixed.fields] == [
        ("host", False, None), ("password", True, None), ("token", True, None)]
    assert b"value:" not in render_meta(fixed)
    parse_meta(render_meta(fixed), source="x")


def test_check_inputs() -> None:
    ok = [fields.FieldInput("host", Secret(b"h"), False), fields.FieldInput("password", Secret(b"p"))]
    fields.check_inputs(ok, [("PGHOST", "host")])
    with pytest.raises(UsageError, match="twice"):
        fields.check_inputs([*ok, fields.FieldInput("host", Secret(b"x"))], [])
    with pytest.raises(UsageError, match="unknown field"):
        fields.check_inputs(ok, [("X", "nope")])
    with pytest.raises(UsageError, match="cannot be public"):
        fields.check_inputs([fields.FieldInput("api_key", Secret(b"k"), False)], [])


def test_input_schema_never_carries_the_value() -> None:
    f = fields.FieldInput("host", Secret(b"h.example"), False, "host").schema()
    assert f.value is None and not f.sensitive and f.kind == "host"


def test_templates_are_consistent() -> None:
    assert set(TEMPLATES) == {"database", "login", "api", "ssh"}
    for t in TEMPLATES.values():
        for f in t.fields:
            assert f.sensitive == (fields.secret_word(f.name, f.kind) is not None), (t.name, f.name)
            assert any(x.required and x.sensitive for x in t.fields)
    assert get_template("database").field("dbname") is not None
    with pytest.raises(UsageError) as exc:
        get_template("mongo")
    assert "database" in (exc.value.hint or "")


@pytest.mark.parametrize("name", ["public_key", "publicKey", "PUBLIC_KEY", "ssh_pub_key", "pubkey", "publickey",
                                  "signing_public_key", "public_keys"])
def test_the_public_half_of_a_key_pair_can_be_public(name: str) -> None:
    fields.check_public(name)  # no error
    assert not fields.is_sensitive(Field(name, sensitive=False))


@pytest.mark.parametrize("name", ["public_key_password", "public_private_key", "pub_key_pin", "key", "api_key",
                                  "private_key", "publisher_key", "public_token"])
def test_other_secret_words_in_a_public_key_name_still_count(name: str) -> None:
    with pytest.raises(UsageError):
        fields.check_public(name)
