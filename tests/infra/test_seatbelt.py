"""The macOS profile text (infra/seatbelt.py): it cannot run here, so its text is what we test."""

from __future__ import annotations

import pytest

from secretctl.infra import seatbelt


def test_profile_denies_by_default_and_hides_our_files() -> None:
    text = seatbelt.profile("/usr/bin/true", workspace=("/Users/me/w",), read=("/Users/me/r",),
                            hidden=["/Users/me/Library/Application Support/secretctl", "/Users/me/vault"],
                            home="/tmp/h")
    lines = text.splitlines()
    assert lines[:2] == ["(version 1)", "(deny default)"]
    assert '(subpath "/Users/me/w")' in text and '(subpath "/Users/me/r")' in text
    write_line = next(ln for ln in lines if "file-write*" in ln and ln.startswith("(allow file-read* file-write*"))
    assert "/Users/me/r" not in write_line  # read paths are read-only
    deny = lines.index(next(ln for ln in lines if ln.startswith("(deny file-read* file-write*")))
    allow = lines.index(write_line)
    assert deny > allow  # SBPL: the last matching rule wins
    assert '"/Users/me/Library/Application Support/secretctl"' in lines[deny]
    assert lines[-1] == "(deny network*)"


def test_network_only_to_the_proxy_port() -> None:
    text = seatbelt.profile("/usr/bin/curl", read=(), workspace=(), hidden=[], home="/tmp/h", proxy_port=4321)
    assert '(allow network-outbound (remote ip "localhost:4321"))' in text
    assert "(deny network*)" not in text


def test_quoting() -> None:
    assert seatbelt.quote('/a "b"\\c') == '"/a \\"b\\"\\\\c"'
    with pytest.raises(ValueError, match="control character"):
        seatbelt.quote("/a\n(allow default)")
