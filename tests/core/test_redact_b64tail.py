"""Base64 standing alone, of a value whose length is not a multiple of 3: its last 2 or 3
characters (before any "=") are decoded too. A lean redactor (a big vault's, for values a run did
not inject: no fragments, no base64 literals) relies on the decoded run alone, and cutting the
tail off left the value incomplete (32 bytes: 30 decoded), so `base64 <<< value` passed."""

from __future__ import annotations

import base64
import os

import pytest

from secretctl.core.redact import Redactor
from secretctl.core.secret import Secret


@pytest.mark.parametrize("size", [24, 25, 26, 32, 33, 34, 40])
@pytest.mark.parametrize("padded", [True, False])
@pytest.mark.parametrize("alphabet", ["std", "url"])
def test_a_lean_redactor_redacts_base64_of_a_value(size: int, padded: bool, alphabet: str) -> None:
    value = os.urandom(size // 2 + 1).hex().encode()[:size]
    others = {f"o{i}": Secret(os.urandom(16).hex().encode()) for i in range(5)}
    red = Redactor.build({"k": Secret(value), **others}, fragments=False, lean=True)
    enc = base64.b64encode(value) if alphabet == "std" else base64.urlsafe_b64encode(value)
    enc = enc if padded else enc.rstrip(b"=")
    for line in (enc + b"\n", b"token: " + enc + b"\n", b'{"v":"' + enc + b'"}\n'):
        out = red.redact(line)
        assert enc.rstrip(b"=") not in out and b"[REDACTED:k]" in out, (line, out)
