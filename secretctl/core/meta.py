"""Metadata sidecars (pure core): ``KEY.meta.yaml`` beside ``KEY.age``.

Plaintext YAML that never holds a value: timestamps, who, expiry, notes, url, tags, the
fingerprint of the recipient set the ``.age`` file was encrypted to, and for multi-field
secrets the non-sensitive fields, hints and env bindings. Parsing is strict: unknown
fields and wrong types are errors naming the file and field.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from secretctl.core import schema
from secretctl.core.frozen import frozen, replace
from secretctl.core.metalines import load_fast as _load_fast
from secretctl.errors import UsageError, VaultCorruptError

TYPE_CHECKING = False  # typing costs every start ~3 ms to import: for mypy only
if TYPE_CHECKING:
    from typing import Any

FORMAT_VERSION = 1
MAX_SIDECAR_BYTES = 64 * 1024
MAX_TEXT = 4096
_TAG = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,63}")
_ENV = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
FIELD_KINDS = frozenset({"text", "host", "port", "username", "password", "url", "token", "database", "other"})


def format_time(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: object, *, where: str) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str):
        try:
            t = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            return t if t.tzinfo else t.replace(tzinfo=UTC)
    raise VaultCorruptError(f"{where}: not a timestamp (expected 2026-01-31T12:00:00Z)")


@frozen
class Field:
    """One field of a multi-field secret as its sidecar describes it (a value only if public)."""

    name: str
    sensitive: bool
    value: str | None = None  # only for non-sensitive fields
    hint: str | None = None
    kind: str = "text"
    aliases: tuple[str, ...] = ()

    def to_data(self) -> dict[str, Any]:
        d: dict[str, Any] = {"name": self.name, "sensitive": self.sensitive}
        if self.value is not None:
            d["value"] = self.value
        if self.hint:
            d["hint"] = self.hint
        if self.kind != "text":
            d["kind"] = self.kind
        if self.aliases:
            d["aliases"] = list(self.aliases)
        return d


@frozen
class Meta:
    """A secret's sidecar: when and by whom it changed, its recipients, tags, fields; never a value."""

    created: datetime
    updated: datetime
    updated_by: str
    recipients_fingerprint: str = ""
    expires: datetime | None = None
    notes: str | None = None
    url: str | None = None
    tags: tuple[str, ...] = ()
    fields: tuple[Field, ...] = ()
    bindings: tuple[tuple[str, str], ...] = ()  # (ENV_NAME, field name)

    @property
    def is_multifield(self) -> bool:
        return bool(self.fields)

    def field(self, name: str) -> Field | None:
        for f in self.fields:
            if f.name == name or name in f.aliases:
                return f
        return None

    def sensitive_fields(self) -> list[str]:
        return [f.name for f in self.fields if f.sensitive]

    def expired(self, now: datetime) -> bool:
        return self.expires is not None and self.expires <= now

    def expires_within(self, now: datetime, window: timedelta) -> bool:
        return self.expires is not None and self.expires <= now + window

    def touched(self, now: datetime, actor: str) -> Meta:
        return replace(self, updated=now, updated_by=actor)

    def to_data(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "version": FORMAT_VERSION,
            "created": format_time(self.created),
            "updated": format_time(self.updated),
            "updated_by": self.updated_by,
        }
        if self.expires is not None:
            d["expires"] = format_time(self.expires)
        if self.notes:
            d["notes"] = self.notes
        if self.url:
            d["url"] = self.url
        if self.tags:
            d["tags"] = list(self.tags)
        if self.recipients_fingerprint:
            d["recipients_fingerprint"] = self.recipients_fingerprint
        if self.fields:
            d["fields"] = [f.to_data() for f in self.fields]
        if self.bindings:
            d["bindings"] = dict(self.bindings)
        return d


def new_meta(now: datetime, actor: str, **kw: Any) -> Meta:
    return Meta(created=now, updated=now, updated_by=actor, **kw)


