"""`run` on the start-up fast path (cli/fastrun.py, service/fastrun.py) behaves exactly as the normal
path: the same child (argv, environment), the same redacted output, exit code and warnings, the same
access record; it steps aside for anything unusual, imports none of what it exists to skip, and never
lets a value out anywhere but the child's environment.

The normal path is reached with ``--allow-expired``, which the fast path leaves to it and which changes
nothing for a secret that has not expired."""

from __future__ import annotations

import base64
import gzip
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.cli.test_fastget import imported, pending
from tests.conftest import SECRETCTL, Member, stock_once
from tests.e2e.test_unlock import VALUE, carol, stop_agent, unlock, unlocked_fixtures  # noqa: F401 - carol is a fixture

OTHER = b"second-Canary-Value-8812"
FIELD = b"field-Canary-Password-5521"
SHOW = [sys.executable, "-c",
        "import json, os, sys; print('out', os.environ.get('APP_TOKEN'), sys.argv[1:]); "
        "print('err', os.environ.get('APP_OTHER'), file=sys.stderr); "
        "open(os.environ['ENV_OUT'], 'w').write(json.dumps(dict(os.environ))); sys.exit(int(sys.argv[1]))"]


def _stock(carol: Member) -> None:  # noqa: F811 - a Member, not the fixture
    assert unlock(carol).returncode == 0

    def fill() -> None:  # the same six secrets for every test: set once per worker, then copied
        carol.run("set", "app/other", input=OTHER)
        carol.run("set", "web/a", input=b"web-a-Value-77120")
        carol.run("set", "web/b/deep", input=b"web-b-Value-77121")
        carol.run("set", "app/soon", "--expires", "3d", input=b"soon-Value-123456")
        carol.run("set", "app/short", input=b"ab")
        carol.run("set", "db/main", "--field", "host=db.example.com", "--field", "password=-", "--public", "host",
                  "--binding", "PGHOST=host", "--binding", "PGPASSWORD=password", input=FIELD + b"\n")
    stock_once("test_fastrun", carol, Path(carol.env["SECRETCTL_VAULT"]), fill)


unlocked, shared = unlocked_fixtures(_stock, "fastrun")


def imported_with(env: dict[str, str], *args: str, cwd: Path) -> tuple[bytes, set[str]]:
    code = ("import sys\nfrom secretctl.cli.main import main\nsys.argv = ['secretctl', *sys.argv[1:]]\n"
            "try:\n    main()\nfinally:\n    sys.stderr.write('\\nMODULES ' + ' '.join(sorted(sys.modules)) + '\\n')\n")
    p = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, cwd=cwd)
    return p.stdout, set(p.stderr.decode().rsplit("MODULES ", 1)[1].split())


def both(m: Member, opts: list[str], cmd: list[str], *, env: dict[str, str] | None = None,
         cwd: Path | None = None) -> tuple[tuple[int, bytes, bytes, object, list[dict[str, object]]], ...]:
    """(exit code, stdout, stderr, the child's environment, new access records) of the fast form and of the
    normal path (the same run with --allow-expired)."""
    root = Path(m.env["SECRETCTL_VAULT"])
    out: list[tuple[int, bytes, bytes, object, list[dict[str, object]]]] = []
    for extra in ([], ["--allow-expired"]):
        envfile = m.home / "child-env.json"
        envfile.unlink(missing_ok=True)
        before = len(pending(root))
        p = m.run("run", *extra, *opts, "--", *cmd, check=False, env={**(env or {}), "ENV_OUT": str(envfile)},
                  cwd=cwd)
        child = json.loads(envfile.read_text()) if envfile.exists() else None
        if isinstance(child, dict):
            child.pop("ENV_OUT", None)
        recs = pending(root)[before:]
        for r in recs:
            assert isinstance(r.pop("duration_ms", 0), int)  # the one field that differs: time
        out.append((p.returncode, p.stdout, p.stderr, child, recs))
    return tuple(out)


