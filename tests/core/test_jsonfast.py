"""core/jsonfast.py writes and reads exactly what the json package does, without importing it."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from secretctl.core import jsonfast

SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
DOCS = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
                    max_leaves=20)


@given(DOCS, st.booleans())
def test_dumps_writes_the_bytes_json_writes(doc: object, sort_keys: bool) -> None:
    assert jsonfast.dumps(doc, sort_keys=sort_keys) == json.dumps(doc, separators=(",", ":"), sort_keys=sort_keys)


@given(DOCS, st.sampled_from([None, 0, 2]))
def test_loads_reads_what_json_reads(doc: object, indent: int | None) -> None:
    text = json.dumps(doc, indent=indent, ensure_ascii=indent == 2)
    assert jsonfast.loads(text.encode()) == json.loads(text)
    assert jsonfast.loads(f" \n{text}\t") == doc


@pytest.mark.parametrize("bad", [b"", b" ", b"{", b"{} x", b"[1,]", b"nul", b"{'a': 1}", b"\xff", b"[1] [2]"])
def test_loads_refuses_what_json_refuses(bad: bytes) -> None:
    with pytest.raises(ValueError):
        json.loads(bad)
    with pytest.raises(ValueError):
        jsonfast.loads(bad)


def test_constants_and_unpaired_surrogates_as_json() -> None:
    assert math.isnan(jsonfast.loads(b"NaN")) and jsonfast.loads(b"-Infinity") == float("-inf")
    assert jsonfast.dumps({"k": "\x00\ud800", "f": float("inf")}) == json.dumps({"k": "\x00\ud800", "f": float("inf")},
                                                                                  separators=(",", ":"))
    with pytest.raises(TypeError):
        jsonfast.dumps({"b": b"bytes"})


def test_it_does_not_import_json_or_re() -> None:
    code = ("import sys; from secretctl.core import jsonfast; jsonfast.loads(jsonfast.dumps({'a': [1]}));"
            "print(sorted(m for m in ('json', 're', 'typing') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
