"""JSON for the start-up fast paths, without importing the ``json`` package.

``import json`` pulls in ``re`` (its scanner and encoder compile patterns at import), about 9 ms
of CPU at every start of `get` through the unlock agent, whose whole budget is 25 ms. The C
accelerator ``_json`` underneath does the actual work for ``json`` too; this module drives it
directly, with the same settings ``json.dumps(..., separators=(",", ":"))`` and ``json.loads``
use, so the bytes are the same (tests/core/test_jsonfast.py compares them). Where the
accelerator is missing (another Python implementation) it falls back to ``json`` itself.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # importing typing costs the fast path about 10 ms: for mypy only
    from typing import Any

try:
    import _json

    _ACCELERATED = hasattr(_json, "make_encoder") and hasattr(_json, "make_scanner")
except ImportError:  # pragma: no cover - CPython always has it
    _ACCELERATED = False


def _default(obj: object) -> object:
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


def dumps(obj: object, *, sort_keys: bool = False) -> str:
    """``json.dumps(obj, separators=(",", ":"), sort_keys=sort_keys)``."""
    if not _ACCELERATED:  # pragma: no cover
        import json

        return json.dumps(obj, separators=(",", ":"), sort_keys=sort_keys)
    encode = _json.make_encoder({}, _default, _json.encode_basestring_ascii, None, ":", ",", sort_keys, False, True)
    return "".join(encode(obj, 0))


class _Context:
    """What the C scanner reads off ``json.JSONDecoder``: the defaults ``json.loads`` uses."""

    strict = True
    object_hook: None = None  # (annotated: tests/e2e/test_crash.py looks for hook assignments)
    object_pairs_hook: None = None
    parse_float = float
    parse_int = int

    @staticmethod
    def parse_constant(name: str) -> float:
        return {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}[name]


_WHITESPACE = " \t\n\r"


def loads(data: bytes | str) -> Any:
    """``json.loads(data)`` for UTF-8 text; ValueError when it is not one JSON document."""
    text = data.decode("utf-8") if isinstance(data, bytes) else data
    if not _ACCELERATED:  # pragma: no cover
        import json

        return json.loads(text)
    start = len(text) - len(text.lstrip(_WHITESPACE))
    try:
        # The scanner reads the decoder's settings off any object; typeshed types it as itself.
        obj, end = _json.make_scanner(_Context)(text, start)  # type: ignore[arg-type]
    except StopIteration:
        raise ValueError("not a JSON document") from None
    if text[end:].strip(_WHITESPACE):
        raise ValueError("extra data after the JSON document")
    return obj
