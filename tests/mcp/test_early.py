"""mcp/early.py: which messages a cold server answers before the SDK is imported, and what it
hands to the SDK. Anything but the plain handshake and a bare tools/list goes to the SDK as it
came, so every error answer stays the SDK's."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from secretctl.mcp import early

ANSWERS = early.load_answers()
INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}
INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}
TOOLS = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}
CALL = {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "secret_list", "arguments": {}}}


def line(msg: Any) -> bytes:
    return (msg if isinstance(msg, bytes) else json.dumps(msg).encode()) + b"\n"


def run(*msgs: Any) -> tuple[list[Any], early.Handover]:
    assert ANSWERS is not None
    sent: list[bytes] = []
    handover = early.serve(io.BytesIO(b"".join(line(m) for m in msgs)), sent.append, ANSWERS)
    return [json.loads(s) for s in sent], handover


def test_the_recorded_answers_load() -> None:
    assert ANSWERS is not None
    assert ANSWERS["latest"] in ANSWERS["versions"]
    for answers in ANSWERS["versions"].values():
        names = {t["name"] for t in answers["tools/list"]["tools"]}
        assert {"secret_list", "secret_run", "secret_get_masked", "policy_show"} <= names


def test_the_plain_handshake_and_tools_list_are_answered_then_the_sdk_takes_over() -> None:
    sent, handover = run(INIT, INITIALIZED, TOOLS, CALL, TOOLS)
    assert ANSWERS is not None
    assert [m["id"] for m in sent] == [1, 2]
    assert sent[0]["result"] == ANSWERS["versions"]["2025-06-18"]["initialize"]
    assert sent[0]["result"]["protocolVersion"] == "2025-06-18"
    assert sent[1]["result"] == ANSWERS["versions"]["2025-06-18"]["tools/list"]
    # The SDK reads the handshake again and then the call; what follows stays on the wire.
    assert handover.replay == [line(INIT), line(INITIALIZED), line(CALL)]
    assert handover.init_id == 1
    assert not handover.eof


def test_an_unknown_revision_gets_the_latest_as_the_sdk_answers() -> None:
    sent, _ = run({**INIT, "params": {**INIT["params"], "protocolVersion": "1999-01-01"}}, INITIALIZED, TOOLS, CALL)
    assert ANSWERS is not None
    assert sent[0]["result"]["protocolVersion"] == ANSWERS["latest"]


@pytest.mark.parametrize("opening", [
    pytest.param([TOOLS], id="tools/list before initialize"),
    pytest.param([{"jsonrpc": "2.0", "id": 9, "method": "ping"}], id="ping"),
    pytest.param([b"{not json"], id="not JSON"),
    pytest.param([b"\xff\xfe"], id="not UTF-8"),
    pytest.param([[INIT]], id="a batch"),
    pytest.param([{**INIT, "jsonrpc": "1.0"}], id="not JSON-RPC 2.0"),
    pytest.param([{**INIT, "id": True}], id="a boolean id"),
    pytest.param([b"\xef\xbb\xbf" + json.dumps(INIT).encode()], id="a byte-order mark"),
    pytest.param([json.dumps(INIT).encode("utf-16")], id="UTF-16"),
    pytest.param([json.dumps({**INIT, "params": {**INIT["params"], "capabilities": {"x": float("nan")}}}).encode()],
                 id="NaN"),
    pytest.param([{**INIT, "params": {**INIT["params"], "_meta": {"progressToken": 1}}}], id="initialize with _meta"),
    pytest.param([{**INIT, "params": {"protocolVersion": "2025-06-18"}}], id="initialize without clientInfo"),
    pytest.param([{**INIT, "params": {**INIT["params"], "protocolVersion": 5}}], id="a version that is no string"),
    pytest.param([{"jsonrpc": "2.0", "method": "initialize", "params": INIT["params"]}],
                 id="initialize as a notification"),
])
def test_an_unusual_opening_goes_to_the_sdk_unanswered(opening: list[Any]) -> None:
    sent, handover = run(*opening, INIT, INITIALIZED, TOOLS)
    assert sent == []
    assert handover.replay == [line(opening[0])]
    assert handover.init_id is None


@pytest.mark.parametrize("after", [
    pytest.param([TOOLS], id="tools/list before notifications/initialized"),
    pytest.param([INITIALIZED, {**TOOLS, "params": {"cursor": "x"}}], id="tools/list with a cursor"),
    pytest.param([INITIALIZED, {**TOOLS, "params": {"_meta": {"progressToken": 2}}}], id="tools/list with _meta"),
    pytest.param([INITIALIZED, {**INIT, "id": 5}], id="a second initialize"),
    pytest.param([{**INITIALIZED, "id": 7}], id="notifications/initialized with an id"),
])
def test_after_the_initialize_answer_anything_unusual_goes_to_the_sdk(after: list[Any]) -> None:
    sent, handover = run(INIT, *after, TOOLS)
    assert [m["id"] for m in sent] == [1]
    assert handover.replay == [line(INIT), *[line(m) for m in after]]
    assert handover.init_id == 1


def test_a_client_that_leaves_ends_the_early_loop() -> None:
    sent, handover = run(INIT, INITIALIZED, TOOLS)
    assert [m["id"] for m in sent] == [1, 2]
    assert handover.eof


def test_unreadable_answers_leave_everything_to_the_sdk(tmp_path: Any) -> None:
    for text in ("", "{", "[]", '{"latest": "x"}'):
        (tmp_path / "a.json").write_text(text)
        assert early.load_answers(tmp_path / "a.json") is None


def test_answers_recorded_from_another_sdk_release_are_not_used(tmp_path: Any) -> None:
    assert ANSWERS is not None
    (tmp_path / "a.json").write_text(json.dumps(ANSWERS))
    assert early.load_answers(tmp_path / "a.json") == ANSWERS
    for sdk in ({"mcp": "0.0.1", "mcp_types": ANSWERS["sdk"]["mcp_types"]}, {}, "2.3.0"):
        (tmp_path / "a.json").write_text(json.dumps({**ANSWERS, "sdk": sdk}))
        assert early.load_answers(tmp_path / "a.json") is None


ENVELOPE = {"_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                      "io.modelcontextprotocol/clientInfo": {"name": "mcp", "version": "0.1.0"},
                      "io.modelcontextprotocol/clientCapabilities": {}}}
DISCOVER = {"jsonrpc": "2.0", "id": 1, "method": "server/discover", "params": ENVELOPE}
MODERN_TOOLS = {"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": ENVELOPE}
MODERN_CALL = {"jsonrpc": "2.0", "id": 3, "method": "tools/call",
               "params": {"name": "secret_list", "arguments": {}, **ENVELOPE}}


def test_the_2026_era_discover_and_tools_list_are_answered_and_the_first_replayed() -> None:
    assert ANSWERS is not None
    sent, handover = run(DISCOVER, MODERN_TOOLS, MODERN_TOOLS, MODERN_CALL)
    assert [m["id"] for m in sent] == [1, 2, 2]
    assert sent[0]["result"] == ANSWERS["modern"]["2026-07-28"]["server/discover"]
    assert sent[1]["result"] == ANSWERS["modern"]["2026-07-28"]["tools/list"]
    assert handover.replay == [line(DISCOVER), line(MODERN_CALL)]  # the SDK takes the client's era
    assert handover.init_id == 1


def _meta(**changes: Any) -> dict[str, Any]:
    meta = {**ENVELOPE["_meta"], **changes}
    return {"_meta": {k: v for k, v in meta.items() if v is not None}}


@pytest.mark.parametrize("params", [
    pytest.param(_meta(**{"io.modelcontextprotocol/protocolVersion": "2099-01-01"}), id="an unknown revision"),
    pytest.param(_meta(**{"io.modelcontextprotocol/clientInfo": None}), id="no client info"),
    pytest.param(_meta(**{"io.modelcontextprotocol/clientCapabilities": 5}), id="capabilities not an object"),
    pytest.param(_meta(**{"io.modelcontextprotocol/extra": 1}), id="another envelope key"),
    pytest.param({**ENVELOPE, "cursor": "x"}, id="a cursor"),
    pytest.param({}, id="no envelope"),
])
def test_an_unusual_2026_request_goes_to_the_sdk(params: dict[str, Any]) -> None:
    sent, handover = run({**MODERN_TOOLS, "params": params}, MODERN_TOOLS)
    assert sent == []
    assert handover.init_id is None


def test_the_eras_are_not_mixed() -> None:
    sent, handover = run(DISCOVER, INIT)  # a handshake after a 2026 request: the SDK judges it
    assert [m["id"] for m in sent] == [1]
    assert handover.replay == [line(DISCOVER), line(INIT)]
    sent, handover = run(INIT, INITIALIZED, MODERN_TOOLS)  # and a 2026 request after the handshake
    assert [m["id"] for m in sent] == [1]
    assert handover.replay == [line(INIT), line(INITIALIZED), line(MODERN_TOOLS)]