def validate_tags(tags: list[str]) -> tuple[str, ...]:
    out: list[str] = []
    for raw in tags:
        t = raw.strip()
        if not t:
            continue
        if not _TAG.fullmatch(t):
            raise UsageError(f"invalid tag {t[:40]!r}", hint="tags are letters, digits and . _ : -, at most 64")
        if t not in out:
            out.append(t)
    return tuple(out)


def validate_field_name(name: str) -> str:
    if not _FIELD.fullmatch(name):
        raise UsageError(f"invalid field name {name[:40]!r}",
                         hint="field names are letters, digits, _ . -, starting with a letter or _")
    return name


def validate_env_name(name: str) -> str:
    if not _ENV.fullmatch(name):
        raise UsageError(f"invalid environment variable name {name[:40]!r}",
                         hint="use letters, digits and _, not starting with a digit")
    return name


def _text(value: object, where: str, limit: int = MAX_TEXT) -> str:
    if not isinstance(value, str):
        raise VaultCorruptError(f"{where}: must be text")
    if len(value) > limit:
        raise VaultCorruptError(f"{where}: longer than {limit} characters")
    return value


def _check_keys(data: dict[str, Any], allowed: set[str], where: str) -> None:
    for k in data:
        if k not in allowed:
            raise VaultCorruptError(f"{where}: unknown field {str(k)[:40]!r}",
                                    hint="sidecars hold only metadata; see docs/vault-format.md")


_TOP = {"version", "created", "updated", "updated_by", "expires", "notes", "url", "tags",
        "recipients_fingerprint", "fields", "bindings"}
_FIELD_KEYS = {"name", "sensitive", "value", "hint", "kind", "aliases"}


def _load_yaml(data: bytes, source: str) -> Any:
    return schema.load(data, source=source)


def parse_meta(data: bytes, *, source: str) -> Meta:
    """Parse a sidecar strictly. Every problem is a VaultCorruptError naming ``source``."""
    if len(data) > MAX_SIDECAR_BYTES:
        raise VaultCorruptError(f"{source}: larger than {MAX_SIDECAR_BYTES} bytes")
    raw = _load_fast(data)
    if raw is None:
        raw = _load_yaml(data, source)
    if not isinstance(raw, dict):
        raise VaultCorruptError(f"{source}: must be a YAML mapping")
    _check_keys(raw, _TOP, source)
    version = raw.get("version", FORMAT_VERSION)
    if version != FORMAT_VERSION:
        raise VaultCorruptError(f"{source}: unsupported sidecar version {version!r}",
                                hint="upgrade secretctl")
    for req in ("created", "updated"):
        if req not in raw:
            raise VaultCorruptError(f"{source}: missing field {req!r}")
    tags_raw = raw.get("tags", [])
    if not isinstance(tags_raw, list) or not all(isinstance(t, str) for t in tags_raw):
        raise VaultCorruptError(f"{source}: tags must be a list of text")
    try:
        tags = validate_tags(tags_raw)
    except UsageError as exc:
        raise VaultCorruptError(f"{source}: {exc.message}") from None
    fields: list[Field] = []
    for i, f in enumerate(raw.get("fields", []) or []):
        where = f"{source}: fields[{i}]"
        if not isinstance(f, dict):
            raise VaultCorruptError(f"{where}: must be a mapping")
        _check_keys(f, _FIELD_KEYS, where)
        name = _text(f.get("name"), f"{where}.name", 64)
        if not _FIELD.fullmatch(name):
            raise VaultCorruptError(f"{where}.name: invalid field name")
        sensitive = f.get("sensitive")
        if not isinstance(sensitive, bool):
            raise VaultCorruptError(f"{where}.sensitive: must be true or false")
        value = f.get("value")
        if value is not None:
            if sensitive:
                raise VaultCorruptError(f"{where}: a sensitive field may not have a value in the sidecar",
                                        hint="sensitive values belong in the encrypted .age file")
            value = _text(value if not isinstance(value, int | float) else str(value), f"{where}.value")
        kind = f.get("kind", "text")
        if kind not in FIELD_KINDS:
            raise VaultCorruptError(f"{where}.kind: unknown kind {str(kind)[:20]!r}")
        aliases = f.get("aliases", [])
        if not isinstance(aliases, list) or not all(isinstance(a, str) and _FIELD.fullmatch(a) for a in aliases):
            raise VaultCorruptError(f"{where}.aliases: must be a list of field names")
        hint = f.get("hint")
        fields.append(Field(name, sensitive, value, None if hint is None else _text(hint, f"{where}.hint"),
                            kind, tuple(aliases)))
    if len({f.name for f in fields}) != len(fields):
        raise VaultCorruptError(f"{source}: duplicate field name")
    bindings_raw = raw.get("bindings", {}) or {}
    if not isinstance(bindings_raw, dict):
        raise VaultCorruptError(f"{source}: bindings must be a mapping ENV_NAME: field")
    names = {f.name for f in fields}
    bindings: list[tuple[str, str]] = []
    for env, fname in bindings_raw.items():
        if not isinstance(env, str) or not _ENV.fullmatch(env):
            raise VaultCorruptError(f"{source}: bindings: invalid environment variable name {str(env)[:40]!r}")
        if fname not in names:
            raise VaultCorruptError(f"{source}: bindings: {env} names unknown field {str(fname)[:40]!r}")
        bindings.append((env, fname))
    expires = raw.get("expires")
    fp = raw.get("recipients_fingerprint", "")
    notes = raw.get("notes")
    url = raw.get("url")
    return Meta(
        created=parse_time(raw["created"], where=f"{source}: created"),
        updated=parse_time(raw["updated"], where=f"{source}: updated"),
        updated_by=_text(raw.get("updated_by", ""), f"{source}: updated_by", 256),
        recipients_fingerprint=_text(fp, f"{source}: recipients_fingerprint", 80),
        expires=None if expires is None else parse_time(expires, where=f"{source}: expires"),
        notes=None if notes is None else _text(notes, f"{source}: notes"),
        url=None if url is None else _text(url, f"{source}: url"),
        tags=tags,
        fields=tuple(fields),
        bindings=tuple(bindings),
    )


