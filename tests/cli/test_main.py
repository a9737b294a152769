"""cli/main.py: the program entry and its Typer-free fast path for `get`, `run`, `set` and `list`.

The fast path parses a few argv forms by hand, so it must never disagree with Typer. The same
argv goes through the real Typer app (with the two commands' bodies replaced by recorders) and
through the fast path, and both must call the same function with the same arguments:
exhaustively for short argv, by property for longer ones. Then the installed CLI is run both ways
on a real vault and must print the same bytes.
"""

from __future__ import annotations

import functools
import inspect
import itertools
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from secretctl.cli.main import SPECS, fast_parse
from tests import inproc_cli
from tests.cli.typer_recorder import group, run_recorded
from tests.conftest import SECRETCTL, Member, stock_once
from tests.hyp import examples

PREFIXES = [[], [], ["--vault", "/v"], ["--vault=/v"], ["--vault="], ["--vault"], ["--json"], ["-h"], ["--version"]]
COMMANDS = ["get", "run", "set", "list", "get", "run", "set", "list", "--vault", "ls", "exists", ""]
EXTRA = ["a/b", "x", "echo", "-", "", "--", "-h", "--help", "--bogus", "-x", "-m", "-kaws/*", "--masked=1",
         "--mask", "--version", "--field=a=b", "--env-prefix=APP_", "--timeout=5m", "--key=db/*", "--json=1",
         "--from-file=f", "--length=5", "-l", "5", "--tags=a,b", "--notes=", "--expiring=7d", "--tag", "ci", "*"]


@functools.cache
def tokens() -> list[str]:
    """Every option the two commands have (from Typer itself) or the fast path knows, plus odd ones."""
    opts: set[str] = set()
    for name, spec in SPECS.items():
        opts.update(spec.flags, spec.values, spec.multi)
        cmd = group().commands[name]
        for param in cmd.params:
            opts.update(param.opts)
            opts.update(param.secondary_opts)
    return sorted(opts) + EXTRA


@functools.cache  # read once: the exhaustive test calls it for each of ~18,000 argv (4 signatures each)
def _defaults() -> dict[str, dict[str, Any]]:
    from secretctl.cli.listing import list_secrets
    from secretctl.cli.reading import show_secret
    from secretctl.cli.running import run_command
    from secretctl.cli.storing import store_secret

    return {name: {p.name: p.default for p in inspect.signature(fn).parameters.values()
                   if p.default is not inspect.Parameter.empty}
            for name, fn in (("get", show_secret), ("run", run_command), ("set", store_secret),
                             ("list", list_secrets))}


def typer_call(argv: list[str]) -> tuple[str, str | None, dict[str, Any]] | None:
    """What the Typer app would call for ``argv``: (command, vault, arguments), or None when it
    refuses, prints help, or runs some other command."""
    from secretctl.cli import common, listing, reading, running, storing

    calls: list[tuple[str, str | None, dict[str, Any]]] = []

    def get(key: str, **kw: Any) -> None:
        calls.append(("get", common.STATE.vault_dir, {"key": key, **kw}))

    def run(command: list[str], **kw: Any) -> int:
        calls.append(("run", common.STATE.vault_dir, {"command": list(command), **kw}))
        return 0

    def set_(key: str, **kw: Any) -> None:
        calls.append(("set", common.STATE.vault_dir, {"key": key, **kw}))

    def list_(pattern: str | None = None, **kw: Any) -> None:
        calls.append(("list", common.STATE.vault_dir, {"pattern": pattern, **kw}))

    try:
        if not run_recorded(argv, [(reading, "show_secret", get), (running, "run_command", run),
                                   (storing, "store_secret", set_), (listing, "list_secrets", list_)]):
            return None
    finally:
        common.STATE.vault_dir = None
    if len(calls) != 1:
        return None
    name, vault, kw = calls[0]
    return name, vault, {k: list(v) if isinstance(v, tuple) else v for k, v in kw.items()}


def agree(argv: list[str]) -> bool:
    """Whether the fast path took ``argv`` (asserting that Typer would do exactly the same)."""
    fast = fast_parse(argv, {})
    if fast is None:
        return False  # Typer handles it: always correct
    name, vault, kwargs = fast
    assert typer_call(argv) == (name, vault, {**_defaults()[name], **kwargs}), argv
    return True


