"""Import and export formats (pure core): .env files and JSON documents."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from secretctl.core.secret import Secret
from secretctl.errors import UsageError

MAX_IMPORT_BYTES = 16 * 1024 * 1024
_LINE = re.compile(r"(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*=\s*(.*)")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "$": "$"}


def parse_dotenv(data: bytes, *, source: str) -> list[tuple[str, Secret]]:
    """``NAME=value`` lines; ``#`` comments; single quotes literal, double quotes with escapes."""
    if len(data) > MAX_IMPORT_BYTES:
        raise UsageError(f"{source}: larger than {MAX_IMPORT_BYTES} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{source}: not UTF-8 text") from None
    out: list[tuple[str, Secret]] = []
    # Only \n (and \r\n) end a line: str.splitlines would also split on form feeds and the
    # like, which may sit inside a quoted value.
    lines = [ln.removesuffix("\r") for ln in text.split("\n")]
    i = 0
    while i < len(lines):
        n, line = i + 1, lines[i].strip()
        i += 1
        if not line or line.startswith("#"):
            continue
        m = _LINE.fullmatch(line)
        if not m:
            # The line is probably a value: never echo it.
            raise UsageError(f"{source}:{n}: not a NAME=value line", hint="fix or remove that line")
        name, rest = m.group(1), m.group(2)
        if rest.startswith(("'", '"')):
            quote = rest[0]
            body = rest[1:]
            # A quoted value may span lines.
            while not _closed(body, quote) and i < len(lines):
                body += "\n" + lines[i]
                i += 1
            if not _closed(body, quote):
                raise UsageError(f"{source}:{n}: unterminated {quote} quote for {name}")
            end = _close_index(body, quote)
            value = body[:end]
            trailing = body[end + 1 :].strip()
            if trailing and not trailing.startswith("#"):
                raise UsageError(f"{source}:{n}: unexpected text after the closing quote of {name}")
            if quote == '"':
                value = re.sub(r"\\(.)", lambda mm: _ESCAPES.get(mm.group(1), "\\" + mm.group(1)), value)
        else:
            value = rest.split(" #", 1)[0].strip()
        out.append((name, Secret(value.encode())))
    return out


def _close_index(body: str, quote: str) -> int:
    j = 0
    while j < len(body):
        if body[j] == "\\" and quote == '"':
            j += 2
            continue
        if body[j] == quote:
            return j
        j += 1
    return -1


def _closed(body: str, quote: str) -> bool:
    return _close_index(body, quote) >= 0


def parse_json(data: bytes, *, source: str) -> list[tuple[str, Secret]]:
    """A JSON object of strings; nested objects become ``a/b`` keys."""
    if len(data) > MAX_IMPORT_BYTES:
        raise UsageError(f"{source}: larger than {MAX_IMPORT_BYTES} bytes")
    try:
        doc = json.loads(data)
    except ValueError as exc:
        line = getattr(exc, "lineno", None)
        raise UsageError(f"{source}{':' + str(line) if line else ''}: not valid JSON") from None
    if not isinstance(doc, dict):
        raise UsageError(f"{source}: must be a JSON object of name: value")
    out: list[tuple[str, Secret]] = []

    def walk(prefix: str, obj: dict[str, object]) -> None:
        for k, v in obj.items():
            key = f"{prefix}/{k}" if prefix else str(k)
            if isinstance(v, dict):
                walk(key, v)
            elif isinstance(v, str):
                out.append((key, Secret(v.encode())))
            elif isinstance(v, bool | int | float):
                out.append((key, Secret(json.dumps(v).encode())))
            else:
                raise UsageError(f"{source}: {key}: values must be strings, numbers or objects")

    walk("", doc)
    return out


def _quote(value: str) -> str:
    if re.fullmatch(r"[A-Za-z0-9_./:@+-]*", value):
        return value
    escaped = (value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
               .replace("$", "\\$"))
    return f'"{escaped}"'


def render_dotenv(items: Sequence[tuple[str, Secret]]) -> bytes:
    return "".join(f"{name}={_quote(v.reveal_text())}\n" for name, v in items).encode()


def render_json(items: Sequence[tuple[str, Secret]]) -> bytes:
    return (json.dumps({k: v.reveal_text() for k, v in items}, indent=2, ensure_ascii=False) + "\n").encode()