@pytest.mark.parametrize(("opts", "args"), [
    (["-k", "app/token"], ["3"]),
    (["-k", "app/token", "-k", "app/other"], ["0", "$APP_TOKEN", "${APP_OTHER}x", "$NOPE"]),
    (["-k", "app/*"], ["0"]),
    (["-k", "web/*", "-k", "web/**", "-k", "app/token"], ["0"]),
    (["--key=app/token", "--env-prefix", "MY_"], ["0"]),
    (["-k", "app/token", "--no-sanitize"], ["0"]),
    (["-k", "app/token"], ["0", VALUE.decode(), "x" + VALUE.decode()[3:15]]),  # argv holding a value: digested
    (["-k", "app/token", "-k", "app/token"], ["1"]),
    (["-k", "app/short"], ["0"]),  # too short to redact: refused
    (["-k", "app/short", "--allow-short"], ["0"]),
    (["-k", "app/soon"], ["0"]),  # expires soon: a warning
    (["-k", "db/main"], ["0"]),  # fields: injected through its bindings
    (["-k", "app/missing"], ["0"]),
    (["-k", "nope/*"], ["0"]),
    (["-k", "app/token", "--env-prefix", "LD_"], ["0"]),  # a refused name
])
def test_fast_and_normal_run_agree(shared: Member, opts: list[str], args: list[str]) -> None:
    fast, normal = both(shared, opts, [*SHOW, *args])
    assert fast == normal


def test_the_fast_path_serves_the_plain_forms_and_runs_what_it_says(unlocked: Member) -> None:
    fast, _ = both(unlocked, ["-k", "app/token", "-k", "app/other"], [*SHOW, "5", "$APP_TOKEN"])
    code, out, err, child, recs = fast
    assert code == 5
    assert out == b"out [REDACTED:app/token] ['5', '[REDACTED:app/token]']\n"
    assert err == b"err [REDACTED:app/other]\n"
    assert isinstance(child, dict) and child["APP_TOKEN"] == VALUE.decode() and child["APP_OTHER"] == OTHER.decode()
    assert not any(k.startswith("SECRETCTL_") for k in child)
    assert len(recs) == 1
    rec = recs[0]
    assert rec == {"action": "run", "actor": "carol", "argv": [*SHOW, "5", "$APP_TOKEN"], "decision": "allow",
                   "exit_code": 5, "keys": ["app/token", "app/other"], "rule": "person"}
    _, mods = imported(unlocked, "run", "-k", "app/token", "--", "true")
    assert "secretctl.service.fastrun" in mods


def test_the_fast_path_imports_nothing_heavy(unlocked: Member) -> None:
    # The first run of a fresh home compiles the credential detectors into the data dir's cache (detect-secrets
    # and all it imports, once); every later run loads that cache.
    imported(unlocked, "run", "-k", "web/**", "-k", "app/token", "--", "true")
    _, mods = imported(unlocked, "run", "-k", "web/**", "-k", "app/token", "--", "true")
    heavy = {m for m in mods if m.split(".")[0] in ("pyrage", "yaml", "typer", "click", "rich", "platformdirs",
                                                     "dataclasses", "inspect", "pathlib", "hashlib", "datetime")}
    heavy |= {m for m in mods if m in ("secretctl.service.vault", "secretctl.service.run", "secretctl.core.policy",
                                       "secretctl.core.meta", "secretctl.infra.sandbox", "secretctl.cli.common",
                                       "secretctl.service.allvalues")}
    assert heavy == set()
    assert "secretctl.service.fastrun" in mods  # served here
    _, normal = imported(unlocked, "run", "--allow-expired", "-k", "web/**", "--", "true")
    assert "secretctl.service.vault" in normal  # the comparison form really takes the other path