@settings(max_examples=examples(600), deadline=None)
@given(st.builds(lambda p, c, key, rest: [*p, c, *rest[:key], "a/b", *rest[key:]], st.sampled_from(PREFIXES),
                 st.sampled_from(COMMANDS), st.integers(0, 5), st.lists(st.sampled_from(tokens()), max_size=5)))
@example(["get", "a/b"])
@example(["run", "-k", "a/*", "--", "env", "-k", "x"])
@example(["run", "-k", "a/*", "echo", "--", "x"])
def test_the_fast_path_reads_argv_exactly_as_typer_does(argv: list[str]) -> None:
    agree(argv)


@pytest.mark.long
@pytest.mark.parametrize("command", ["get", "run", "set", "list"])  # four tests: they run in parallel
def test_every_short_argv_reads_exactly_as_typer_does(command: str) -> None:
    """Exhaustive up to two tokens around one positional (the property test goes longer)."""
    taken = 0
    for prefix in [p for i, p in enumerate(PREFIXES) if p not in PREFIXES[:i]]:  # each once (sampling weights them)
        for n in range(3):
            for rest in itertools.product(tokens(), repeat=n):
                for at in range(n + 1):
                    argv = [*prefix, command, *rest[:at], "a/b", *rest[at:]]
                    if agree(argv):
                        taken += 1
    assert taken > 100, taken


@pytest.mark.parametrize("argv", [
    ["get", "a/b"],
    ["get", "a/b", "--masked"],
    ["get", "--json", "a/b"],
    ["get", "a/b", "--show-metadata", "--json"],
    ["get", "db/main", "--field", "password"],
    ["get", "db/main", "--field=host"],
    ["--vault", "/v", "get", "a/b"],
    ["--vault=/v", "get", "a/b"],
    ["run", "-k", "aws/*", "--", "aws", "s3", "ls"],
    ["run", "-k", "a", "--key", "b/**", "--env-prefix", "APP_", "--timeout", "5m", "--", "./deploy.sh", "-v"],
    ["run", "-k", "db/*", "--env", "prod", "--policy", "psql", "-c", "select 1"],
    ["run", "--no-sanitize", "--allow-short", "-k", "x", "--", "true"],
    ["set", "a/b"],
    ["--vault", "/v", "set", "a/b", "--expires", "30d", "--notes", "n", "--url=u", "--tags", "x,y"],
    ["set", "db/main", "--field", "host=h", "--field", "password", "--binding", "PGHOST=host", "--public", "host"],
    ["set", "a/b", "--generate", "--no-symbols"],
    ["list"],
    ["list", "--json"],
    ["list", "aws/*", "--json"],
    ["--vault=/v", "list", "--tag", "ci", "--expiring", "7d"],
])
def test_everyday_commands_take_the_fast_path(argv: list[str]) -> None:
    assert agree(argv)


@pytest.mark.parametrize("argv", [
    [], ["get"], ["get", "-h"], ["get", "a/b", "--help"], ["get", "a/b", "--bogus"], ["get", "--", "a/b"],
    ["ls"], ["--version"], ["set", "a/b", "--from-file", "f"], ["set", "a/b", "-l", "5", "--generate"],
    ["set"], ["set", "a", "b"], ["list", "a", "b"], ["list", "--json", "--json"],
    ["set", "a/b", "--length=5"], ["get", "a/b", "--field"], ["get", "a/b", "--masked", "--masked"],
    ["run"], ["run", "-k", "x"], ["run", "-k", "x", "--"], ["run", "-kx", "--", "true"], ["run", "--help"],
    ["run", "--timeout", "1m", "--timeout", "2m", "--", "true"], ["run", "--env-prefix", "-X", "--", "true"],
])
def test_anything_else_goes_through_typer(argv: list[str]) -> None:
    assert fast_parse(argv, {}) is None


def test_completion_always_goes_through_typer() -> None:
    assert fast_parse(["get", "a/b"], {"_SECRETCTL_COMPLETE": "complete_bash"}) is None


