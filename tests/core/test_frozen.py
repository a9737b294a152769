"""core/frozen.py makes the records on `run`'s start-up path behave as the frozen dataclasses they were."""

from __future__ import annotations

import dataclasses

import pytest

from secretctl.core.frozen import frozen


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
