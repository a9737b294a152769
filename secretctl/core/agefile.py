"""A strict parser of the age v1 header (pure core; no cryptography).

The pre-commit hook and ``check`` use it to prove a staged ``*.age`` file is a real age file
encrypted to the right members, without any key. Grammar (https://c2sp.org/age)::

    age-encryption.org/v1\\n
    -> TYPE ARG ARG...\\n          one or more stanzas
    BODY\\n                        base64 (canonical, unpadded), 64 columns, last line < 64
    --- MAC\\n                     43 characters: base64 of 32 bytes
    PAYLOAD                       16-byte nonce, then encrypted chunks (binary)

Armored files (``-----BEGIN AGE ENCRYPTED FILE-----``) are refused: vault files are binary,
so a text file in their place is a mistake or an attempt to smuggle text past the hook.
Limits keep a hostile file from costing memory: 1 MiB of header, 4096 stanzas.
"""

from __future__ import annotations

import binascii  # not base64, which imports re (~7 ms of `get`'s fast path, which checks headers)

from secretctl.core.frozen import frozen  # as dataclass(frozen=True), without importing dataclasses (~10 ms of `get`)
from secretctl.errors import VaultCorruptError

VERSION_LINE = b"age-encryption.org/v1"
ARMOR_BEGIN = b"-----BEGIN AGE ENCRYPTED FILE-----"
MAX_HEADER = 1024 * 1024
MAX_STANZAS = 4096
COLUMNS = 64


@frozen
class Stanza:
    type: str
    args: tuple[str, ...]
    body: bytes


@frozen
class AgeHeader:
    stanzas: tuple[Stanza, ...]
    mac: bytes
    header_bytes: bytes  # what the MAC covers: everything up to and including "---"
    payload_offset: int

    def recipient_stanza_count(self) -> int:
        """Stanzas that name a recipient: native and ssh types, and plugin types. Unknown
        lower-case-free names with a '-grease' style are counted too unless they look like
        grease (age clients add random stanzas whose type contains 'grease')."""
        return sum(1 for s in self.stanzas if s.type != "scrypt" and "grease" not in s.type.lower())

    def has_scrypt(self) -> bool:
        return any(s.type == "scrypt" for s in self.stanzas)