# ---------------------------------------------------------------- the installed CLI, both ways
TYPER_ONLY = ("import sys; from secretctl.cli import app, main; "
              "main._dispatch = lambda argv: app.run(argv); sys.argv = ['secretctl', *sys.argv[1:]]; main.main()")


def run_typer(member: Member, *args: str, input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    """The same command through the Typer app, where ``member.run`` runs it (in this process,
    or as a fresh interpreter under SECRETCTL_TEST_CLI=subprocess)."""
    if not inproc_cli.wants_subprocess(args, member.env):
        return inproc_cli.run_inprocess(SECRETCTL, args, input=input or b"", env=member.env, cwd=member.home,
                                        typer_only=True)
    return subprocess.run([sys.executable, "-c", TYPER_ONLY, *args], capture_output=True, env=member.env,
                          cwd=member.home, timeout=60, input=input)


@pytest.fixture
def stocked(alice: Member, vault_dir: Path) -> Member:
    def stock() -> None:
        alice.run("set", "app/token", "--expires", "3d", "--notes", "rotate monthly", "--tags", "ci",
                  input=b"tok-3f9a8b7c6d5e4f30\n")
        alice.run("set", "db/main", "--field", "host=db.internal", "--field", "password", "--binding",
                  "PGHOST=host", input=b"pw-7e6d5c4b3a29\n")
    stock_once("test_main.stocked", alice, vault_dir, stock)
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
    ["run", "-k", "app/token", "--", "sh", "-c", "echo token=$APP_TOKEN; echo err >&2; exit 3"],
    ["run", "-k", "db/*", "--env-prefix", "X_", "--", "sh", "-c", "echo $PGHOST $X_DB_MAIN_PASSWORD"],
    ["run", "-k", "nope/*", "--", "true"],
    ["run", "-k", "app/token", "--timeout", "soon", "--", "true"],
    ["list"],
    ["list", "--json"],
    ["list", "db/*"],
    ["list", "--tag", "ci"],
    ["list", "--tag", "ci", "--json"],
    ["list", "--expiring", "7d"],
    ["list", "--expiring", "soon"],
    ["list", "../escape"],
])
def test_the_installed_cli_prints_what_typer_prints(stocked: Member, vault_dir: Path, args: list[str]) -> None:
    fast = stocked.run(*args, check=False)
    slow = run_typer(stocked, *args)
    assert (fast.returncode, fast.stdout, fast.stderr) == (slow.returncode, slow.stdout, slow.stderr)
    refused = ("nope/missing", "../escape", "nosuch", "--bogus", "nope/*", "soon")
    if args[0] == "list":
        assert fast.returncode == (2 if "soon" in args else 0), fast.stderr
        assert b"tok-3f9a8b7c6d5e4f30" not in fast.stdout + fast.stderr
        return
    expected = 3 if "exit 3" in args[-1] else 0
    assert (fast.returncode == expected) == (not any(r in args for r in refused)), fast.stderr
    if "app/token" in args and "--show-metadata" not in args and not any(r in args for r in refused):
        assert b"expires" in fast.stderr  # the expiry warning, on both paths
    # A value only ever goes to the stdout of a get that asked for it; run redacts it.
    reads = args[0] == "get" and "--masked" not in args and "--show-metadata" not in args
    assert b"tok-3f9a8b7c6d5e4f30" not in fast.stderr + (b"" if reads and "app/token" in args else fast.stdout)
    assert b"pw-7e6d5c4b3a29" not in fast.stderr + (b"" if reads and "password" in args else fast.stdout)