def test_a_silent_run_compiles_only_what_its_command_line_check_needs(unlocked: Member) -> None:
    """A child that prints nothing is never scanned: the scan's own modules and regexes wait for
    output (3.8 ms of regex compiles and 1.4 ms of imports were ~15% of a silent run's start)."""
    # The build's 50 ms timer held off (a loaded machine can take that long to run `true`).
    probe = ("import re, sys\nfrom secretctl.cli.main import main\nsys.argv = ['secretctl', *sys.argv[1:]]\n"
             "from secretctl.service import personrun\npersonrun.LAZY_COMPILE = 600\n"
             "try:\n    main()\nfinally:\n    sys.stderr.write('\\nMODULES ' + ' '.join(sorted(sys.modules)) + '\\n')\n"
             "    sys.stderr.write('PATTERNS ' + repr([k[1] for k in re._cache]) + '\\n')\n")
    imported(unlocked, "run", "-k", "app/token", "--", "true")  # the first run of a home fills the detector cache
    p = subprocess.run([sys.executable, "-c", probe, "run", "-k", "app/token", "--", "true"], env=unlocked.env,
                       capture_output=True, cwd=unlocked.home)
    assert p.returncode == 0, p.stderr
    tail = p.stderr.decode().rsplit("MODULES ", 1)[1]
    mods = set(tail.split("\n", 1)[0].split())
    assert "secretctl.service.fastrun" in mods  # the fast path served it
    assert {"copy", "secretctl.core.redact.shapes", "secretctl.core.redact.stream"} & mods == set()
    compiled = tail.split("PATTERNS ", 1)[1]
    from secretctl.core import envmap, keys
    from secretctl.core.redact import decode, forms, views

    for scan_only in (views.ANSI, views._UNESCAPE, views._ERASE, views._NOT_ALNUM_TEXT, decode._DUMP_LINE,
                      decode._HEXITEM, forms._WORD_RUN, envmap._REF):
        assert repr(scan_only().pattern) not in compiled
    assert repr(keys._FAST_OK_TEXT) not in compiled  # a walk checks its folder rule by rule
    assert "'app/token'" not in compiled  # an exact key is compared, not compiled as a pattern


@pytest.mark.parametrize("why", ["agent-mode", "policy", "with-agent", "timeout"])
def test_the_fast_path_steps_aside_for_an_option(shared: Member, why: str) -> None:
    _steps_aside(shared, why)  # these change nothing: one vault and agent for all of them


@pytest.mark.parametrize("why", ["locked", "journal", "index-lock", "conflicts", "yaml-sidecar"])
def test_the_fast_path_steps_aside_for_a_state(unlocked: Member, why: str) -> None:
    _steps_aside(unlocked, why)


def _steps_aside(unlocked: Member, why: str) -> None:
    root = Path(unlocked.env["SECRETCTL_VAULT"])
    args = ["run", "-k", "app/token", "--", "true"]
    env = dict(unlocked.env)
    if why == "agent-mode":
        env["SECRETCTL_AGENT"] = "1"
    elif why in ("policy", "with-agent"):
        args.insert(1, f"--{why}")
    elif why == "timeout":
        args[1:1] = ["-t", "5m"]
    elif why == "locked":
        unlocked.run("lock")
    elif why == "journal":
        (root / ".git" / "secretctl" / "journal").write_bytes(b"")
    elif why == "index-lock":
        (root / ".git" / "index.lock").write_bytes(b"")
    elif why == "conflicts":
        (root / ".git" / "secretctl" / "conflicts.json").write_text("{}")
    elif why == "yaml-sidecar":
        side = root / "app" / "token.meta.yaml"
        text = side.read_text()
        assert 'updated_by: "carol"' in text
        side.write_text(text.replace('updated_by: "carol"', "updated_by: carol"))  # still YAML, not the line form
    _, mods = imported_with(env, *args[0:], cwd=unlocked.home)
    assert "secretctl.service.vault" in mods, why  # the normal path ran


