"""cli/bulk.py: `member add NAME RECIPIENT` and `import FILE [--prefix P]` skip Typer, and must
call exactly what the Typer commands call for the same argv. Each argv goes through the real
Typer app (with the bodies replaced by recorders) and through the fast form; then the installed
CLI is checked to take the fast form without importing Typer."""

from __future__ import annotations

import itertools
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from secretctl.cli import bulk
from tests.cli.typer_recorder import run_recorded
from tests.conftest import Member

OPERANDS = ["bob", "age1xyz", "ssh-ed25519 AAAA bob@host", "a.env", "x.json/", "./d//f.json", "-", "", "p/",
            "--prefix", "--path", "--vault", "-h", "--help", "--", "--dry-run", "--json", "--prefix=x"]


def typer_call(argv: list[str]) -> tuple[str, dict[str, Any]] | None:
    """What the Typer app calls for ``argv`` in cli/bulk.py, or None (refused, help, other)."""
    calls: list[tuple[str, dict[str, Any]]] = []

    def add(name: str, recipient: str, path: str = "") -> None:
        calls.append(("member-add", {"name": name, "recipient": recipient, "path": path}))

    def imp(file: Path, fmt: str | None = None, dry_run: bool = False, on_conflict: str = "error",
            prefix: str = "", tags: str | None = None, json_out: bool = False) -> None:
        calls.append(("import", {"file": file, "fmt": fmt, "dry_run": dry_run, "on_conflict": on_conflict,
                                 "prefix": prefix, "tags": tags, "json_out": json_out}))

    if not run_recorded(argv, [(bulk, "add_member", add), (bulk, "import_file", imp)]):
        return None
    return calls[0] if len(calls) == 1 else None


DEFAULTS = {"member-add": {"path": ""},
            "import": {"fmt": None, "dry_run": False, "on_conflict": "error", "prefix": "", "tags": None,
                       "json_out": False}}


@pytest.mark.parametrize("head", [["member", "add"], ["import"]])
def test_every_short_argv_reads_exactly_as_typer_does(head: list[str]) -> None:
    taken = 0
    for n in range(1, 4):
        for rest in itertools.product(OPERANDS, repeat=n):
            argv = [*head, *rest]
            fast = bulk.fast_form(argv)
            if fast is None:
                continue  # Typer handles it: always correct
            name, kwargs = fast
            assert typer_call(argv) == (name, {**DEFAULTS[name], **kwargs}), argv
            taken += 1
    assert taken > 20, taken


@pytest.mark.parametrize(("argv", "taken"), [
    (["member", "add", "bob", "age1xyz"], True),
    (["member", "add", "bob", "ssh-ed25519 AAAA bob@host"], True),
    (["import", "a.env"], True),
    (["import", "a.env", "--prefix", "app"], True),
    (["member", "add", "bob", "age1xyz", "--path", "prod"], False),
    (["member", "add", "bob"], False),
    (["import", "-"], False),
    (["import", "a.env", "--prefix=app"], False),
    (["import", "--prefix", "app", "a.env"], False),
    (["import", "a.env", "--prefix", "--prefix"], False),
    (["import", "a.env", "--dry-run"], False),
    (["--vault", "/v", "import", "a.env"], False),
])
def test_only_the_plain_forms_skip_typer(argv: list[str], taken: bool) -> None:
    assert (bulk.fast_form(argv) is not None) == taken


def test_completion_always_goes_through_typer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("_SECRETCTL_COMPLETE", "complete_bash")
    assert bulk.fast_form(["import", "a.env"]) is None


@pytest.mark.cli_subprocess
def test_the_installed_cli_imports_and_adds_a_member_without_typer(
        tmp_path: Path, alice: Member, bob: Member, vault_dir: Path) -> None:
    src = tmp_path / "a.env"
    src.write_text("A=1\nB=2\n")
    # A stand-in typer that fails on import: the fast forms never import it.
    fake = tmp_path / "fake"
    (fake / "typer").mkdir(parents=True)
    (fake / "typer" / "__init__.py").write_text("raise ImportError('typer was imported')\n")
    env = {"PYTHONPATH": str(fake)}
    out = alice.run("import", str(src), "--prefix", "app", env=env)
    assert out.stderr.decode().strip() == "imported 2 secrets"
    out = alice.run("member", "add", "bob", bob.recipient, env=env)
    assert out.stderr.decode().strip() == "added bob to /; re-encrypted 2 secrets"
    assert bob.run("get", "app/A", env={"SECRETCTL_VAULT": str(vault_dir)}).stdout == b"1"
    proc = subprocess.run([sys.executable, "-c", "import secretctl.cli.main"], env={**alice.env, **env},
                          capture_output=True, check=False)
    assert proc.returncode == 0  # the stand-in does not break the package's own import
    assert alice.run("import", str(src), "--dry-run", env=env, check=False).returncode != 0  # Typer's form
