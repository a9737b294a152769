"""cli/grammar.py (the fast path's options) is generated from the Typer app and never stale."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "gen_cli_grammar.py"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_cli_grammar", SCRIPT)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_the_committed_grammar_is_what_the_typer_app_declares(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", ["gen", "--check"])
    assert _generator().main() == 0, "secretctl/cli/grammar.py is stale: run `make grammar`"


def test_a_stale_grammar_is_caught(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    gen = _generator()
    stale = tmp_path / "grammar.py"
    stale.write_text(gen.TARGET.read_text().replace("'--masked': 'masked', ", ""))
    monkeypatch.setattr(gen, "TARGET", stale)
    monkeypatch.setattr(sys, "argv", ["gen", "--check"])
    assert gen.main() == 1
    assert "make grammar" in capsys.readouterr().err


def test_every_option_of_get_and_run_is_in_the_grammar() -> None:
    import typer.main

    from secretctl.cli import app as appmod
    from secretctl.cli.grammar import SPECS

    group = typer.main.get_command(appmod.app)
    for name, spec in SPECS.items():
        declared = {o for p in group.commands[name].params for o in getattr(p, "opts", []) if o.startswith("-")}
        assert declared == set(spec.flags) | set(spec.values) | set(spec.multi)
