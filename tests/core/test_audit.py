"""core/audit: commit trailers and the hash-chained access log."""

from __future__ import annotations

import pytest

from secretctl.core import audit
from secretctl.errors import VaultCorruptError


def _log(*records: audit.AuditRecord) -> bytes:
    out, prev = b"", audit.GENESIS
    for r in records:
        line = audit.encode_record(r, prev)
        out += line
        prev = audit.line_hash(line)
    return out


R1 = audit.AuditRecord("2026-01-01T00:00:00Z", "alice", "get", ("db/pass",))
R2 = audit.AuditRecord("2026-01-01T00:00:01Z", "alice", "run", ("aws/key",), (("decision", "allow"),))


def test_a_chain_round_trips_and_verifies() -> None:
    data = _log(R1, R2)
    audit.verify_chain(data, source="alice.jsonl")
    assert [r.action for r in audit.parse_log(data, source="alice.jsonl")] == ["get", "run"]
    assert audit.parse_log(data, source="x")[1].get("decision") == "allow"


@pytest.mark.parametrize("tamper", ["edit", "drop", "swap"])
def test_any_edit_removal_or_reordering_breaks_the_chain(tamper: str) -> None:
    lines = _log(R1, R2, R1).splitlines(keepends=True)
    if tamper == "edit":
        lines[0] = lines[0].replace(b"db/pass", b"db/other")
    elif tamper == "drop":
        del lines[1]
    else:
        lines[0], lines[1] = lines[1], lines[0]
    with pytest.raises(VaultCorruptError, match=r"^alice\.jsonl:\d+: "):
        audit.verify_chain(b"".join(lines), source="alice.jsonl")


def test_unknown_fields_are_refused() -> None:
    with pytest.raises(VaultCorruptError):
        audit.record_from_json({"v": 1, "ts": "t", "actor": "a", "action": "get", "keys": [], "surprise": 1})


def test_trailers_round_trip_and_cap_the_key_list() -> None:
    keys = [f"k/{i}" for i in range(audit.MAX_TRAILER_KEYS + 5)]
    text = audit.format_trailers("import", keys, "alice  <age1xyz>")
    parsed = audit.parse_trailers("secretctl: import\n\n" + text + "\n")
    assert parsed is not None
    assert parsed.action == "import" and parsed.actor == "alice <age1xyz>"
    assert len(parsed.keys) == audit.MAX_TRAILER_KEYS and parsed.omitted == 5


def test_a_commit_made_by_hand_has_no_trailers() -> None:
    assert audit.parse_trailers("fix typo\n\nSigned-off-by: someone\n") is None
