"""A cold MCP server's first answers, before the SDK is imported.

`import mcp` costs ~0.5 s of CPU (pydantic models for every protocol revision, the client, the
HTTP transports), and a client's first two requests, `initialize` and `tools/list` (in the
2026-07 revision: `server/discover` and `tools/list`), have fixed answers: this server's info and
tool schemas. So a cold server imports the SDK on a thread and answers those from
data/mcp-answers.json (written by scripts/gen_mcp_answers.py from what the SDK itself answers;
tests/e2e/test_mcp_early.py checks they are equal), until a message comes that only the SDK can
answer. Then the SDK reads the first answered message again (`Handover.replay`: its answer to it
is dropped), so that it takes the client's era, and serves the session from there.

Only plain forms are answered here: an `initialize` without `_meta`, `notifications/initialized`,
then `tools/list` without params; or `server/discover` and `tools/list` whose params are exactly
the 2026-07 envelope. Anything else, malformed or unexpected, is handed to the SDK as it came, so
every error answer is the SDK's. No secret is involved: the answers are static text.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

ANSWERS = Path(__file__).parents[1] / "data" / "mcp-answers.json"

JsonId = int | str


@dataclass
class Handover:
    """Where the SDK takes over: the lines it reads first, and the id of the first answered
    message among them (`initialize` or `server/discover`), which it answers again."""

    replay: list[bytes] = field(default_factory=list)
    init_id: JsonId | None = None
    eof: bool = False  # the client closed stdin: no session left to hand over


def load_answers(path: Path = ANSWERS) -> dict[str, Any] | None:
    """The recorded answers, or None (then the SDK answers everything, as before): also when they
    were recorded from another release of the SDK than the one installed (pip may install any
    release the package's range allows, with other revisions or schemas)."""
    try:
        answers = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    if not (isinstance(answers, dict) and isinstance(answers.get("versions"), dict)
            and isinstance(answers.get("sdk"), dict) and _installed_sdk(answers["sdk"])):
        return None
    return answers


def _installed_sdk(releases: dict[str, Any]) -> bool:
    """Whether the installed SDK distributions (``mcp``, ``mcp_types``: the schemas) are these
    releases, told by their dist-info folders in the first folder of sys.path that holds an
    ``mcp`` package, as the import would find it (a few stat calls: importlib.metadata costs
    more than it saves here, and the import machinery is the SDK thread's)."""
    import sys

    site = next((d for d in sys.path if os.path.isdir(os.path.join(d or ".", "mcp"))), None)
    if site is None or not releases:
        return False
    return all(isinstance(v, str) and os.path.isdir(os.path.join(site or ".", f"{name}-{v}.dist-info"))
               for name, v in releases.items())


def _constant(name: str) -> Any:
    raise ValueError(f"not JSON: {name}")


def _message(line: bytes) -> dict[str, Any] | None:
    """The line as the SDK reads it, or None. Strict: UTF-8 only (json.loads of bytes would also
    take a byte-order mark or UTF-16), no NaN or Infinity; what the SDK cannot parse is its own."""
    try:
        msg = json.loads(line.decode("utf-8"), parse_constant=_constant)
    except ValueError:  # not JSON, or not UTF-8 (UnicodeDecodeError is a ValueError)
        return None
    return msg if isinstance(msg, dict) and msg.get("jsonrpc") == "2.0" else None


def _request_id(msg: dict[str, Any]) -> JsonId | None:
    rid = msg.get("id")
    # bool is an int to Python, never a JSON-RPC id
    return rid if isinstance(rid, (int, str)) and not isinstance(rid, bool) else None


def _version(msg: dict[str, Any], answers: dict[str, Any]) -> str | None:
    """The negotiated revision of a plain `initialize`, as the SDK picks it (the client's if the
    SDK speaks it, else its latest handshake revision); None for anything the SDK must judge."""
    params = msg.get("params")
    if not isinstance(params, dict) or "_meta" in params:
        return None
    info = params.get("clientInfo")
    if not (isinstance(params.get("protocolVersion"), str) and isinstance(params.get("capabilities"), dict)
            and isinstance(info, dict) and isinstance(info.get("name"), str)
            and isinstance(info.get("version"), str)):
        return None
    requested: str = params["protocolVersion"]
    return requested if requested in answers["versions"] else str(answers["latest"])


def _answer(rid: JsonId, result: Any) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": rid, "result": result}, separators=(",", ":")).encode() + b"\n"


_META = "io.modelcontextprotocol/"  # the 2026-07 envelope's keys, in every request's params._meta


def _modern(msg: dict[str, Any], answers: dict[str, Any]) -> str | None:
    """The revision of a plain 2026-07 request without arguments (`server/discover`, `tools/list`):
    params holding only the envelope, with exactly its three keys well formed; None otherwise."""
    params = msg.get("params")
    meta = params.get("_meta") if isinstance(params, dict) and set(params) == {"_meta"} else None
    if not isinstance(meta, dict) or set(meta) != {_META + k for k in ("protocolVersion", "clientInfo",
                                                                         "clientCapabilities")}:
        return None
    version, info = meta[_META + "protocolVersion"], meta[_META + "clientInfo"]
    if not (isinstance(version, str) and version in answers.get("modern", {})
            and isinstance(meta[_META + "clientCapabilities"], dict) and isinstance(info, dict)
            and isinstance(info.get("name"), str) and isinstance(info.get("version"), str)):
        return None
    return version


def serve(rfile: BinaryIO, write: Callable[[bytes], None], answers: dict[str, Any]) -> Handover:
    """Answer the plain handshake and `tools/list` (or their 2026-07 forms, `server/discover` and
    `tools/list` in the envelope) from ``answers`` until a message needs the SDK. The first
    message answered is replayed to the SDK, so that it takes the same era the client did."""
    out = Handover()
    version: str | None = None  # the handshake's revision, once answered
    modern = False  # a 2026-07 request answered: the handshake's messages are the SDK's
    initialized = False
    while True:
        line = rfile.readline()
        if not line:
            out.eof = True
            return out
        msg = _message(line)
        method = msg.get("method") if msg else None
        rid = _request_id(msg) if msg else None
        if msg and method == "initialize" and out.init_id is None and rid is not None:
            version = _version(msg, answers)
            if version is not None:
                write(_answer(rid, answers["versions"][version]["initialize"]))
                out.replay.append(line)
                out.init_id = rid
                continue
        elif msg and method == "notifications/initialized" and version is not None and "id" not in msg:
            out.replay.append(line)
            initialized = True
            continue
        elif (msg and method == "tools/list" and initialized and version is not None and rid is not None
              and msg.get("params") in (None, {})):
            write(_answer(rid, answers["versions"][version]["tools/list"]))
            continue
        elif (msg and method in ("server/discover", "tools/list") and version is None and rid is not None
              and (era := _modern(msg, answers)) is not None):
            write(_answer(rid, answers["modern"][era][method]))
            if not modern:
                out.replay.append(line)
                out.init_id = rid
                modern = True
            continue
        out.replay.append(line)
        return out
