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


def test_every_text_or_flag_option_of_the_fast_commands_is_in_the_grammar() -> None:
    """And only those: an option Typer converts (a path, a number) is left to Typer."""
    import typer.main

    from secretctl.cli import app as appmod
    from secretctl.cli.grammar import SPECS

    group = typer.main.get_command(appmod.app)
    assert set(SPECS) == {"get", "run", "set", "list"}
    for name, spec in SPECS.items():
        params = group.commands[name].params
        declared = {o for p in params for o in getattr(p, "opts", []) if o.startswith("-")}
        converted = {o for p in params for o in p.opts
                     if o.startswith("-") and not p.is_flag and p.type.name != "str"}
        assert declared - converted == set(spec.flags) | set(spec.values) | set(spec.multi)
    assert {"--from-file", "-l", "--length"} <= declared_of(group, "set") - set(SPECS["set"].values)


def declared_of(group: object, name: str) -> set[str]:
    return {o for p in group.commands[name].params for o in p.opts}  # type: ignore[attr-defined]  # a TyperGroup
