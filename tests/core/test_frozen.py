"""core/frozen.py makes the records on the start-up paths of `run`, `get` and `set` behave as
the dataclasses they were."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

from secretctl.core.frozen import field, frozen, mutable, mutable_kw, replace


@frozen
class Light:
    start: int
    label: str
    view: str = "raw"


@dataclasses.dataclass(frozen=True)
class Light2:  # the same record, made by dataclasses (its name differs only by the digit)
    start: int
    label: str
    view: str = "raw"


def test_a_frozen_record_is_a_frozen_dataclass() -> None:
    a, b = Light(1, "k"), Light2(1, "k")
    assert repr(a) == repr(b).replace("Light2", "Light") == "Light(start=1, label='k', view='raw')"
    assert a == Light(1, "k", "raw") == Light(start=1, label="k") and a != Light(1, "k", "skel")
    assert hash(a) == hash(Light(1, "k")) == hash((1, "k", "raw"))
    others: list[object] = [b, (1, "k", "raw")]
    assert a not in others  # another class is never equal, as with dataclasses
    assert len({a, Light(1, "k"), Light(2, "k")}) == 2
    assert Light.__match_args__ == Light2.__match_args__ == ("start", "label", "view")
    match a:
        case Light(1, label, view="raw"):
            assert label == "k"
        case _:
            pytest.fail("no match")
    with pytest.raises(AttributeError):
        a.start = 2  # type: ignore[misc]  # the point: it is refused
    with pytest.raises(AttributeError):
        del a.label
    with pytest.raises(TypeError):
        Light(1)  # type: ignore[call-arg]  # the point: a missing field is refused
    with pytest.raises(TypeError):
        Light(1, "k", "raw", "extra")  # type: ignore[call-arg]  # the point: so is one too many


def test_records_keep_their_reprs() -> None:
    """The detectors' repr is part of the detector cache's key: it must not change with the class maker."""
    from secretctl.core.redact.detectors import Detector
    from secretctl.core.redact.matches import Match

    assert repr(Detector("aws", b"x")) == "Detector(family='aws', expression=b'x', caseless=False, value=None)"
    assert repr(Match(1, 2, "k", "raw")) == "Match(start=1, end=2, label='k', form='raw', view='raw')"


@mutable
class Out:
    action: str
    keys: list[str] = field(default_factory=list)
    commit: str | None = None


@mutable_kw
class SetOut(Out):
    created: bool = False


@dataclasses.dataclass
class Out2:
    action: str
    keys: list[str] = dataclasses.field(default_factory=list)
    commit: str | None = None


@dataclasses.dataclass(kw_only=True)
class SetOut2(Out2):
    created: bool = False


@frozen
class Req:
    value: str | None = None
    bindings: dict[str, str] = field(default_factory=dict)
    tags: tuple[str, ...] = ()


def test_mutable_records_factories_and_keyword_only_fields_are_dataclasses() -> None:
    a, b = SetOut("set", ["k"], "c", created=True), SetOut2("set", ["k"], "c", created=True)
    assert repr(a) == repr(b).replace("SetOut2", "SetOut")
    assert SetOut.__match_args__ == SetOut2.__match_args__ == ("action", "keys", "commit")
    assert Out("x") == Out("x", [], None) and Out("x") != Out("y") and Out("x") != Out2("x")
    assert Out("x").keys is not Out("x").keys  # a fresh list each time, as default_factory makes
    assert Req().bindings == {} and Req().bindings is not Req().bindings
    with pytest.raises(TypeError):
        hash(Out("x"))  # a mutable dataclass with eq is unhashable
    with pytest.raises(TypeError):
        SetOut("set", ["k"], "c", True)  # type: ignore[misc]  # the point: keyword-only
    out = SetOut("set")
    out.commit = "d"  # mutable
    assert (out.commit, out.created, out.keys) == ("d", False, [])
    assert replace(a, created=False) == SetOut("set", ["k"], "c", created=False)
    assert replace(Req("v"), tags=("t",)) == Req("v", {}, ("t",))
    with pytest.raises(TypeError):
        replace(Req(), nope=1)
    assert dataclasses.replace(b, created=False) == SetOut2("set", ["k"], "c", created=False)  # the model


def test_the_set_path_imports_no_dataclasses(tmp_path: object) -> None:
    """Importing dataclasses (inspect, ast, dis, tokenize) and making the classes was 106 M of
    the ~256 M instructions a `set` spent importing (valgrind)."""
    import subprocess
    import sys

    code = ("import sys; import secretctl.cli.storing, secretctl.service.vault, secretctl.service.recovery, "
            "secretctl.service.trust, secretctl.service.gitahead, secretctl.infra.gitrepo\n"
            "print(sorted(m for m in ('dataclasses', 'inspect', 'ast', 'typing') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_init_is_compiled_when_the_first_record_is_made() -> None:
    """Class creation compiles nothing (most record classes a short command imports are never
    made); the first record compiles the class's __init__, later ones reuse it. Seen through
    Python's audit events, in a fresh interpreter."""
    code = ("import sys\nevents = []\nsys.addaudithook(lambda e, a: events.append(e) if e in ('compile', 'exec') "
            "else None)\nfrom secretctl.core.frozen import frozen\nn = len(events)\n"
            "@frozen\nclass R:\n    a: int\n    b: str = 'x'\n"
            "print(len(events) - n)\nR(1)\nprint(len(events) - n)\nR(2, 'y')\nprint(len(events) - n)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.split() == ["0", "2", "2"], out  # one compile and one exec, once


def test_the_first_record_made_may_be_a_subclass_or_a_refused_call() -> None:
    @frozen
    class Base:
        a: int

    class Plain(Base):
        pass

    @frozen
    class Sub(Base):
        b: int = 0

    with pytest.raises(TypeError):
        Base()  # type: ignore[call-arg]  # the point: refused on the first call too
    assert Plain(1).a == 1 and Base(2) == Base(2) and Plain(3).a == 3
    assert Sub(1, 2) == Sub(1, 2) and Sub(1).b == 0 and Base(4).a == 4
    assert Base.__init__.__qualname__.endswith("Base.__init__") and Sub.__init__.__qualname__.endswith("Sub.__init__")