_HEADER = "# secretctl metadata: plaintext, never a secret value (docs/vault-format.md)\n"


def _fast_scalar(value: object) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and value.isascii() and value.isprintable():
        import json

        # A JSON string of printable ASCII is a valid YAML double-quoted scalar with the same value.
        return json.dumps(value)
    return None


def _render_fast(data: dict[str, Any]) -> str | None:
    """Block-style YAML for the sidecar schema without importing yaml (bulk imports write
    thousands). Returns None for anything outside the plain-ASCII subset: yaml handles that."""
    out = [_HEADER]
    for key, value in data.items():
        if isinstance(value, list):
            out.append(f"{key}:\n")
            for item in value:
                if isinstance(item, dict):
                    first = True
                    for k2, v2 in item.items():
                        if isinstance(v2, list):
                            scalars = [_fast_scalar(x) for x in v2]
                            if any(s is None for s in scalars):
                                return None
                            rendered = "[" + ", ".join(s for s in scalars if s is not None) + "]"
                        else:
                            r = _fast_scalar(v2)
                            if r is None:
                                return None
                            rendered = r
                        out.append(("- " if first else "  ") + f"{k2}: {rendered}\n")
                        first = False
                else:
                    r = _fast_scalar(item)
                    if r is None:
                        return None
                    out.append(f"- {r}\n")
        elif isinstance(value, dict):
            out.append(f"{key}:\n")
            for k2, v2 in value.items():
                r = _fast_scalar(v2)
                if r is None or not isinstance(k2, str) or not k2.isidentifier():
                    return None
                out.append(f"  {k2}: {r}\n")
        else:
            r = _fast_scalar(value)
            if r is None:
                return None
            out.append(f"{key}: {r}\n")
    return "".join(out)


def render_meta(meta: Meta) -> bytes:
    data = meta.to_data()
    fast = _render_fast(data)
    if fast is not None:
        return fast.encode("utf-8")
    return (_HEADER + schema.dump(data)).encode("utf-8")
