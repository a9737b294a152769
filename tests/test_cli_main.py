"""cli/main.py: the program entry and its Typer-free fast path for `get`.

The fast path parses a few argv forms by hand, so it must never disagree with Typer: a
property test parses the same argv both ways, and the installed CLI is run both ways on a real
vault and must print the same bytes.
"""

from __future__ import annotations

import functools
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from secretctl.cli.main import fast_get
from tests.conftest import Member

PREFIXES = [[], [], ["--vault", "/v"], ["--vault=/v"], ["--vault="], ["--vault"], ["--json"], ["-h"], ["--version"]]
COMMANDS = ["get", "get", "get", "list", "--vault", "ls", ""]
TOKENS = ["--masked", "--json", "--show-metadata", "--field", "--field=host", "--field=", "--vault", "--vault=/v",
          "a/b", "x", "list", "-h", "--help", "--", "--bogus", "-", "", "-x", "-m", "-j", "--masked=1", "--mask",
          "--version", "--field=a=b"]
DEFAULTS = {"masked": False, "show_metadata": False, "field": None, "json_out": False}


@functools.cache
def _group() -> Any:
    import typer.main

    from secretctl.cli import app as appmod

    return typer.main.get_command(appmod.app)


def typer_parse(argv: list[str]) -> tuple[str | None, dict[str, Any]] | str:
    """What Typer makes of ``argv``: (vault, get's parameters), "other" for another command, or
    "error" when it refuses (or prints help and exits)."""
    group = _group()
    try:
        ctx = group.make_context("secretctl", list(argv))
        rest = list(getattr(ctx, "_protected_args", None) or ctx.protected_args) + list(ctx.args)
        if not rest or rest[0] != "get":
            return "other"
        sub = group.get_command(ctx, "get")
        assert sub is not None
        sctx = sub.make_context("get", rest[1:], parent=ctx)
    except (Exception, SystemExit):  # click's usage errors and help exits alike: "Typer refused"
        return "error"
    return ctx.params["vault"], sctx.params


@settings(max_examples=1000, deadline=None)
@given(st.builds(lambda p, c, key, rest: [*p, c, *rest[:key], "a/b", *rest[key:]], st.sampled_from(PREFIXES),
                 st.sampled_from(COMMANDS), st.integers(0, 4), st.lists(st.sampled_from(TOKENS), max_size=4)))
@example(["get", "a/b"])
@example(["--vault", "/v", "get", "--field", "host", "a/b", "--json"])
@example(["get", "a/b", "--field", "--masked"])
@example(["get", "a/b", "--masked", "--masked"])
@example(["get", "a/b", "x"])
@example(["get", "--", "a/b"])
def test_the_fast_path_reads_argv_exactly_as_typer_does(argv: list[str]) -> None:
    fast = fast_get(argv, {})
    if fast is None:
        return  # Typer handles it: always correct
    parsed = typer_parse(argv)
    assert parsed not in ("error", "other"), f"fast path took {argv!r}, which Typer refuses"
    vault, kwargs = fast
    assert parsed == (vault, {**DEFAULTS, **kwargs})


def test_every_short_get_reads_exactly_as_typer_does() -> None:
    """Exhaustive up to two tokens around the key (the property test above goes longer)."""
    import itertools

    checked = 0
    for prefix in PREFIXES:
        for n in range(3):
            for rest in itertools.product(TOKENS, repeat=n):
                for at in range(n + 1):
                    argv = [*prefix, "get", *rest[:at], "a/b", *rest[at:]]
                    fast = fast_get(argv, {})
                    if fast is not None:
                        checked += 1
                        assert typer_parse(argv) == (fast[0], {**DEFAULTS, **fast[1]}), argv
    assert checked > 100


@pytest.mark.parametrize("argv", [
    ["get", "a/b"],
    ["get", "a/b", "--masked"],
    ["get", "--json", "a/b"],
    ["get", "a/b", "--show-metadata", "--json"],
    ["get", "db/main", "--field", "password"],
    ["get", "db/main", "--field=host"],
    ["--vault", "/v", "get", "a/b"],
    ["--vault=/v", "get", "a/b"],
])
def test_everyday_gets_take_the_fast_path(argv: list[str]) -> None:
    fast = fast_get(argv, {})
    assert fast is not None
    assert typer_parse(argv) == (fast[0], {**DEFAULTS, **fast[1]})