def _last_change(member: Member, vault_dir: Path) -> tuple[str, str]:
    """The last commit's subject and the files it changed (paths only)."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=vault_dir, capture_output=True, check=True, text=True,
                              env=member.env).stdout
    return git("log", "-1", "--format=%s"), git("show", "--name-status", "--format=", "HEAD")


@pytest.mark.parametrize(("args", "stdin"), [
    (["set", "K"], b"v-5b4c3d2e1f\n"),
    (["set", "K"], b"v-5b4c3d2e1f"),
    (["set", "K", "--expires", "30d", "--notes", "n", "--url", "https://x", "--tags", "a,b"], b"v-5b4c3d2e1f\n"),
    (["set", "K", "--field", "host=h", "--field", "password", "--binding", "PGHOST=host", "--public", "host"],
     b"pw-5b4c3d2e1f\n"),
    (["set", "K", "--generate", "--no-symbols"], b""),
    (["set", "K"], b""),
    (["set", "K", "--expires", "soon"], b"v\n"),
    (["set", "K", "--generate", "--field", "a=b"], b""),
    (["set", "K", "--public", "host"], b"v\n"),
    (["set", "app/token"], b"v-5b4c3d2e1f\n"),
    (["set", "../escape"], b"v\n"),
    (["set", "K", "--template", "nosuch"], b"v\n"),
])
def test_set_stores_and_prints_what_typer_does(stocked: Member, vault_dir: Path, args: list[str],
                                                 stdin: bytes) -> None:
    """The same set, once through the fast path (key new/a) and once through Typer (key new/b, or
    the same existing key twice): same output, exit code and commit, key names aside."""
    def argv(key: str) -> list[str]:
        return [key if a == "K" else a for a in args]

    fast = stocked.run(*argv("new/a"), input=stdin, check=False)
    fast_change = _last_change(stocked, vault_dir)
    slow = run_typer(stocked, *argv("new/b"), input=stdin)
    slow_change = _last_change(stocked, vault_dir)

    def same(b: bytes) -> bytes:
        return b.replace(b"new/b", b"new/a")
    assert (fast.returncode, fast.stdout, fast.stderr) == (slow.returncode, slow.stdout, same(slow.stderr))
    if fast.returncode == 0 and "K" in args:
        assert (fast_change[0], fast_change[1]) == (slow_change[0].replace("new/b", "new/a"),
                                                    slow_change[1].replace("new/b", "new/a"))
        assert stocked.run("get", "new/a", check=False).stdout == stocked.run("get", "new/b", check=False).stdout \
            or "--generate" in args
    assert b"5b4c3d2e1f" not in fast.stdout + fast.stderr


def test_vault_flag_on_the_fast_path(stocked: Member, vault_dir: Path, tmp_path: Path) -> None:
    env = {k: v for k, v in stocked.env.items() if k != "SECRETCTL_VAULT"}
    out = subprocess.run([sys.executable, "-m", "secretctl.cli.main", "--vault", str(vault_dir), "get", "app/token"],
                         capture_output=True, env=env, cwd=tmp_path, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout == b"tok-3f9a8b7c6d5e4f30"


@pytest.mark.parametrize(("argv", "stdin", "stdout"), [
    (["get", "app/token"], b"", b"tok-3f9a8b7c6d5e4f30"),
    (["set", "new/one"], b"v1\n", b""),
    (["list"], b"", b"app/token\ndb/main\n"),
    (["list", "--json"], b"", None),
    (["hook", "pre-commit"], b"", b""),
    (["hook", "pre-push", "origin", "git@example.com:team/vault.git"], b"", b""),
    (["textconv", "db/main.age"], b"", None),
])
def test_plain_commands_never_load_typer(stocked: Member, vault_dir: Path, argv: list[str], stdin: bytes,
                                         stdout: bytes | None) -> None:
    if argv[0] == "textconv":
        argv = ["textconv", str(vault_dir / argv[1])]  # git passes a path it can open
    code = (f"import sys; sys.argv = ['secretctl', *{argv!r}]\nfrom secretctl.cli import main\n"
            "try:\n    main.main()\n"
            "finally:\n    print('typer' in sys.modules, 'rich' in sys.modules, file=sys.stderr)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, env=stocked.env, cwd=stocked.home,
                         timeout=60, input=stdin)
    if argv[0] == "textconv":
        assert b"pw-7e6d5c4b3a29" in out.stdout and b"db.internal" in out.stdout, out.stderr  # what git diff shows
    else:
        assert out.stdout == stdout if stdout is not None else out.stdout.startswith(b"[{"), out.stderr
    assert out.returncode == 0, out.stderr
    assert out.stderr.strip().endswith(b"False False")


@pytest.mark.parametrize(("argv", "form"), [
    (["hook", "pre-commit"], ("pre-commit", [])),
    (["hook", "pre-push"], ("pre-push", [])),
    (["hook", "pre-push", "origin", "/srv/vault.git"], ("pre-push", ["origin", "/srv/vault.git"])),
    (["merge-driver", "age", ".merge_file_a", ".merge_file_b", ".merge_file_c", "app/token.age"],
     ("merge-driver", ["age", ".merge_file_a", ".merge_file_b", ".merge_file_c", "app/token.age"])),
    (["textconv", "app/token.age"], ("textconv", ["app/token.age"])),
    (["hook", "pre-commit", "--deep"], None),
    (["hook", "pre-commit", "--help"], None),
    (["hook", "pre-commit", "extra"], None),
    (["hook", "install"], None),
    (["hook", "pre-push", "a", "b", "c"], None),
    (["merge-driver", "age", "a", "b", "c"], None),
    (["textconv"], None),
    (["textconv", "-"], None),
])
def test_what_git_runs_skips_typer_only_in_the_exact_forms_git_uses(argv: list[str], form: object) -> None:
    from secretctl.cli import plumbing

    assert plumbing.fast_form(argv) == form


GIT_STARTS = [["hook", "pre-commit"], ["hook", "pre-push", "origin", "git@example.com:team/vault.git"],
              ["textconv", "db/main.age"], ["merge-driver", "meta", "b.yaml", "o.yaml", "t.yaml", "db/main.meta.yaml"]]


@pytest.mark.parametrize("argv", GIT_STARTS, ids=lambda a: a[-1] if a[0] == "merge-driver" else " ".join(a[:2]))
def test_what_git_starts_imports_only_its_own_check(stocked: Member, vault_dir: Path, argv: list[str]) -> None:
    """git starts these once per commit, push, diffed or merged file: none imports typing or
    dataclasses (~15 ms a start) or hashlib (OpenSSL, ~2 ms), nor service/team's sync and audit;
    with nothing staged that a
    value could hide in, the pre-commit check decrypts nothing and builds no redactor."""
    if argv[0] == "textconv":
        argv = ["textconv", str(vault_dir / argv[1])]
    if argv[0] == "merge-driver":
        side = (vault_dir / "db/main.meta.yaml").read_bytes()
        for name in argv[2:5]:
            (vault_dir / name).write_bytes(side)
    watched = ["typing", "dataclasses", "hashlib", "secretctl.service.team", "hyperscan", "pyrage"]
    code = (f"import sys; sys.argv = ['secretctl', *{argv!r}]\nfrom secretctl.cli import main\n"
            "try:\n    main.main()\n"
            f"finally:\n    print(*[m for m in {watched!r} if m in sys.modules], file=sys.stderr)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, env=stocked.env, cwd=vault_dir,
                         timeout=60, stdin=subprocess.DEVNULL)
    assert out.returncode == 0, out.stderr
    loaded = out.stderr.strip().splitlines()[-1].decode().split() if out.stderr.strip() else []
    # textconv decrypts (pyrage); the check of a commit with no plain text in it decrypts nothing.
    assert loaded == (["pyrage"] if argv[0] == "textconv" else []), out.stderr


def test_the_pre_commit_check_still_reads_values_when_plain_text_is_staged(stocked: Member, vault_dir: Path) -> None:
    """The control of the test above: a staged README holding a value is refused, by name."""
    (vault_dir / "README.md").write_bytes(b"# notes\nthe value: pw-7e6d5c4b3a29\n")
    subprocess.run(["git", "add", "README.md"], cwd=vault_dir, env=stocked.env, check=True)
    out = stocked.run("hook", "pre-commit", check=False, cwd=vault_dir)
    assert out.returncode == 1
    assert b"contains the value of db/main" in out.stderr and b"pw-7e6d5c4b3a29" not in out.stderr


def test_a_set_never_imports_typing(stocked: Member, vault_dir: Path) -> None:
    """A `set` (the Vault, the journal, the commit) runs without the typing module: its import
    costs every start ~3 ms, and annotations need it for mypy only. Nor hashlib: its OpenSSL
    costs ~2 ms, for a few short hashes CPython's own SHA modules make (core/digest.py)."""
    code = ("import sys; sys.argv = ['secretctl', 'set', 'new/typed']\nfrom secretctl.cli import main\n"
            "try:\n    main.main()\n"
            "finally:\n    print('typing' in sys.modules, 'hashlib' in sys.modules,"
            " 'secretctl.service.vault' in sys.modules, file=sys.stderr)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, env=stocked.env, cwd=stocked.home,
                         timeout=60, input=b"typed-Value-1\n")
    assert out.stderr.strip().endswith(b"False False True"), out.stderr


