"""Multi-field secrets (pure core): which fields may be public, the encrypted document, masks.

Every field value, public or not, lives in the secret's ``.age`` file as one JSON object
(``{"host": "db.internal", "password": "..."}``, keys sorted, UTF-8), so the plain ``age`` CLI
still decrypts it and git only ever holds ciphertext. The sidecar holds the schema alone:
names, kinds, hints, sensitivity and bindings.

"Public" (``sensitive: false``) is about agents, not storage: an agent may read a public field
through ``secret_get_field`` and command output is not redacted for it. Fields are sensitive
unless marked public, and a field whose name or kind says it is a secret can never be public.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence

from secretctl.core.frozen import frozen, replace
from secretctl.core.meta import Field, Meta
from secretctl.core.secret import Secret, mask
from secretctl.errors import UsageError, VaultCorruptError

TYPE_CHECKING = False  # typing costs every start ~3 ms to import: for mypy only
if TYPE_CHECKING:
    from typing import Any

# Fail closed: a false match only means a field cannot be made public, a miss would let an agent
# read a credential. Substrings catch compounds (dbpassword, clientsecret, apitoken).
_SECRET_SUBSTRINGS = ("password", "passwd", "passphrase", "secret", "token", "credential", "private",
                      "privkey", "apikey", "passcode", "mnemonic")
# Short words match only as a whole word of the name (pin, not spinner), and any word ending in
# "key" (apikey, sshkey, accesskey) counts as "key".
_SECRET_WORDS = frozenset({"key", "keys", "pass", "pwd", "pw", "pin", "cred", "creds", "auth", "otp", "totp",
                           "seed", "salt", "signature", "cookie", "session", "sig"})
SECRET_KINDS = frozenset({"password", "token"})
_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")

MAX_DOCUMENT_FIELDS = 256
_KIND_GUESS = {"host": "host", "hostname": "host", "port": "port", "user": "username", "username": "username",
               "password": "password", "pass": "password", "url": "url", "token": "token", "database": "database",
               "db": "database", "dbname": "database"}


def guess_kind(name: str) -> str:
    return _KIND_GUESS.get(name.lower(), "text")


def words(name: str) -> list[str]:
    """``AWS_SECRET_ACCESS_KEY``, ``secretKey``, ``client-secret`` -> lower-case words."""
    return [w.lower() for w in _WORD.findall(name)]


def secret_word(name: str, kind: str = "text") -> str | None:
    """The word that makes a field always sensitive (by its name or kind), or None."""
    if kind in SECRET_KINDS:
        return kind
    for text in (name, kind):
        flat = text.lower()
        for s in _SECRET_SUBSTRINGS:
            if s in flat.replace("_", "").replace("-", "").replace(".", ""):
                return s
        ws = words(text)
        for i, w in enumerate(ws):
            if _public_key(ws, i):
                continue  # public_key, publicKey, ssh_pub_key, pubkey: the public half of a key pair
            if w in _SECRET_WORDS:
                return w
            if w.endswith("key"):
                return "key"
    return None


def _public_key(ws: list[str], i: int) -> bool:
    """``ws[i]`` is "key"/"keys" right after "public"/"pub", or "pubkey" itself (every other word
    of the name is still checked: ``public_key_password`` stays a password)."""
    if ws[i] in ("pubkey", "pubkeys", "publickey", "publickeys"):
        return True
    return ws[i] in ("key", "keys") and i > 0 and ws[i - 1] in ("public", "pub")


def is_sensitive(field: Field) -> bool:
    """Effective sensitivity: what the sidecar says, overruled when the name or kind says secret
    (an old or hand-edited sidecar cannot make a password readable by agents)."""
    return field.sensitive or secret_word(field.name, field.kind) is not None


def schema_view(field: Field) -> dict[str, Any]:
    """A field as metadata shows it: never a value (an old sidecar may still hold one), and
    sensitive as enforced (a secret-looking name is sensitive whatever the sidecar says)."""
    d = {k: v for k, v in field.to_data().items() if k != "value"}
    d["sensitive"] = is_sensitive(field)
    return d


def check_public(name: str, kind: str = "text") -> None:
    """Refuse to make a secret-looking field public."""
    word = secret_word(name, kind)
    if word is not None:
        raise UsageError(f"field {name} cannot be public: its {'kind' if kind == word else 'name'} says "
                         f"{word!r}, so it is always sensitive",
                         hint="drop --public for it; agents reach it only through secret_run_with_bindings")


@frozen
class FieldInput:
    """One field to store: the schema entry and its value (the value goes to the .age file only)."""

    name: str
    value: Secret
    sensitive: bool = True
    kind: str = "text"
    hint: str | None = None
    aliases: tuple[str, ...] = ()

    def schema(self) -> Field:
        return Field(self.name, self.sensitive, None, self.hint, self.kind, self.aliases)


def encode_document(values: Mapping[str, Secret]) -> Secret:
    """The plaintext of a multi-field secret's .age file: a JSON object, keys sorted, UTF-8."""
    doc = {k: v.reveal_text() for k, v in sorted(values.items())}
    return Secret(json.dumps(doc, sort_keys=True, ensure_ascii=False).encode())


