"""The sanitizer, streamed: every redaction form at every chunk boundary, and no over-redaction.

Every case is fed three ways (whole, one byte at a time, random splits) through
``Redactor.build(...).stream()`` and ``close()``; what a user would check is that the value
(and the form it was written in) is gone, a ``[REDACTED:<label>]`` marker is there, and the
text around it is untouched.
"""

from __future__ import annotations

import base64
import gzip
import html
import itertools
import json
import random
import re
import subprocess
import urllib.parse
from collections.abc import Callable, Iterator, Mapping

import pytest

from secretctl.core.redact import Redactor, check_redactable
from secretctl.core.secret import Secret
from secretctl.errors import UsageError

# High-entropy values, as a password manager would generate them.
TOKEN = b"Zq8vL2mW9rT4xK7pB3nF6hJ1"  # 24 chars, alphanumeric
PUNCT = b"p@ss w0rd\"<&>'$`\\!x9"  # every escaping form has something to escape
LONG40 = b"N7fQ2kLx9RvB4mT8wZ3cH6yJ1pD5sG0aE2uK7qWi"  # 40 chars: fragments apply


def secrets(**values: bytes) -> dict[str, Secret]:
    return {k: Secret(v) for k, v in values.items()}


def chunkings(data: bytes, seed: int = 0) -> Iterator[tuple[str, list[bytes]]]:
    """Whole, one byte at a time, and three random splittings."""
    yield "whole", [data]
    yield "bytewise", [data[i : i + 1] for i in range(len(data))]
    rnd = random.Random(seed)
    for n in range(3):
        cuts = sorted(rnd.sample(range(1, len(data)), min(len(data) - 1, rnd.randint(1, 12)))) if len(data) > 1 else []
        bounds = [0, *cuts, len(data)]
        yield f"random{n}", [data[a:b] for a, b in itertools.pairwise(bounds)]


def stream_through(r: Redactor, chunks: list[bytes]) -> bytes:
    s = r.stream()
    out = b"".join(s.feed(c) for c in chunks)
    return out + s.close()


def redact_all_ways(r: Redactor, data: bytes) -> dict[str, bytes]:
    """Stream ``data`` every way: the output of each splitting, by name."""
    return {name: stream_through(r, chunks) for name, chunks in chunkings(data)}


def redact_same_all_ways(r: Redactor, data: bytes) -> bytes:
    """Stream ``data`` every way; all must give the same output. Returns it."""
    results = redact_all_ways(r, data)
    whole = results["whole"]
    for name, out in results.items():
        assert out == whole, f"{name} split gave a different output:\n{out!r}\nvs whole:\n{whole!r}"
    return whole


def b64_runs_decoded(out: bytes) -> Iterator[bytes]:
    """Every decoding (4 offsets, both alphabets) of every base64-looking run in ``out``."""
    for run in re.findall(rb"[A-Za-z0-9+/_=-]{8,}", out.replace(b"\n", b"")):
        body = run.rstrip(b"=").replace(b"-", b"+").replace(b"_", b"/")
        for off in range(4):
            chunk = body[off:]
            chunk = chunk[: len(chunk) - len(chunk) % 4]
            try:
                yield base64.b64decode(chunk, validate=True)
            except ValueError:
                continue


def assert_no_trace(out: bytes, value: bytes) -> None:
    flat = out.replace(b"\n", b"")
    assert value not in flat
    assert value[::-1] not in flat
    assert value.hex().encode() not in flat.lower()
    for decoded in b64_runs_decoded(out):
        assert value not in decoded, "a base64 run in the output still decodes to the value"


def check_form(values: Mapping[str, bytes], data: bytes, label: str, must_keep: tuple[bytes, ...] = ()) -> bytes:
    """Each splitting's output has the marker, no trace of any value, and the text around."""
    r = Redactor.build(secrets(**values))
    results = redact_all_ways(r, data)
    for name, out in results.items():
        assert f"[REDACTED:{label}]".encode() in out, (name, out)
        for v in values.values():
            assert_no_trace(out, v)
        for keep in must_keep:
            assert keep in out, f"{name}: surrounding text {keep!r} was lost: {out!r}"
    return results["whole"]