def test_the_typer_check_can_see_typer(stocked: Member, vault_dir: Path) -> None:
    code = ("import sys; sys.argv = ['secretctl', 'get', 'app/token']\nfrom secretctl.cli import main\n"
            "try:\n    main.main()\n"
            "finally:\n    print('typer' in sys.modules, 'rich' in sys.modules, file=sys.stderr)")
    help_code = code.replace("'get', 'app/token'", "'get', 'app/token', '--help'")
    out = subprocess.run([sys.executable, "-c", help_code], capture_output=True, env=stocked.env,
                         cwd=stocked.home, timeout=60)
    assert out.stderr.strip().splitlines()[-1].startswith(b"True")  # the check above can see typer


def test_a_set_runs_no_garbage_collection(stocked: Member) -> None:
    """A short command collects garbage about never (cli/main.GC_THRESHOLD): at Python's default
    pace a `set` collected 24 times (3.5-5.7 ms of its CPU). Counted by a gc callback."""
    code = ("import gc, sys; runs = []; gc.callbacks.append(lambda phase, info: runs.append(phase))\n"
            "sys.argv = ['secretctl', 'set', 'app/gc']\nfrom secretctl.cli import main\n"
            "try:\n    main.main()\nfinally:\n    print('collections', runs.count('start'), file=sys.stderr)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, env=stocked.env, cwd=stocked.home,
                         timeout=60, input=b"gc-Value-1")
    assert out.returncode == 0, out.stderr
    assert int(out.stderr.strip().rsplit(b" ", 1)[1]) <= 1, out.stderr  # 24 at Python's default pace
    assert stocked.run("get", "app/gc").stdout == b"gc-Value-1"


