"""infra/forkpool: work spread over forked children gives exactly the serial result, leaves no
child behind, and falls back to the parent when a child fails, dies or hangs."""

from __future__ import annotations

import os
import time

import pytest

from secretctl.infra import forkpool

ITEMS = [f"item-{i}".encode() for i in range(200)]


def _children() -> list[int]:
    me = str(os.getpid())
    out = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/stat") as fh:
                    if fh.read().rsplit(")", 1)[1].split()[1] == me:
                        out.append(int(pid))
            except OSError:
                continue
    return out


def _double(x: bytes) -> bytes | None:
    return None if x.endswith(b"7") else x * 2


def test_the_same_results_as_serial_and_no_child_left() -> None:
    before = _children()
    assert forkpool.map_forked(_double, ITEMS, workers=4) == [_double(x) for x in ITEMS]
    assert _children() == before


def test_work_is_done_in_the_children() -> None:
    parent = os.getpid()
    pids = forkpool.map_forked(lambda _x: str(os.getpid()).encode(), ITEMS, workers=3)
    assert len(set(pids)) == 3 and str(parent).encode() in pids


@pytest.mark.parametrize("failure", ["raises", "exits", "hangs"])
def test_a_failing_child_s_share_is_done_by_the_parent(failure: str, monkeypatch: pytest.MonkeyPatch) -> None:
    parent = os.getpid()
    monkeypatch.setattr(forkpool, "MIN_DEADLINE", 0.5)

    def fn(x: bytes) -> bytes | None:
        if os.getpid() != parent:
            if failure == "raises":
                raise RuntimeError("in the child")
            if failure == "exits":
                os._exit(0)  # a clean exit with nothing written: the results are short
            time.sleep(60)
        return _double(x)

    before = _children()
    start = time.monotonic()
    assert forkpool.map_forked(fn, ITEMS, workers=2) == [_double(x) for x in ITEMS]
    assert time.monotonic() - start < 20
    assert _children() == before  # the hanging child was killed and reaped


def test_few_items_or_one_worker_stay_in_process() -> None:
    parent = os.getpid()
    assert set(forkpool.map_forked(lambda _x: str(os.getpid()).encode(), ITEMS[:3], workers=4)) == \
        {str(parent).encode()}
    assert set(forkpool.map_forked(lambda _x: str(os.getpid()).encode(), ITEMS, workers=1)) == {str(parent).encode()}
