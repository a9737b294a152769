"""core/envmap: keys to environment variable names, patterns, aliases and $NAME expansion."""

from __future__ import annotations

import pytest

from secretctl.core import envmap
from secretctl.errors import NotFoundError, PolicyError, UsageError


@pytest.mark.parametrize(("key", "prefix", "name"), [
    ("aws/access_key", "", "AWS_ACCESS_KEY"),
    ("db/main-pass.v2", "", "DB_MAIN_PASS_V2"),
    ("token", "APP_", "APP_TOKEN"),
    ("db:password", "", "DB_PASSWORD"),
])
def test_env_names(key: str, prefix: str, name: str) -> None:
    assert envmap.env_name(key, prefix) == name


def test_a_key_that_makes_no_valid_name_is_refused_with_a_hint() -> None:
    with pytest.raises(UsageError) as err:
        envmap.env_name("9lives")
    assert err.value.hint and "--env-prefix" in err.value.hint
    assert envmap.env_name("9lives", "X_") == "X_9LIVES"


@pytest.mark.parametrize("name", ["LD_PRELOAD", "DYLD_INSERT_LIBRARIES", "GIT_CONFIG_GLOBAL", "SECRETCTL_PASSWORD",
                                  "BASH_FUNC_x%%"])
def test_names_that_change_how_programs_start_are_never_injected(name: str) -> None:
    with pytest.raises(PolicyError):
        envmap.check_injectable(name)


def test_two_keys_on_one_name_are_named_both() -> None:
    with pytest.raises(UsageError, match="a/b and a-b both map to A_B"):
        envmap.build_env_map(["a/b", "a-b"])


def test_patterns_keep_their_order_and_an_empty_match_is_an_error() -> None:
    keys = ["aws/a", "aws/b", "db/c", "aws/deep/d"]
    assert envmap.expand_patterns(["db/*", "aws/*", "db/c"], keys) == ["db/c", "aws/a", "aws/b"]
    assert envmap.expand_patterns(["aws/**"], keys) == ["aws/a", "aws/b", "aws/deep/d"]
    with pytest.raises(NotFoundError):
        envmap.expand_patterns(["nope/*"], keys)


def test_expansion_replaces_only_injected_names() -> None:
    env = {"TOKEN": "t0k"}
    assert envmap.expand_args(["--auth=$TOKEN", "${TOKEN}", "$HOME"], env, {"TOKEN"}) == ["--auth=t0k", "t0k", "$HOME"]
    assert envmap.referenced(["$HOME", "x$TOKEN"], {"TOKEN"}) == ["TOKEN"]
