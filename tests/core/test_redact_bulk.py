"""The stream's bulk reads (``stream.BULK_READ``: a read that large means the writer is ahead):
the window a form could still grow in is held back whole instead of measured. Forms straddling a
bulk read's end, at every offset, are still redacted; a pause still releases all but a real
prefix of a value."""

from __future__ import annotations

from secretctl.core.redact import Redactor
from secretctl.core.redact.stream import BULK_READ
from secretctl.core.secret import Secret

VALUE = b"Zq7mK9pWx3RtY8vN2sLh"
# Spelled so that the stream's other rules (hold the last word, a byte list, a keyword's line) do
# not hold them back: only the window rule does.
FORMS = {
    "spread": b" | ".join(bytes([c]) for c in VALUE),  # the skeleton view
    "spread-reversed": b" | ".join(bytes([c]) for c in VALUE[::-1]),
    "upper": b" ! ".join(bytes([c]) for c in VALUE.upper()),
    "percent": b"".join(b"%%%02X!" % c for c in VALUE),  # the unescaped view
}


def _filler(size: int) -> bytes:
    line = b"GET /api/v1/users 200 OK latency=12ms user=alice worker started processing, all done\n"
    return (line * (size // len(line) + 1))[:size]


def test_forms_straddling_a_bulk_read_are_redacted_at_every_offset() -> None:
    r = Redactor.build({"app/token": Secret(VALUE)})
    for name, form in FORMS.items():
        for offset in range(1, len(form)):
            head = _filler(BULK_READ + 100) + b" value is "
            data = head + form + b" and more\n" + _filler(BULK_READ)
            cut = len(head) + offset  # the first read ends inside the form
            s = r.stream()
            out = s.feed(data[:cut]) + s.feed(data[cut:]) + s.close()
            assert form not in out, (name, offset)
            assert out.count(b"[REDACTED:app/token]") == 1, (name, offset)
            assert out == r.redact(data), (name, offset)


def test_a_pause_after_a_bulk_read_releases_all_but_a_real_prefix() -> None:
    r = Redactor.build({"app/token": Secret(VALUE)})
    s = r.stream()
    plain = _filler(BULK_READ + 500)
    plain = plain[: plain.rfind(b"\n") + 1]  # whole lines: nothing in it starts a form
    out = s.feed(plain)
    assert len(out) < len(plain)  # the window is held while more is coming
    out += s.flush_idle()
    assert out == plain  # a pause shows it all: no value could start in it
    s2 = r.stream()
    spread = FORMS["spread"]
    out = s2.feed(plain + b"value: " + spread[:30])
    out += s2.flush_idle()
    assert out == plain + b"value: "  # the start of a form stays held
    out += s2.feed(spread[30:] + b"\n") + s2.close()
    assert out == plain + b"value: [REDACTED:app/token]\n"