# ----------------------------------------------------------------------------- literal forms


def test_exact_value_between_text() -> None:
    data = b"connecting with token=" + TOKEN + b" to api.example.com\nok\n"
    out = check_form({"api": TOKEN}, data, "api")
    assert out == b"connecting with token=[REDACTED:api] to api.example.com\nok\n"


def test_reversed_value() -> None:
    check_form({"api": TOKEN}, b"debug: " + TOKEN[::-1] + b" end\n", "api", (b"debug: ", b" end\n"))


@pytest.mark.parametrize("encoder", [base64.b64encode, base64.urlsafe_b64encode], ids=["std", "url"])
@pytest.mark.parametrize("padded", [True, False], ids=["padded", "unpadded"])
def test_base64_alone(encoder: Callable[[bytes], bytes], padded: bool) -> None:
    for value in (TOKEN, TOKEN + b"x", TOKEN + b"xy", PUNCT):  # every padding length
        enc = encoder(value)
        if not padded:
            enc = enc.rstrip(b"=")
        check_form({"v": value}, b"Authorization: Basic " + enc + b"\n", "v", (b"Authorization: Basic ",))


@pytest.mark.parametrize("encoder", [base64.b64encode, base64.urlsafe_b64encode], ids=["std", "url"])
@pytest.mark.parametrize("before", [0, 1, 2, 3, 4, 5])
@pytest.mark.parametrize("after", [0, 1, 2])
def test_base64_inside_longer_blob_every_alignment(encoder: Callable[[bytes], bytes], before: int, after: int) -> None:
    # The value's bytes start at every offset modulo 3 inside a larger encoded document.
    blob = encoder(b'{"user":"ci"'[:before] + b"k=" + PUNCT + b";"[:after] + b"}")
    check_form({"v": PUNCT}, b"payload " + blob + b" done\n", "v", (b"payload ", b" done\n"))
    blob2 = encoder(b"\x00\xff\x10"[:before % 3] + TOKEN + b"\x01\x02"[:after])
    check_form({"v": TOKEN}, b"x=" + blob2 + b"\n", "v", (b"x=",))


def test_base64_wrapped_at_76_columns() -> None:
    # A config document whose encoding carries the value across a line break.
    doc = b"-----config-----\n" + bytes(range(32, 127)) + b"\npassword=" + LONG40 + b"\n" + bytes(range(32, 90))
    wrapped = base64.encodebytes(doc)
    assert wrapped.count(b"\n") >= 3
    check_form({"db": LONG40}, b"begin data:\n" + wrapped + b"end data.\n", "db", (b"begin data:\n", b"end data.\n"))
    # The value starts at each alignment near the end of a 76-column line, so it straddles it.
    for shift in range(3):
        wrapped = base64.encodebytes(b"#" * (54 + shift) + TOKEN + b"#" * 40)
        assert wrapped.index(b"\n") < len(wrapped) // 2
        check_form({"t": TOKEN}, wrapped, "t")


def test_wrapped_base64_keeps_the_line_above() -> None:
    wrapped = base64.encodebytes(b"password=" + LONG40 + b"\n" + bytes(range(32, 127)))
    out = check_form({"db": LONG40}, b"BEGIN DATA\n" + wrapped + b"END\n", "db")
    assert out.startswith(b"BEGIN DATA\n"), out


@pytest.mark.parametrize("before", [0, 1, 2, 3, 4])
def test_base32_every_alignment(before: int) -> None:
    enc = base64.b32encode(b"abcd"[:before] + TOKEN + b"zz")
    check_form({"t": TOKEN}, b"otp seed " + enc + b"\n", "t", (b"otp seed ",))
    check_form({"t": TOKEN}, b"otp seed " + enc.lower() + b"\n", "t", (b"otp seed ",))