@pytest.mark.parametrize("argv", [["get", "app/token"], ["list"], ["--version"]])
def test_the_last_collection_at_exit_is_skipped(stocked: Member, argv: list[str]) -> None:
    """The program freezes its objects at exit (the interpreter's last collection of them cost a
    `run` 5-7 ms): a handler registered before main() runs after the program's own, and sees
    them frozen; the command itself is unchanged."""
    code = (f"import atexit, gc, sys; sys.argv = ['secretctl', *{argv!r}]\n"
            "atexit.register(lambda: print('frozen', gc.get_freeze_count() > 0, file=sys.stderr))\n"
            "from secretctl.cli import main\nmain.main()")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, env=stocked.env, cwd=stocked.home,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stderr.strip().endswith(b"frozen True")
    assert out.stdout == subprocess.run(["secretctl", *argv], capture_output=True, env=stocked.env,
                                        cwd=stocked.home, timeout=60).stdout


def test_a_missing_dependency_is_named_not_reported_as_a_bug(alice: Member, vault_dir: Path) -> None:
    """A venv without hyperscan (made by hand, a package removed): `run` names the module and says
    how to reinstall, instead of "internal error, please report it"."""
    alice.run("set", "app/token", input=b"missing-Dependency-Value-9")
    code = ("import sys; sys.modules['hyperscan'] = None\n"  # `import hyperscan` now fails as if absent
            "from secretctl.cli.main import main\n"
            "sys.argv = ['secretctl', 'run', '-k', 'app/token', '--', 'sh', '-c', 'echo $APP_TOKEN']\nmain()\n")
    proc = subprocess.run([sys.executable, "-c", code], env=alice.env, capture_output=True, cwd=alice.home)
    err = proc.stderr.decode()
    assert proc.returncode == 70, err
    assert "this installation lacks the hyperscan module" in err and "hint: reinstall secretctl" in err
    assert "internal error" not in err and b"missing-Dependency" not in proc.stdout + proc.stderr
