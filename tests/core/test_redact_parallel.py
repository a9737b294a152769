"""Large reads: the detector scans run on the scan thread (worker.py) while the views are scanned,
and small skeleton sets hold their literals backwards too (one scan finds reversed forms). Both
must find exactly what the one-thread, two-scan path finds."""

from __future__ import annotations

import base64
import gzip
import os
import random
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from secretctl.core.redact import Redactor, redactor, worker
from secretctl.core.secret import Secret
from tests.core.test_redact_property import FORMS, split_at, stream, unredacted_pieces
from tests.hyp import examples

SETTINGS = settings(max_examples=examples(40), deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow])
LOG = b"GET /api/v1/users 200 OK latency=12ms user=alice request_id=3f2a9c db.internal:5432 [1,2,3]\n"


def _leaky(rnd: random.Random, values: list[bytes], size: int) -> bytes:
    """Log lines with values in many forms (and credentials, dumps, encodings) among them."""
    parts: list[bytes] = []
    while sum(len(p) for p in parts) < size:
        v = rnd.choice(values)
        parts.append(rnd.choice([
            LOG * rnd.randint(1, 30),
            b"token=" + v + b"\n",
            v[::-1] + b"\n",
            b" ".join(bytes([c]) for c in v.upper()) + b"\n",
            base64.b64encode(b"config: password=" + v + b" and more text here\n") + b"\n",
            base64.b64encode(gzip.compress(b"x=" + v, mtime=0)) + b"\n",
            ", ".join(str(c) for c in v).encode() + b"\n",
            base64.b64encode(rnd.randbytes(rnd.randint(30, 3000))) + b"\n",
            b"ghp_" + bytes(rnd.choice(b"abcdefABCDEF0123456789") for _ in range(36)) + b"\n",
            rnd.randbytes(32).hex().encode() + b"  ./artifact\n",
        ]))
    return b"".join(parts)


def _serial(r: Redactor, data: bytes, cuts: list[int], monkeypatch: pytest.MonkeyPatch) -> bytes:
    with monkeypatch.context() as m:
        m.setattr(redactor, "PARALLEL_MIN", 1 << 62)
        return stream(r, split_at(data, cuts))


def _scan_thread_ran() -> bool:
    return any(t.name == "secretctl-scan" and t.is_alive() for t in threading.enumerate())


@pytest.mark.parametrize("count", [5, 400])  # a merged skeleton set, and one scanned twice
def test_large_reads_redact_as_the_one_thread_path_does(count: int, monkeypatch: pytest.MonkeyPatch) -> None:
    rnd = random.Random(count)
    values = [rnd.randbytes(12).hex().encode() for _ in range(count)]
    r = Redactor.build({f"k{i}": Secret(v) for i, v in enumerate(values)})
    assert r._reversed_scan is (count > 100)
    data = _leaky(rnd, values[:20], 600_000)
    cuts = sorted(rnd.sample(range(len(data)), 12))
    out = stream(r, split_at(data, cuts))
    assert _scan_thread_ran()
    assert out == _serial(r, data, cuts, monkeypatch)
    for v in values[:20]:
        assert v not in out and v[::-1] not in out
    assert out.count(b"[REDACTED") > 100


@SETTINGS
@given(values=st.lists(st.text(st.characters(codec="utf-8", categories=["L", "N", "P", "S"]), min_size=8,
                               max_size=40), min_size=1, max_size=3, unique=True),
       forms=st.lists(st.sampled_from(sorted(FORMS)), min_size=1, max_size=6),
       seed=st.integers(0, 1 << 30), cuts=st.lists(st.integers(0, 1 << 20), max_size=6))
def test_no_form_survives_a_large_read_split_anywhere(values: list[str], forms: list[str], seed: int,
                                                      cuts: list[int]) -> None:
    raw = [v.encode() for v in values]
    r = Redactor.build({f"s{i}": Secret(v) for i, v in enumerate(raw)})
    rnd = random.Random(seed)
    encoded = [FORMS[f](raw[i % len(raw)]) for i, f in enumerate(forms)]
    data = b"".join(LOG * rnd.randint(0, 400) + e for e in encoded) + LOG * rnd.randint(200, 400)
    out = stream(r, split_at(data, cuts))
    for piece in unredacted_pieces(out):
        for e in encoded:
            assert e not in piece
        for v in raw:
            assert v not in piece


def test_a_failure_on_the_scan_thread_is_raised_by_the_read(monkeypatch: pytest.MonkeyPatch) -> None:
    r = Redactor.build({"k": Secret(b"s3cr3t-value-0001")})
    assert r._shapes is not None

    def broken(_data: bytes) -> list[tuple[str, bytes | None, int, int]]:
        raise RuntimeError("scan failed")

    for owner, job in ((r._shapes, "scan_runs"), (r._shapes, "scan_detectors"), (r._raw, "scan")):
        with monkeypatch.context() as m:
            m.setattr(owner, job, broken)
            with pytest.raises(RuntimeError, match="scan failed"):
                r.find(LOG * 1000)
    # The thread survives a failed job: the next read is scanned.
    assert b"s3cr3t-value-0001" not in r.redact(LOG * 1000 + b"s3cr3t-value-0001\n")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork only")
def test_a_forked_child_scans_with_its_own_thread() -> None:
    # The parent's scan thread does not exist in a forked child: waiting on it would hang.
    r = Redactor.build({"k": Secret(b"s3cr3t-value-0002")})
    data = LOG * 1000 + b"s3cr3t-value-0002\n"
    assert b"s3cr3t" not in r.redact(data)
    assert _scan_thread_ran()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through its exit status
        try:
            os._exit(0 if b"s3cr3t" not in r.redact(data) else 1)
        finally:
            os._exit(2)
    for _ in range(400):
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            assert os.waitstatus_to_exitcode(status) == 0
            return
        threading.Event().wait(0.05)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    pytest.fail("the forked child hung waiting for its parent's scan thread")


def test_a_job_holds_no_data_once_scanned() -> None:
    job = worker.submit(len, b"x" * 100)
    assert job.result() == 100
    assert job._arg == b""


def test_a_read_does_not_wait_for_a_busy_scan_thread() -> None:
    # The scan thread is held up (here: a job that blocks; in life, a scheduler that does not wake
    # it): the reading thread runs the read's jobs itself and redacts as usual.
    r = Redactor.build({"k": Secret(b"s3cr3t-value-0003")})
    data = LOG * 1000 + base64.b64encode(b"config: password=s3cr3t-value-0003 and more text here\n") + b"\n"
    release = threading.Event()
    blocker = worker.submit(lambda _d: release.wait(30), b"")
    try:
        done: list[bytes] = []
        reader = threading.Thread(target=lambda: done.append(r.redact(data)), daemon=True)
        reader.start()
        reader.join(20)
        assert done, "the read waited for the busy scan thread"
        assert b"s3cr3t" not in done[0] and done[0].count(b"[REDACTED") == 1
        assert blocker._done.locked()  # the blocking job is still running
    finally:
        release.set()
    assert blocker.result() is True