def decode_document(doc: Secret, *, source: str) -> dict[str, Secret]:
    """Parse the decrypted document strictly. Errors name ``source``, never a value."""
    try:
        raw = json.loads(doc.reveal())
    except ValueError:  # json.JSONDecodeError and UnicodeDecodeError alike
        raise VaultCorruptError(f"{source}: the encrypted document of a multi-field secret is not JSON",
                                hint="it should be a JSON object of field names to text") from None
    if not isinstance(raw, dict) or not all(isinstance(v, str) for v in raw.values()):
        raise VaultCorruptError(f"{source}: the encrypted document must map field names to text")
    if len(raw) > MAX_DOCUMENT_FIELDS:
        raise VaultCorruptError(f"{source}: more than {MAX_DOCUMENT_FIELDS} fields")
    return {str(k): Secret(v.encode()) for k, v in raw.items()}


def field_values(meta: Meta, document: Mapping[str, Secret]) -> dict[str, Secret]:
    """Every field's value by name: the encrypted document, else (an old vault, before
    `secretctl migrate fields`) the value the sidecar still holds in plaintext."""
    out: dict[str, Secret] = {}
    for f in meta.fields:
        if f.name in document:
            out[f.name] = document[f.name]
        elif f.value is not None:
            out[f.name] = Secret(f.value.encode())
    return out


def sensitive_values(meta: Meta, values: Mapping[str, Secret]) -> dict[str, Secret]:
    return {f.name: values[f.name] for f in meta.fields if f.name in values and is_sensitive(f)}


@frozen
class MaskedField:
    """A field as an agent or `get --masked` sees it: its masked value and its length."""

    name: str
    sensitive: bool
    masked_value: str
    value_length: int  # characters, as the mask counts them

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "sensitive": self.sensitive, "masked_value": self.masked_value,
                "value_length": self.value_length}


def mask_fields(meta: Meta, values: Mapping[str, Secret]) -> list[MaskedField]:
    """Each field masked on its own (``****WXYZ`` of its own value), in schema order: masking
    the serialized document would show its closing characters (``s!"}``)."""
    out = []
    for f in meta.fields:
        v = values.get(f.name)
        if v is None:
            continue
        out.append(MaskedField(f.name, is_sensitive(f), mask(v.reveal()), len(v.reveal_text())))
    return out


@frozen
class LegacyField:
    """What an old sidecar does wrong for one field (never its value)."""

    name: str
    value_in_sidecar: bool
    mislabelled: bool  # marked public although its name or kind says secret

    @property
    def rotate(self) -> bool:
        """Whether the plaintext the sidecar held is a secret someone must now rotate."""
        return self.value_in_sidecar and self.mislabelled


def legacy_fields(meta: Meta) -> list[LegacyField]:
    out = []
    for f in meta.fields:
        mislabelled = not f.sensitive and secret_word(f.name, f.kind) is not None
        if f.value is not None or mislabelled:
            out.append(LegacyField(f.name, f.value is not None, mislabelled))
    return out


def legacy_problem(meta: Meta) -> str | None:
    """One line for `check` and the hooks, naming fields, never values."""
    found = legacy_fields(meta)
    if not found:
        return None
    held = [x.name for x in found if x.value_in_sidecar]
    wrong = [x.name for x in found if x.mislabelled]
    parts = []
    if held:
        parts.append(f"holds the value of field(s) {', '.join(held)} in plaintext")
    if wrong:
        parts.append(f"marks {', '.join(wrong)} public although the name says secret")
    return "; ".join(parts) + "; run `secretctl migrate fields`"


def migrated(meta: Meta) -> Meta:
    """The sidecar after migration: no values, secret-looking fields sensitive."""
    fields = tuple(replace(f, value=None, sensitive=is_sensitive(f)) for f in meta.fields)
    return replace(meta, fields=fields)


def check_inputs(inputs: Sequence[FieldInput], bindings: Iterable[tuple[str, str]]) -> None:
    """Names unique, public only where allowed, bindings name a field (or an alias)."""
    seen: set[str] = set()
    names = {f.name for f in inputs}
    for f in inputs:
        for n in (f.name, *f.aliases):
            if n in seen:
                raise UsageError(f"field {n} given twice")
            seen.add(n)
        if not f.sensitive:
            check_public(f.name, f.kind)
    for env, fname in bindings:
        if fname not in names:
            raise UsageError(f"binding {env}={fname} names unknown field {fname}",
                             hint=f"fields: {', '.join(f.name for f in inputs)}")
