"""Key names and where they live on disk (pure core).

A key is ``/``-separated segments of ``[A-Za-z0-9._-]``; ``aws/secret_key`` is stored at
``aws/secret_key.age`` with its sidecar at ``aws/secret_key.meta.yaml`` (passage's layout).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from secretctl.errors import UsageError

MAX_KEY_LENGTH = 256
MAX_SEGMENT_LENGTH = 100
MAX_DEPTH = 16
SECRET_SUFFIX = ".age"
META_SUFFIX = ".meta.yaml"

_SEGMENT_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-")  # [A-Za-z0-9._-]
# Names Windows cannot create, whatever the extension: a teammate there could not check out the vault.
_WINDOWS_RESERVED = frozenset(
    ["con", "prn", "aux", "nul"] + [f"com{i}" for i in range(1, 10)] + [f"lpt{i}" for i in range(1, 10)]
)
_HINT = "key names are /-separated segments of letters, digits, '.', '_' and '-', e.g. aws/secret_key"


# One regex for the common case (every key of a vault is checked when it is listed): segments
# that do not start with '.', no reserved device name, no reserved suffix, no segment over 100.
# Compiled on first use: 1 ms of every start, and `run`'s start-up fast path never validates a key.
_FAST_OK_TEXT = (r"(?!.*(?:^|/)(?:con|prn|aux|nul|com[1-9]|lpt[1-9])(?:[./]|$))(?!.*[^/]{101})"
                 r"(?!.*(?:\.age|\.meta\.yaml)(?:/|$))[A-Za-z0-9_-][A-Za-z0-9._-]*(?:/[A-Za-z0-9_-][A-Za-z0-9._-]*)*")
_FAST_OK: list[re.Pattern[str]] = []


def _fast_ok(key: str) -> bool:
    if not _FAST_OK:
        _FAST_OK.append(re.compile(_FAST_OK_TEXT, re.IGNORECASE))
    return _FAST_OK[0].fullmatch(key) is not None


def validate_key(key: str) -> str:
    """Return ``key`` unchanged if it is a valid key name; raise UsageError naming the rule otherwise."""
    if len(key) <= MAX_KEY_LENGTH and key.count("/") < MAX_DEPTH and _fast_ok(key):
        return key
    _check_rules(key)
    return key


def _check_rules(key: str) -> None:
    """Each rule in turn, raising the first one ``key`` breaks (what ``_FAST_OK_TEXT`` sums up)."""
    shown = key if key.isprintable() and len(key) <= MAX_KEY_LENGTH else repr(key[:40])
    if not key:
        raise UsageError("invalid key name: empty", hint=_HINT)
    if len(key) > MAX_KEY_LENGTH:
        raise UsageError(f"invalid key name: longer than {MAX_KEY_LENGTH} characters", hint=_HINT)
    segments = key.split("/")
    if len(segments) > MAX_DEPTH:
        raise UsageError(f"invalid key name {shown}: deeper than {MAX_DEPTH} levels", hint=_HINT)
    for seg in segments:
        if not seg:
            raise UsageError(f"invalid key name {shown}: empty segment (leading, trailing or double '/')",
                             hint=_HINT)
        if seg in {".", ".."}:
            raise UsageError(f"invalid key name {shown}: '{seg}' segments are not allowed", hint=_HINT)
        if seg.startswith("."):
            raise UsageError(f"invalid key name {shown}: a segment may not start with '.'",
                             hint="names starting with '.' are reserved for vault files such as .age-recipients")
        if not _SEGMENT_CHARS.issuperset(seg):
            raise UsageError(f"invalid key name {shown}: segment {seg!r} has a character outside [A-Za-z0-9._-]",
                             hint=_HINT)
        if len(seg) > MAX_SEGMENT_LENGTH:
            raise UsageError(f"invalid key name {shown}: a segment is longer than {MAX_SEGMENT_LENGTH}",
                             hint=_HINT)
        if seg.split(".")[0].lower() in _WINDOWS_RESERVED:
            raise UsageError(f"invalid key name {shown}: {seg!r} is a reserved device name on Windows",
                             hint="pick another name so every teammate can check the vault out")
        if seg.endswith(".meta.yaml") or seg.endswith(SECRET_SUFFIX):
            raise UsageError(f"invalid key name {shown}: may not end in .age or .meta.yaml",
                             hint="those suffixes are the vault's own file names")


def secret_path(key: str) -> str:
    return key + SECRET_SUFFIX


def meta_path(key: str) -> str:
    return key + META_SUFFIX


def key_from_path(relpath: str) -> str | None:
    """The key for a vault-relative ``*.age`` path (``/``-separated), or None if it is not a secret file."""
    if not relpath.endswith(SECRET_SUFFIX):
        return None
    key = relpath[: -len(SECRET_SUFFIX)]
    try:
        return validate_key(key)
    except UsageError:
        return None


# A directory's file names, joined by newlines, checked in one pass: listing a 10,000-secret
# vault validates every name, and one regex call per folder costs a tenth of one per name.
_SECRET_FILE = re.compile(
    r"^(?!(?i:con|prn|aux|nul|com[1-9]|lpt[1-9])\.)(?![^\n]*(?:\.age|\.meta\.yaml)\.age$)"
    r"([A-Za-z0-9_-][A-Za-z0-9._-]{0,99})\.age$",
    re.MULTILINE,
)


def keys_in_folder(folder: str, names: Iterable[str]) -> list[str]:
    """The keys stored in ``folder`` (a valid key prefix, or '') among its file ``names``.

    Equivalent to :func:`key_from_path` on each name, which the tests check.
    """
    names = list(names)
    text = "\n".join(names)
    if text.count("\n") != len(names) - 1:  # a file name with a newline in it: go name by name
        prefix = folder + "/" if folder else ""
        return [k for n in names if "\n" not in n and (k := key_from_path(prefix + n)) is not None]
    found = _SECRET_FILE.findall(text)
    if not found:
        return []
    prefix = folder + "/" if folder else ""
    if prefix.count("/") >= MAX_DEPTH:
        return []
    room = MAX_KEY_LENGTH - len(prefix)
    if room < 100:
        found = [n for n in found if len(n) <= room]
    return [prefix + n for n in found] if prefix else found


def folder_ok(folder: str) -> bool:
    """Whether a folder can hold keys (it is a valid key prefix). Rule by rule: a walk checks a few
    folders, and compiling the one-regex check cost `run -k` 1.2 ms of its start."""
    try:
        _check_rules(folder)
    except UsageError:
        return False
    return True


class CaseIndex:
    """Existing keys and folders by case-folded spelling, to refuse a key that differs from one
    only by case (macOS and Windows teammates would get one file for two keys). Built once per
    operation, so a bulk import checks each key in O(depth), not O(vault size)."""

    def __init__(self, existing: Iterable[str] = ()) -> None:
        keys = list(existing)
        # First spelling wins, as with add(); folders are few, so they are expanded once each.
        self._keys: dict[str, str] = {k.casefold(): k for k in reversed(keys)}
        self._dirs: dict[str, str] = {}
        for folder in dict.fromkeys(k.rpartition("/")[0] for k in keys if "/" in k):
            segs = folder.split("/")
            for i in range(1, len(segs) + 1):
                d = "/".join(segs[:i])
                self._dirs.setdefault(d.casefold(), d)

    def add(self, key: str) -> None:
        self._keys.setdefault(key.casefold(), key)
        segs = key.split("/")
        for i in range(1, len(segs)):
            d = "/".join(segs[:i])
            self._dirs.setdefault(d.casefold(), d)

    def check(self, key: str) -> None:
        other = self._keys.get(key.casefold())
        if other is not None and other != key:
            raise UsageError(
                f"key {key} differs from existing key {other} only by case",
                hint="case-insensitive file systems (macOS, Windows) would store both in one file; reuse that spelling",
            )
        segs = key.split("/")
        for i in range(1, len(segs)):
            mine = "/".join(segs[:i])
            theirs = self._dirs.get(mine.casefold())
            if theirs is not None and theirs != mine:
                raise UsageError(
                    f"key {key}: folder {mine} differs from existing folder {theirs} only by case",
                    hint="case-insensitive file systems would merge the two folders; use the same spelling",
                )


def check_case_collision(key: str, existing: Iterable[str]) -> None:
    """Refuse a key that differs from an existing key or folder only by case."""
    CaseIndex(existing).check(key)


def match_pattern(pattern: str, key: str) -> bool:
    """``*`` matches within one segment, ``**`` any number of segments; otherwise exact.

    ``aws/*`` matches ``aws/x`` but not ``aws/x/y``; ``aws/**`` matches both; ``**`` alone matches all.
    """
    if "*" not in pattern:
        return pattern == key  # what its compiled form matches, without the compile (~40 us a pattern)
    return _compile(pattern).fullmatch(key) is not None


_PATTERN_CACHE: dict[str, re.Pattern[str]] = {}


def _compile(pattern: str) -> re.Pattern[str]:
    cached = _PATTERN_CACHE.get(pattern)
    if cached is not None:
        return cached
    out = []
    segs = pattern.split("/")
    for i, seg in enumerate(segs):
        last = i == len(segs) - 1
        if seg == "**":
            out.append(".*" if last else "(?:[^/]+/)*")
            continue
        piece = "".join("[^/]*" if ch == "*" else re.escape(ch) for ch in seg)
        out.append(piece if last else piece + "/")
    compiled = re.compile("".join(out))
    _PATTERN_CACHE[pattern] = compiled
    return compiled