@pytest.mark.parametrize("argv", [
    [], ["get"], ["get", "-h"], ["get", "a/b", "--help"], ["get", "a/b", "--bogus"], ["get", "--", "a/b"],
    ["list"], ["--version"], ["get", "a/b", "--field"], ["get", "a/b", "--masked", "--masked"],
])
def test_anything_else_goes_through_typer(argv: list[str]) -> None:
    assert fast_get(argv, {}) is None


def test_completion_always_goes_through_typer() -> None:
    assert fast_get(["get", "a/b"], {"_SECRETCTL_COMPLETE": "complete_bash"}) is None


# ---------------------------------------------------------------- the installed CLI, both ways
TYPER_ONLY = ("import sys; from secretctl.cli import app, main; "
              "main._dispatch = lambda argv: app.run(argv); sys.argv = ['secretctl', *sys.argv[1:]]; main.main()")


def run_typer(member: Member, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-c", TYPER_ONLY, *args], capture_output=True, env=member.env,
                          cwd=member.home, timeout=60)


@pytest.fixture
def stocked(alice: Member, vault_dir: Path) -> Member:
    alice.run("set", "app/token", "--expires", "3d", "--notes", "rotate monthly", "--tags", "ci",
              input=b"tok-3f9a8b7c6d5e4f30\n")
    alice.run("set", "db/main", "--field", "host=db.internal", "--field", "password", "--binding", "PGHOST=host",
              input=b"pw-7e6d5c4b3a29\n")
    return alice


@pytest.mark.parametrize("args", [
    ["get", "app/token"],
    ["get", "app/token", "--masked"],
    ["get", "--json", "app/token"],
    ["get", "app/token", "--json", "--masked"],
    ["get", "app/token", "--show-metadata"],
    ["get", "app/token", "--show-metadata", "--json"],
    ["get", "db/main", "--field", "password"],
    ["get", "db/main", "--field=host"],
    ["get", "db/main", "--field", "nosuch"],
    ["get", "nope/missing"],
    ["get", "../escape"],
    ["get", "app/token", "--bogus"],
])
def test_the_installed_cli_prints_what_typer_prints(stocked: Member, vault_dir: Path, args: list[str]) -> None:
    fast = stocked.run(*args, check=False)
    slow = run_typer(stocked, *args)
    assert (fast.returncode, fast.stdout, fast.stderr) == (slow.returncode, slow.stdout, slow.stderr)
    ok = "nope" not in args[1] and "escape" not in args[1] and "nosuch" not in args and "--bogus" not in args
    assert (fast.returncode == 0) == ok
    if ok and "--show-metadata" not in args:
        assert b"expires" in fast.stderr or args[1] == "db/main"  # the expiry warning, on both paths


def test_vault_flag_on_the_fast_path(stocked: Member, vault_dir: Path, tmp_path: Path) -> None:
    env = {k: v for k, v in stocked.env.items() if k != "SECRETCTL_VAULT"}
    out = subprocess.run([sys.executable, "-m", "secretctl.cli.main", "--vault", str(vault_dir), "get", "app/token"],
                         capture_output=True, env=env, cwd=tmp_path, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout == b"tok-3f9a8b7c6d5e4f30"


def test_a_plain_get_never_loads_typer(stocked: Member, vault_dir: Path) -> None:
    code = ("import sys; sys.argv = ['secretctl', 'get', 'app/token']\nfrom secretctl.cli import main\n"
            "try:\n    main.main()\n"
            "finally:\n    print('typer' in sys.modules, 'rich' in sys.modules, file=sys.stderr)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, env=stocked.env, cwd=stocked.home,
                         timeout=60)
    assert out.stdout == b"tok-3f9a8b7c6d5e4f30"
    assert out.stderr.strip().endswith(b"False False")
    help_code = code.replace("'get', 'app/token'", "'get', 'app/token', '--help'")
    out = subprocess.run([sys.executable, "-c", help_code], capture_output=True, env=stocked.env,
                         cwd=stocked.home, timeout=60)
    assert out.stderr.strip().splitlines()[-1].startswith(b"True")  # the check above can see typer
