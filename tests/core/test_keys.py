"""core/keys: key names, where they live on disk, patterns and case collisions."""

from __future__ import annotations

import pytest

from secretctl.core import keys
from secretctl.errors import UsageError


@pytest.mark.parametrize("key", ["aws/secret_key", "a", "db/main-pass.v2", "x/" * 15 + "y"])
def test_valid_keys(key: str) -> None:
    assert keys.validate_key(key) == key
    assert keys.key_from_path(keys.secret_path(key)) == key
    assert keys.meta_path(key) == key + ".meta.yaml"


@pytest.mark.parametrize(("key", "why"), [
    ("", "empty"), ("a//b", "empty segment"), ("/a", "empty segment"), ("a/", "empty segment"),
    ("../etc/passwd", "'..' segments"), ("a/./b", "'.' segments"), (".hidden", "may not start with '.'"),
    ("a b", "outside"), ("a/con", "reserved device name"), ("x.age", "may not end in .age"),
    ("x.meta.yaml", "may not end in .age or .meta.yaml"), ("x" * 300, "longer than"), ("a/" * 20 + "b", "deeper"),
])
def test_invalid_keys_name_the_rule(key: str, why: str) -> None:
    with pytest.raises(UsageError) as err:
        keys.validate_key(key)
    assert why in err.value.message
    assert err.value.hint


@pytest.mark.parametrize(("pattern", "key", "hit"), [
    ("aws/*", "aws/a", True), ("aws/*", "aws/deep/b", False), ("aws/**", "aws/deep/b", True),
    ("aws/*", "awsx/a", False), ("*", "top", True), ("*", "a/b", False), ("db/pass", "db/pass", True),
])
def test_patterns(pattern: str, key: str, hit: bool) -> None:
    assert keys.match_pattern(pattern, key) is hit


def test_keys_differing_only_in_case_are_refused() -> None:
    with pytest.raises(UsageError):
        keys.check_case_collision("AWS/Key", ["aws/key"])
    keys.check_case_collision("aws/other", ["aws/key"])
