"""core/schema: the one YAML home; every malformed input is one SecretctlError naming file and line."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from secretctl.core import schema
from secretctl.errors import PolicyError, SecretctlError, VaultCorruptError
from tests.hyp import examples


def test_load_gives_plain_data() -> None:
    assert schema.load(b"a: 1\nb: [x, y]\n", source="f.yaml") == {"a": 1, "b": ["x", "y"]}


def test_a_scanner_error_names_the_file_and_line_and_never_the_text() -> None:
    with pytest.raises(VaultCorruptError) as err:
        schema.load(b"ok: 1\nbad: \"unterminated S3cretValue\n", source="db.meta.yaml")
    assert err.value.message.startswith("db.meta.yaml:")
    assert "S3cretValue" not in err.value.message + (err.value.hint or "")


def test_the_caller_chooses_the_error_type() -> None:
    with pytest.raises(PolicyError):
        schema.load(b"[", source="policy.yaml", error=PolicyError)


def test_objects_are_never_constructed() -> None:
    with pytest.raises(VaultCorruptError):
        schema.load(b"!!python/object/apply:os.system ['true']\n", source="x")


def test_node_errors_carry_the_line() -> None:
    root = schema.compose(b"version: 1\nlist: 5\n", source="p.yaml", error=PolicyError)
    assert root is not None
    top = root.mapping("policy")
    with pytest.raises(PolicyError, match=r"^p\.yaml:2: list must be a list$"):
        top["list"].seq("list")
    assert top["version"].integer("version") == 1


def test_duplicate_keys_are_refused() -> None:
    root = schema.compose(b"a: 1\na: 2\n", source="p.yaml")
    assert root is not None
    with pytest.raises(VaultCorruptError, match="duplicate key 'a'"):
        root.mapping("top")


def test_dump_round_trips() -> None:
    data = {"b": "é", "a": [1, 2], "c": {"d": None}}
    assert schema.load(schema.dump(data).encode(), source="x") == data


@settings(max_examples=examples(200), deadline=None)
@given(st.binary(max_size=200))
def test_any_bytes_either_load_or_raise_a_secretctl_error(data: bytes) -> None:
    with contextlib.suppress(SecretctlError):  # the property: nothing else escapes
        schema.load(data, source="fuzz")