@pytest.mark.parametrize(
    ("name", "encode"),
    [
        ("hex-lower", lambda v: v.hex().encode()),
        ("hex-upper", lambda v: v.hex().upper().encode()),
        ("backslash-x", lambda v: "".join(f"\\x{b:02x}" for b in v).encode()),
        ("percent-per-byte", lambda v: "".join(f"%{b:02X}" for b in v).encode()),
        ("url", lambda v: urllib.parse.quote(v, safe="").encode()),
        ("url-plus", lambda v: urllib.parse.quote_plus(v, safe="").encode()),
        ("json", lambda v: json.dumps(v.decode())[1:-1].encode()),
        ("xml", lambda v: html.escape(v.decode(), quote=True).encode()),
        ("xml-numeric", lambda v: "".join(f"&#{c};" for c in v).encode()),
    ],
)
@pytest.mark.parametrize("value", [TOKEN, PUNCT], ids=["token", "punct"])
def test_encoded_forms(name: str, encode: Callable[[bytes], bytes], value: bytes) -> None:
    form = encode(value)
    out = check_form({"v": value}, b"value: " + form + b"; next\n", "v", (b"value: ", b"; next\n"))
    assert form not in out


def test_json_escaping_in_a_document() -> None:
    doc = json.dumps({"user": "ci", "password": PUNCT.decode(), "n": 3}).encode() + b"\n"
    assert PUNCT not in doc  # the quote and backslash were escaped
    out = check_form({"pw": PUNCT}, doc, "pw", (b'"user": "ci"', b'"n": 3'))
    assert out == b'{"user": "ci", "password": "[REDACTED:pw]", "n": 3}\n'


def _printf_q(value: bytes) -> bytes:
    proc = subprocess.run(["bash", "-c", 'printf %q "$V"'], env={"V": value.decode()}, capture_output=True, check=True)
    return proc.stdout


def test_shell_printf_q_escaping() -> None:
    value = b"p@ss w0rd$x!y(z)&9"
    form = _printf_q(value)
    assert form != value and b"\\" in form
    out = check_form({"pw": value}, b"export PW=" + form + b"\n", "pw", (b"export PW=",))
    assert out == b"export PW=[REDACTED:pw]\n"


@pytest.mark.parametrize("sep", [" ", "-", ".", ":", "_", "|", "/", ",", "\t"])
def test_separator_between_every_character(sep: str) -> None:
    form = sep.encode().join(TOKEN[i : i + 1] for i in range(len(TOKEN)))
    check_form({"t": TOKEN}, b"spelled: " + form + b" (end)\n", "t", (b"spelled: ", b" (end)\n"))


def test_ansi_colour_between_characters() -> None:
    painted = b"".join(b"\x1b[3%dm" % (i % 8) + TOKEN[i : i + 1] for i in range(len(TOKEN))) + b"\x1b[0m"
    out = check_form({"t": TOKEN}, b"\x1b[1mtoken:\x1b[0m " + painted + b"\n", "t", (b"\x1b[1mtoken:\x1b[0m ",))
    assert re.sub(rb"\x1b\[[0-9;]*m", b"", out).count(b"[REDACTED:t]") == 1