_B64 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def _b64_canonical(text: bytes, where: str) -> bytes:
    raw = _b64_or_none(text)
    if raw is not None:
        return raw
    # Refused: say why.
    if b"=" in text:
        raise VaultCorruptError(f"{where}: base64 padding is not allowed")
    if text.translate(None, _B64):  # what base64.b64decode(validate=True) refuses: any other byte
        raise VaultCorruptError(f"{where}: invalid base64")
    try:
        raw = binascii.a2b_base64(text + b"=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise VaultCorruptError(f"{where}: invalid base64") from None
    if binascii.b2a_base64(raw, newline=False).rstrip(b"=") != text:
        raise VaultCorruptError(f"{where}: non-canonical base64")
    return raw


def _b64_or_none(text: bytes) -> bytes | None:
    """What :func:`_b64_canonical` returns, or None where it would raise (it then says why)."""
    if text.translate(None, _B64) or len(text) % 4 == 1:  # "=" is not in _B64 either
        return None
    raw = binascii.a2b_base64(text + b"=" * (-len(text) % 4))
    return raw if binascii.b2a_base64(raw, newline=False).rstrip(b"=") == text else None


_VCHAR = bytes(range(0x21, 0x7F))


def _is_vchar_arg(arg: bytes) -> bool:
    # translate() deletes every visible character in C: nothing left means nothing else was there
    # (a per-byte generator was a tenth of re-encrypting 1,000 files).
    return bool(arg) and not arg.translate(None, _VCHAR)


def parse_header(data: bytes, *, source: str = "<bytes>") -> AgeHeader:
    """Parse and validate the header; raise VaultCorruptError naming the line on any deviation."""
    header = _parse_well_formed(data, source)
    return header if header is not None else _parse_strict(data, source)


_FIRST = VERSION_LINE + b"\n-> "
_ARG_TEXT = _VCHAR + b" "


def _parse_well_formed(data: bytes, source: str) -> AgeHeader | None:
    """The header of a well-formed file, in a few passes over whole lines; None on any doubt, and
    :func:`_parse_strict` then decides and names the line. Re-keying 1,000 files parses 1,000
    headers of up to a dozen stanzas: line by line that was a quarter of the re-keying's CPU.

    It accepts only what the strict parser accepts, with the same result (tests/core/
    test_agefile_fast.py compares them on the C2SP vectors and on mutated headers): the MAC line
    is the first line starting with "--- " (a body line cannot hold "-", a stanza line starts
    with "-> "), a body's lines are canonical base64 exactly when their concatenation is (every
    line but the last holds 48 whole bytes), and the stanza rules are the same function."""
    if not data.startswith(_FIRST):
        return None
    mac_at = data.find(b"\n--- ", 0, MAX_HEADER)
    end = data.find(b"\n", mac_at + 5, MAX_HEADER) if mac_at > 0 else -1
    if end < 0:
        return None
    lines = data[len(VERSION_LINE) + 1:mac_at].split(b"\n")
    stanzas: list[Stanza] = []
    i, count = 0, len(lines)
    while i < count:
        args = lines[i][3:]
        if lines[i][:3] != b"-> " or not args or args.translate(None, _ARG_TEXT) or b"  " in args \
                or args[:1] == b" " or args[-1:] == b" ":
            return None
        first = i = i + 1
        while i < count and len(lines[i]) == COLUMNS:
            i += 1
        if i == count or len(lines[i]) > COLUMNS:
            return None
        i += 1
        body = _b64_or_none(b"".join(lines[first:i]))
        if body is None:
            return None
        parts = args.decode().split(" ")
        stanzas.append(Stanza(parts[0], tuple(parts[1:]), body))
    mac_text = data[mac_at + 5:end]
    mac = _b64_or_none(mac_text)
    if mac is None or len(stanzas) > MAX_STANZAS or len(mac_text) != 43 or end + 1 > MAX_HEADER \
            or len(data) - (end + 1) < NONCE_SIZE:
        return None
    _check_stanzas(stanzas, source)  # the strict parser's rules, raising as it would
    return AgeHeader(tuple(stanzas), mac, data[:mac_at + 4], end + 1)


def _parse_strict(data: bytes, source: str) -> AgeHeader:
    if data.startswith(ARMOR_BEGIN):
        raise VaultCorruptError(f"{source}: ASCII-armored age file",
                                hint="vault files are binary age files: encrypt without --armor")
    pos = 0
    line_no = 0

    def next_line() -> bytes:
        nonlocal pos, line_no
        end = data.find(b"\n", pos, pos + MAX_HEADER)
        if end < 0:
            raise VaultCorruptError(f"{source}:{line_no + 1}: header truncated or line too long")
        line = data[pos:end]
        pos = end + 1
        line_no += 1
        if pos > MAX_HEADER:
            raise VaultCorruptError(f"{source}: header larger than {MAX_HEADER} bytes")
        return line

    if next_line() != VERSION_LINE:
        raise VaultCorruptError(f"{source}:1: not an age v1 file (bad version line)",
                                hint="restore it with git, or set the secret again")
    stanzas: list[Stanza] = []
    line = next_line()
    while True:
        if line.startswith(b"--- ") or line == b"---":
            break
        if not line.startswith(b"-> "):
            raise VaultCorruptError(f"{source}:{line_no}: expected a stanza ('-> ') or the MAC ('--- ')")
        parts = line[3:].split(b" ")
        if not all(_is_vchar_arg(p) for p in parts):
            raise VaultCorruptError(f"{source}:{line_no}: malformed stanza arguments")
        stanza_line = line_no
        body = bytearray()
        while True:
            bl = next_line()
            if len(bl) > COLUMNS:
                raise VaultCorruptError(f"{source}:{line_no}: stanza body line longer than {COLUMNS} columns")
            body += _b64_canonical(bl, f"{source}:{line_no}")
            if len(bl) < COLUMNS:
                break
        stanzas.append(Stanza(parts[0].decode(), tuple(p.decode() for p in parts[1:]), bytes(body)))
        if len(stanzas) > MAX_STANZAS:
            raise VaultCorruptError(f"{source}: more than {MAX_STANZAS} stanzas")
        line = next_line()
        del stanza_line
    if not stanzas:
        raise VaultCorruptError(f"{source}:{line_no}: no recipient stanzas")
    if not line.startswith(b"--- "):
        raise VaultCorruptError(f"{source}:{line_no}: malformed MAC line")
    mac_text = line[4:]
    if len(mac_text) != 43:
        raise VaultCorruptError(f"{source}:{line_no}: MAC must be 43 base64 characters")
    mac = _b64_canonical(mac_text, f"{source}:{line_no}")
    header_bytes = data[: pos - 1 - len(mac_text) - 1]  # up to and including "---"
    _check_stanzas(stanzas, source)
    if len(data) - pos < NONCE_SIZE:
        raise VaultCorruptError(f"{source}: payload nonce missing or short")
    return AgeHeader(tuple(stanzas), mac, header_bytes, pos)


# X25519 shares whose shared secret is all zeros (libsodium's blocklist); X25519 ignores the
# top bit, so each also counts with bit 255 set.
_LOW_ORDER_HEX = (
    "00" * 32,
    "01" + "00" * 31,
    "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
    "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
    "ec" + "ff" * 30 + "7f",
    "ed" + "ff" * 30 + "7f",
    "ee" + "ff" * 30 + "7f",
)
_LOW_ORDER = frozenset(
    bytes.fromhex(h)[:31] + bytes([bytes.fromhex(h)[31] | hi]) for h in _LOW_ORDER_HEX for hi in (0, 0x80)
)
MAX_SCRYPT_WORK_FACTOR = 22
NONCE_SIZE = 16
MLKEM768X25519_ENC = 1088 + 32


def _arg_bytes(stanza: Stanza, i: int, size: int, source: str) -> bytes:
    text = stanza.args[i].encode()
    raw = _b64_canonical(text, f"{source}: {stanza.type} stanza")
    if len(raw) != size:
        raise VaultCorruptError(f"{source}: {stanza.type} stanza argument has {len(raw)} bytes, expected {size}")
    return raw


_ARG_COUNTS = {"X25519": 1, "scrypt": 2, "mlkem768x25519": 1, "ssh-ed25519": 2, "ssh-rsa": 1}


def _check_stanzas(stanzas: list[Stanza], source: str) -> None:
    """The per-type rules of the recipient types age defines (unknown types pass: plugins, grease)."""
    for s in stanzas:
        want_args = _ARG_COUNTS.get(s.type)
        if want_args is None:
            continue
        if len(s.args) != want_args:
            raise VaultCorruptError(f"{source}: {s.type} stanza has {len(s.args)} arguments, expected {want_args}")
        if s.type != "ssh-rsa" and len(s.body) != 32:
            raise VaultCorruptError(f"{source}: {s.type} stanza body is {len(s.body)} bytes, expected 32")
        if s.type == "X25519" and _arg_bytes(s, 0, 32, source) in _LOW_ORDER:
            raise VaultCorruptError(f"{source}: X25519 share is a low-order point")
        if s.type == "mlkem768x25519" and _arg_bytes(s, 0, MLKEM768X25519_ENC, source)[-32:] in _LOW_ORDER:
            raise VaultCorruptError(f"{source}: hybrid share's X25519 part is a low-order point")
        if s.type == "ssh-ed25519":
            _arg_bytes(s, 0, 4, source)
            _arg_bytes(s, 1, 32, source)
        if s.type == "ssh-rsa":
            _arg_bytes(s, 0, 4, source)
        if s.type == "scrypt":
            _arg_bytes(s, 0, 16, source)
            wf = s.args[1]
            if not (wf.isascii() and wf.isdigit()) or wf.startswith("0") or len(wf) > 2 \
                    or not 1 <= int(wf) <= MAX_SCRYPT_WORK_FACTOR:
                raise VaultCorruptError(f"{source}: scrypt work factor must be 1..{MAX_SCRYPT_WORK_FACTOR}")
            if len(stanzas) != 1:
                raise VaultCorruptError(f"{source}: an scrypt stanza must be the only stanza")