def test_a_locked_agent_and_a_missing_agent_fail_as_the_normal_path(unlocked: Member) -> None:
    unlocked.run("lock")
    fast, normal = both(unlocked, ["-k", "app/token"], [*SHOW, "0"])
    assert fast == normal and fast[0] == 4 and fast[3] is None
    stop_agent(unlocked)
    fast, normal = both(unlocked, ["-k", "app/token"], [*SHOW, "0"])
    assert fast == normal and fast[0] != 0 and fast[3] is None


def test_an_unprotected_identity_without_an_agent(alice: Member, vault_dir: Path) -> None:
    alice.run("set", "app/token", input=VALUE)
    fast, normal = both(alice, ["-k", "app/token"], [*SHOW, "2"])
    assert fast == normal and fast[0] == 2
    _, mods = imported(alice, "run", "-k", "app/token", "--", "true")
    assert "secretctl.service.fastrun" in mods and "secretctl.service.vault" not in mods
    assert "secretctl.infra.identity" not in mods  # a few keys: pyrage per file, no bulk decryptor
    for i in range(20):  # past BULK_MIN: through the bulk decryptor
        alice.run("set", f"many/k{i:02}", input=b"many-Value-%02d-abcdefgh" % i)
    fast, normal = both(alice, ["-k", "many/*"], [*SHOW, "0"])
    assert fast == normal and fast[0] == 0
    child = fast[3]
    assert isinstance(child, dict) and child["MANY_K07"] == "many-Value-07-abcdefgh"
    _, mods = imported(alice, "run", "-k", "many/*", "--", "true")
    assert "secretctl.service.vault" not in mods and "secretctl.infra.identity" in mods  # served, in bulk


@pytest.mark.cli_subprocess
def test_no_value_leaves_by_the_fast_path(unlocked: Member, tmp_path: Path) -> None:
    """Attack side: the child reads its parent's argv and environment (as any same-user process
    could), errors are read; none holds a value. Only the child's own environment does."""
    spy = tmp_path / "spy"
    script = (f"cat /proc/$PPID/cmdline > {spy}.cmdline; cat /proc/$PPID/environ > {spy}.environ; "
              f"ls -l /proc/$PPID/fd > {spy}.fds 2>&1; printenv APP_TOKEN > {spy}.child")
    p = subprocess.run([SECRETCTL, "run", "-k", "app/token", "--", "sh", "-c", script], env=unlocked.env,
                       capture_output=True, cwd=unlocked.home)
    assert p.returncode == 0, p.stderr
    assert Path(f"{spy}.child").read_bytes() == VALUE + b"\n"  # the child got it: the spy really ran
    for part in ("cmdline", "environ", "fds"):
        assert VALUE not in Path(f"{spy}.{part}").read_bytes(), part
    assert b"socket:" not in Path(f"{spy}.fds").read_bytes()  # the agent connection closed before the child ran
    assert b"secretctl" in Path(f"{spy}.cmdline").read_bytes()  # the parent was secretctl itself
    for bad in (["-k", "app/short"], ["-k", "app/token", "--env-prefix", "LD_"], ["-k", "app/token"]):
        cmd = ["no-such-command-xyz"] if bad == ["-k", "app/token"] else ["true"]
        q = subprocess.run([SECRETCTL, "run", *bad, "--", *cmd], env=unlocked.env, capture_output=True,
                           cwd=unlocked.home)
        assert q.returncode != 0
        assert VALUE not in q.stdout + q.stderr
    root = Path(unlocked.env["SECRETCTL_VAULT"])
    log = (root / ".git" / "secretctl" / "audit-pending.jsonl").read_bytes()
    assert VALUE not in log


def test_constants_match_their_homes() -> None:
    from secretctl.core import meta, metalines
    from secretctl.service import fastget, fastrun

    assert fastrun.MAX_SIDECAR_BYTES == meta.MAX_SIDECAR_BYTES
    from secretctl.infra import identity

    assert fastget.BULK_MIN == identity.BULK_MIN
    assert fastrun.SIDECAR_VERSION == meta.FORMAT_VERSION
    assert meta._TOP - {"fields", "bindings", "tags"} == metalines.FAST_KEYS