@pytest.mark.parametrize("zw", ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad"])
def test_zero_width_between_characters(zw: str) -> None:
    form = zw.encode().join(TOKEN[i : i + 1] for i in range(len(TOKEN)))
    out = check_form({"t": TOKEN}, "caf\u00e9 ".encode() + form + b" ok\n", "t", ("caf\u00e9 ".encode(), b" ok\n"))
    assert zw.encode() not in out.replace("caf\u00e9".encode(), b"")


def test_backspaces_between_characters() -> None:
    # Backspaces between the characters; and nroff-style underlining ("_\bc").
    spaced = b"\x08".join(TOKEN[i : i + 1] for i in range(len(TOKEN)))
    check_form({"t": TOKEN}, b"pw: " + spaced + b"\n", "t", (b"pw: ",))
    underlined = b"".join(b"_\x08" + TOKEN[i : i + 1] for i in range(len(TOKEN)))
    check_form({"t": TOKEN}, b"pw: " + underlined + b"\n", "t", (b"pw: ",))


@pytest.mark.parametrize("style", ["erased", "bold"])
def test_backspace_rendering_as_the_value(style: str) -> None:
    chars = [TOKEN[i : i + 1] for i in range(len(TOKEN))]
    # "erased": each character followed by '#' and a backspace that erases it; "bold": man-page
    # bold, each character struck twice.
    data = b"".join(c + b"#\x08" if style == "erased" else c + b"\x08" + c for c in chars)
    check_form({"t": TOKEN}, b"pw: " + data + b"\n", "t", (b"pw: ",))


def test_double_base64() -> None:
    twice = base64.b64encode(base64.b64encode(b"secret: " + TOKEN + b"\n"))
    check_form({"t": TOKEN}, b"data: " + twice + b"\n", "t", (b"data: ",))


def test_gzip_then_base64() -> None:
    blob = base64.b64encode(gzip.compress(b"[db]\nhost=db.internal\npassword=" + LONG40 + b"\n"))
    out = check_form({"db": LONG40}, b"archive " + blob + b" sent\n", "db", (b"archive ", b" sent\n"))
    assert blob not in out


def test_fragment_of_a_long_value() -> None:
    frag = LONG40[4:30]
    out = check_form({"k": LONG40}, b"partial: " + frag + b" (truncated)\n", "k", (b"partial: ", b" (truncated)\n"))
    # No window of 8 consecutive characters of the value is left.
    for i in range(len(LONG40) - 7):
        assert LONG40[i : i + 8] not in out


# ------------------------------------------------------------------- credentials not in vault

PEM = (
    b"-----BEGIN PRIVATE KEY-----\n"
    + base64.encodebytes(bytes(range(256)) * 2)
    + b"-----END PRIVATE KEY-----"
)
CREDENTIALS = {
    "aws": b"AKIAIOSFODNN7EXAMPLE",
    "github": b"ghp_" + b"aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5",
    "slack": b"xoxb-1234567890-0987654321-AbCdEfGhIjKlMnOpQrStUv",
    "jwt": b"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dBjftJeZ4CVPmB92K27uhbUJU1p1r_wW1gFWFOEjXk",
    "pem": PEM,
    "age": b"AGE-SECRET-KEY-1" + b"QYZ3G5KLM2N8PQR4STUV6WXY9Z0ACDEFGH7JKLMN2PQRS4TUVW6XYZ0ACD",
}


@pytest.mark.parametrize("kind", sorted(CREDENTIALS))
def test_credentials_not_in_vault(kind: str) -> None:
    cred = CREDENTIALS[kind]
    r = Redactor.build(secrets(other=TOKEN))
    data = b"log line before\nfound: " + cred + b"\n== line after\n"
    for name, out in redact_all_ways(r, data).items():
        assert b"[REDACTED:credential]" in out, (name, out)
        assert cred not in out
        assert cred[:12] not in out and cred[-12:] not in out
        if kind == "pem":
            assert b"PRIVATE KEY" not in out
        assert out.startswith(b"log line before\nfound: "), (name, out)
        assert out.endswith(b"\n== line after\n"), (name, out)


@pytest.mark.parametrize(
    "kind", sorted(CREDENTIALS)
)
def test_credential_does_not_swallow_the_next_line(kind: str) -> None:
    r = Redactor.build(secrets(other=TOKEN))
    out = redact_same_all_ways(r, b"found: " + CREDENTIALS[kind] + b"\nlog line after\n")
    assert out == b"found: [REDACTED:credential]\nlog line after\n"


def test_credentials_disabled_pass_through() -> None:
    r = Redactor.build(secrets(other=TOKEN), credentials=False)
    data = b"aws " + CREDENTIALS["aws"] + b" gh " + CREDENTIALS["github"] + b"\n"
    assert redact_same_all_ways(r, data) == data


# ------------------------------------------------------------------------- many and overlapping


def test_two_hundred_secrets_at_once() -> None:
    rnd = random.Random(7)
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"
    values = {f"s{i}": "".join(rnd.choice(alphabet) for _ in range(20)).encode() for i in range(200)}
    r = Redactor.build(secrets(**values))
    lines = [f"line {i}: key={values[f's{i}'].decode()} ok".encode() for i in range(200)]
    data = b"\n".join(lines) + b"\n"
    s = r.stream()
    rnd2 = random.Random(3)
    out, pos = b"", 0
    while pos < len(data):
        step = rnd2.randint(1, 97)
        out += s.feed(data[pos : pos + step])
        pos += step
    out += s.close()
    expected = b"\n".join(f"line {i}: key=[REDACTED:s{i}] ok".encode() for i in range(200)) + b"\n"
    assert out == expected


def test_overlapping_secrets_longer_label_wins() -> None:
    short = b"Kx7Pq2Lm"
    long_ = b"prefix-" + short + b"-Vz93Wd"
    assert short in long_
    for r in (Redactor.build(secrets(short=short, long=long_)), Redactor.build(secrets(long=long_, short=short))):
        out = redact_same_all_ways(r, b"a=" + long_ + b" end\n")
        assert out == b"a=[REDACTED:long] end\n"
        assert r.contains(long_) == ["long"]


def test_overlapping_secrets_short_one_alone_keeps_its_label() -> None:
    short = b"Kx7Pq2Lm"
    long_ = b"prefix-" + short + b"-Vz93Wd"
    r = Redactor.build(secrets(short=short, long=long_))
    assert redact_same_all_ways(r, b"b=" + short + b" end\n") == b"b=[REDACTED:short] end\n"


def test_self_overlapping_value_split_inside_false_start() -> None:
    value = b"abcabdabcabdX7q!"
    false_start = b"abcabdabcab"  # matches the value for 11 bytes, then fails on the next one
    data = b">> " + false_start + value + b" <<\n"
    r = Redactor.build(secrets(v=value))
    for cut in range(len(data) + 1):
        assert stream_through(r, [data[:cut], data[cut:]]) == b">> abcabdabcab[REDACTED:v] <<\n", cut
    assert redact_same_all_ways(r, data) == b">> abcabdabcab[REDACTED:v] <<\n"


# ----------------------------------------------------------------------------------- refusals


@pytest.mark.parametrize("value", [b"", b"a", b"ab", b"abc"])
def test_short_values_refused(value: bytes) -> None:
    with pytest.raises(UsageError) as info:
        check_redactable("PIN", Secret(value))
    assert "PIN" in str(info.value)
    assert info.value.exit_code == 2


def test_four_characters_accepted_and_redacted() -> None:
    check_redactable("PIN", Secret(b"9k4Q"))
    r = Redactor.build(secrets(PIN=b"9k4Q"))
    assert redact_same_all_ways(r, b"pin is 9k4Q.\n") == b"pin is [REDACTED:PIN].\n"


# ------------------------------------------------------------------------ no over-redaction

LS_L = b"""total 48
drwxr-xr-x  5 alice staff   160 Mar  3 10:12 .
drwxr-xr-x 12 alice staff   384 Mar  1 09:00 ..
-rw-r--r--  1 alice staff  1834 Mar  3 10:12 README.md
-rwxr-xr-x  1 alice staff 20480 Feb 28 17:45 build.sh
lrwxrwxrwx  1 alice staff    11 Mar  2 08:30 latest -> release-2.4
-rw-------  1 alice staff   412 Mar  3 10:11 .env.example
"""
JSON_API = (
    b'{"id": 48213, "name": "deploy-bot", "created_at": "2024-03-03T10:12:44Z", '
    b'"sha": "9fceb02d0ae598e95dc970b74767f19372d61af8a0c4c9a6f5d1e3b2a7c8d9e0", '
    b'"url": "https://api.example.com/v1/users/48213?expand=teams&page=2", '
    b'"tags": ["ci", "prod"], "active": true, "quota": null}\n'
)
PROSE = (
    b"The quick brown fox jumps over the lazy dog. Passwords should be long and random; "
    b"rotate them when someone leaves the team, and never paste them into a chat.\n"
)
PG_URL = b"postgres://user@db.internal:5432/app\n"


@pytest.mark.parametrize("text", [LS_L, JSON_API, PROSE, PG_URL], ids=["ls-l", "json", "prose", "pg-url"])
def test_ordinary_output_untouched(text: bytes) -> None:
    r = Redactor.build(secrets(api=TOKEN, pw=PUNCT, db=LONG40, pin=b"7Qx2", word=b"hunter2-Xk9"))
    assert redact_same_all_ways(r, text) == text


# ------------------------------------------------------------------------------- streaming


def test_line_is_emitted_by_feed_before_close() -> None:
    r = Redactor.build(secrets(api=TOKEN))
    s = r.stream()
    assert s.feed(b"starting server on :8080\n") == b"starting server on :8080\n"
    assert s.feed(b"token " + TOKEN + b" loaded\n") == b"token [REDACTED:api] loaded\n"
    assert s.close() == b""


def test_flush_idle_releases_line_ending_in_long_word() -> None:
    r = Redactor.build(secrets(api=TOKEN))
    s = r.stream()
    line = b"Downloading dependencies_for_workspace_module_0123456789abcdef"
    first = s.feed(line)
    rest = s.flush_idle()
    assert first + rest == line, "after a pause the whole line must be visible"
    assert s.close() == b""


def test_flush_idle_still_holds_a_prefix_of_a_secret() -> None:
    r = Redactor.build(secrets(api=TOKEN))
    s = r.stream()
    out = s.feed(b"token: " + TOKEN[:10])
    out += s.flush_idle()
    assert TOKEN[:10] not in out
    out += s.feed(TOKEN[10:] + b"\n")
    out += s.close()
    assert out == b"token: [REDACTED:api]\n"


def test_close_releases_everything() -> None:
    r = Redactor.build(secrets(api=TOKEN))
    s = r.stream()
    out = s.feed(b"partial " + TOKEN[:5])
    assert out + s.close() == b"partial " + TOKEN[:5]


_ARGV_VALUE = b"Zq8vLm3pR7tXw2Kd9sBnYc"
_ARGV_FORMS = [
    _ARGV_VALUE, b"--token=" + _ARGV_VALUE, _ARGV_VALUE[3:13], _ARGV_VALUE.upper(), _ARGV_VALUE[::-1],
    b" ".join(_ARGV_VALUE[i : i + 1] for i in range(len(_ARGV_VALUE))), _ARGV_VALUE.hex().encode(),
    base64.b64encode(b"user=" + _ARGV_VALUE), urllib.parse.quote(_ARGV_VALUE.decode(), safe="").encode(),
    base64.b64encode(base64.b64encode(b"config: " + _ARGV_VALUE + b" more text here")),
    b"true", b"cat", b"/tmp/some/file.txt", b"--verbose", b"Zq8vLm3", b"hello world",
]


@pytest.mark.parametrize("arg", _ARGV_FORMS, ids=range(len(_ARGV_FORMS)))
def test_an_uncompiled_redactor_finds_in_a_command_line_what_the_compiled_one_finds(arg: bytes) -> None:
    # `run` checks its command line with the uncompiled redactor, at once, while the compiled one
    # builds on a thread: both must agree on every form (or the access log could keep a value).
    values = secrets(**{"app/token": _ARGV_VALUE, "db/other": b"unrelated-value-0001"})
    uncompiled = Redactor.build(values, compiled=False)
    compiled = uncompiled.compile()
    assert not uncompiled.compiled and compiled.compiled
    assert uncompiled.contains(arg) == compiled.contains(arg) == Redactor.build(values).contains(arg)
    assert uncompiled.find(arg) == compiled.find(arg)
    assert bool(uncompiled.contains(arg)) == (_ARGV_FORMS.index(arg) < 10)
