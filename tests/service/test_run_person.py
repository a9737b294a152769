"""A person's `run` (service/run.run_person) with a real vault in-process: the redactor compiles
only when the child's output may need it, and output always waits for it."""

from __future__ import annotations

import io

import pytest

from secretctl.core.redact import Redactor
from secretctl.core.secret import Secret
from secretctl.service import personrun, run
from secretctl.service.results import SetRequest
from secretctl.service.vault import Vault

VALUE = b"person-Run-Value-8842x"


@pytest.fixture
def compiles(inproc: Vault, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    inproc.set("app/token", SetRequest(value=Secret(VALUE)))
    made: list[int] = []
    original = Redactor.compile

    def counted(self: Redactor) -> Redactor:
        made.append(1)
        return original(self)

    monkeypatch.setattr(Redactor, "compile", counted)
    return made


def _run(vault: Vault, script: str, *, sanitize: bool = True) -> bytes:
    out, err = io.BytesIO(), io.BytesIO()
    code, _ = run.run_person(vault, run.RunRequest(("app/*",), "sh", ("-c", script)), policy=None,
                             sanitize=sanitize, out=out, err=err)
    assert code == 0, err.getvalue()
    return out.getvalue()


def test_a_silent_command_never_compiles(inproc: Vault, compiles: list[int],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    # The timer starts a compile once the child has run LAZY_COMPILE (50 ms): on a loaded machine
    # `sh -c 'exit 0'` took longer (a flaky failure). Past the timer is the case below.
    monkeypatch.setattr(personrun, "LAZY_COMPILE", 60.0)
    assert _run(inproc, "exit 0") == b""
    assert compiles == []


def test_no_sanitize_never_compiles(inproc: Vault, compiles: list[int]) -> None:
    assert _run(inproc, "echo $APP_TOKEN", sanitize=False) == VALUE + b"\n"
    assert compiles == []


@pytest.mark.parametrize("script", ["echo $APP_TOKEN", "sleep 0.3; echo $APP_TOKEN"])
def test_output_waits_for_the_compiled_redactor(inproc: Vault, compiles: list[int], script: str) -> None:
    # At once (the first output starts the compile) or later (the timer started it meanwhile).
    assert _run(inproc, script) == b"[REDACTED:app/token]\n"
    assert compiles == [1]
