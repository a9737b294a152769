"""``.age-recipients`` files (pure core): the format passage and the age CLI's ``-R`` read.

One recipient per line; blank lines and ``#`` comments are ignored by age. secretctl reads
the comment line just above a recipient as the member's name::

    # alice
    age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p
    # bob (laptop)
    ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI... bob@laptop

The nearest file going up from a secret's directory names its recipients.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from secretctl.core.digest import sha256
from secretctl.core.frozen import frozen
from secretctl.errors import UsageError, VaultCorruptError

RECIPIENTS_FILE = ".age-recipients"
MAX_FILE_BYTES = 256 * 1024
MAX_LINE = 16 * 1024

_BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_X25519 = re.compile(rf"age1[{_BECH32}]{{58}}")
_PLUGIN = re.compile(rf"age1[a-z0-9]+1[{_BECH32}]+")
_SSH = re.compile(r"(ssh-ed25519|ssh-rsa) ([A-Za-z0-9+/]+={0,3})(?: (.*))?")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+ ()-]{0,63}")


@frozen
class Recipient:
    """A recipient as written, normalized (an ssh key loses its trailing comment)."""

    text: str
    kind: str  # "x25519" | "ssh-ed25519" | "ssh-rsa" | "plugin"
    name: str | None = None
    line: int = 0

    @property
    def plugin_name(self) -> str | None:
        if self.kind != "plugin":
            return None
        return self.text[4:].split("1", 1)[0]


def parse_recipient(text: str, *, source: str = "recipient", line: int = 0) -> Recipient:
    where = f"{source}:{line}" if line else source
    text = text.strip()
    if _X25519.fullmatch(text):
        return Recipient(text, "x25519", line=line)
    m = _SSH.fullmatch(text)
    if m:
        return Recipient(f"{m.group(1)} {m.group(2)}", m.group(1), line=line)
    if _PLUGIN.fullmatch(text) and not text.startswith("age1" + "1"):
        return Recipient(text, "plugin", line=line)
    if text.upper().startswith("AGE-SECRET-KEY") or "PRIVATE KEY" in text.upper():
        # Someone pasted a private key: say so, and show none of it.
        raise VaultCorruptError(f"{where}: a PRIVATE key, not a recipient",
                                hint="remove that line now and treat the key as leaked; recipients are public keys")
    shown = text.split(" ", 1)[0][:12] + ("..." if len(text) > 12 else "")
    raise VaultCorruptError(
        f"{where}: not a recipient: {shown!r}",
        hint="expected an age public key (age1...), an ssh-ed25519 or ssh-rsa public key, or a plugin recipient",
    )


def validate_member_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise UsageError(
            f"invalid member name {name!r}",
            hint="use letters, digits and . _ @ + - ( ) or spaces, starting with a letter or digit, at most 64",
        )
    return name


@frozen
class RecipientsFile:
    """A parsed .age-recipients file: who a folder is encrypted to."""

    recipients: tuple[Recipient, ...]

    def fingerprint(self) -> str:
        # Computed once per parsed file: bulk writes ask for it for every secret.
        cached: str | None = self.__dict__.get("_fingerprint")
        if cached is None:
            cached = fingerprint(self.recipients)
            object.__setattr__(self, "_fingerprint", cached)
        return cached

    def names(self) -> list[str]:
        return [r.name or r.text[:16] for r in self.recipients]

    def find(self, name: str) -> Recipient | None:
        for r in self.recipients:
            if r.name == name:
                return r
        return None

    def has(self, recipient_text: str) -> bool:
        return any(r.text == recipient_text for r in self.recipients)

    def with_added(self, name: str, recipient: Recipient) -> RecipientsFile:
        validate_member_name(name)
        if self.find(name) is not None:
            raise UsageError(f"member {name} already exists", hint="remove it first, or pick another name")
        if self.has(recipient.text):
            raise UsageError(f"recipient already present (as {self._owner(recipient.text)})")
        return RecipientsFile((*self.recipients, Recipient(recipient.text, recipient.kind, name)))

    def without(self, name: str) -> RecipientsFile:
        kept = tuple(r for r in self.recipients if r.name != name)
        return RecipientsFile(kept)

    def _owner(self, text: str) -> str:
        for r in self.recipients:
            if r.text == text:
                return r.name or "an unnamed member"
        return "nobody"

    def render(self) -> str:
        out = []
        for r in self.recipients:
            if r.name:
                out.append(f"# {r.name}")
            out.append(r.text)
        return "\n".join(out) + "\n"


def parse_recipients_file(data: bytes, *, source: str) -> RecipientsFile:
    """Parse strictly: every non-comment line must be a recipient; errors name file and line."""
    if len(data) > MAX_FILE_BYTES:
        raise VaultCorruptError(f"{source}: larger than {MAX_FILE_BYTES} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise VaultCorruptError(f"{source}: not UTF-8 text") from exc
    found: list[Recipient] = []
    pending_name: str | None = None
    for n, raw in enumerate(text.splitlines(), 1):
        if len(raw) > MAX_LINE:
            raise VaultCorruptError(f"{source}:{n}: line longer than {MAX_LINE} characters")
        line = raw.strip()
        if not line:
            pending_name = None
            continue
        if line.startswith("#"):
            comment = line[1:].strip()
            pending_name = comment if _NAME.fullmatch(comment) else None
            continue
        r = parse_recipient(line, source=source, line=n)
        found.append(Recipient(r.text, r.kind, pending_name, n))
        pending_name = None
    if not found:
        raise VaultCorruptError(f"{source}: names no recipients",
                                hint="add at least one member: secretctl member add NAME RECIPIENT")
    seen: set[str] = set()
    for r in found:
        if r.text in seen:
            raise VaultCorruptError(f"{source}:{r.line}: duplicate recipient")
        seen.add(r.text)
    return RecipientsFile(tuple(found))


def fingerprint(recipients: Iterable[Recipient]) -> str:
    """A stable hash of a recipient set: order, names and ssh comments do not matter."""
    texts = sorted({r.text for r in recipients})
    digest = sha256("\n".join(texts).encode()).hexdigest()
    return "sha256:" + digest[:32]