def test_the_walk_keys_under_is_the_vaults(inproc: Any) -> None:
    from secretctl.service.keywalk import keys_under

    vault = inproc
    root = Path(vault.root)
    (root / "a" / "b").mkdir(parents=True)
    for rel in ("a/x.age", "a/b/y.age", "z.age"):
        (root / rel).write_bytes(b"x")
    (root / "l").symlink_to(root / "a")
    for folder in ("", "a", "a/b", "l", "nope", ".git", "a/../a"):
        fresh = type(vault)(vault.root, identity_path=vault.identity_path, password=lambda: "", actor="t")
        assert keys_under(str(root), folder) == fresh.key_names(under=folder), folder


def test_the_fast_path_changes_no_environment_but_the_childs(unlocked: Member, monkeypatch: pytest.MonkeyPatch,
                                                           tmp_path: Path) -> None:
    """In this process: the mapping it was given and os.environ are as before; only the child had the value."""
    import io
    import os

    from secretctl.service.fastrun import run_fast

    for k, v in unlocked.env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.chdir(unlocked.home)
    env = dict(unlocked.env)
    before, environ_before = dict(env), dict(os.environ)
    seen = tmp_path / "seen"
    out, err = io.BytesIO(), io.BytesIO()
    code = run_fast(None, ["app/token"], [sys.executable, "-c", f"import os; open({str(seen)!r}, 'w')"
                                          ".write(os.environ['APP_TOKEN']); print(os.environ['APP_TOKEN'])"],
                    env, out=out, err=err)
    assert code == 0 and seen.read_bytes() == VALUE
    assert out.getvalue() == b"[REDACTED:app/token]\n" and err.getvalue() == b""
    assert env == before and dict(os.environ) == environ_before
    assert run_fast(None, ["app/short"], ["true"], env, out=out, err=err) is None  # refused: no error raised here


def test_a_silent_run_loads_no_stream(unlocked: Member) -> None:
    """A command that prints nothing never needs the redaction stream, nor the credential
    expressions compiled on first use (the command line is checked without them), nor, when no
    argument could hold a decode candidate, the detector set (hyperscan, typing); one that
    prints loads them, and its output is redacted."""
    imported(unlocked, "run", "-k", "app/token", "--", "true")  # the detector cache, on a fresh home
    _, mods = imported(unlocked, "run", "-k", "app/token", "--", "true")
    assert "secretctl.service.fastrun" in mods
    assert {"secretctl.core.redact.stream", "hyperscan", "typing"} & mods == set()
    _, mods = imported(unlocked, "run", "-k", "app/token", "--", "true", "x1")  # a digit: it may be a candidate
    assert "hyperscan" in mods
    out, mods = imported(unlocked, "run", "-k", "app/token", "--", "sh", "-c", 'echo "$APP_TOKEN"')
    assert "secretctl.core.redact.stream" in mods
    assert out.strip() == b"[REDACTED:app/token]"


@pytest.mark.parametrize("arg", ["plain-words", VALUE.decode(), VALUE.hex(), "gz:" + base64.b64encode(
    gzip.compress(VALUE, mtime=0)).decode(), ", ".join(str(b) for b in VALUE)])
def test_a_value_in_a_silent_command_line_is_kept_out_of_the_record(shared: Member, arg: str) -> None:
    """The command line is checked with the detector set only where an argument could hold a
    decode candidate: a value in any form the full check finds is still recorded as a hash, on
    both paths, and a plain argument as written."""
    fast, normal = both(shared, ["-k", "app/token"], ["true", arg])
    assert fast == normal
    (rec,) = fast[4]
    assert isinstance(rec, dict)
    logged = rec["argv"]
    assert isinstance(logged, list) and logged[0] == "true"
    assert logged[1] == arg if arg == "plain-words" else str(logged[1]).startswith("[hmac-sha256:")
