"""The forms a hostile agent prints (issue 12), made with the real tools where one exists: each
must come out redacted whole, byte by byte and split at random boundaries (``check_form``)."""

from __future__ import annotations

import base64
import bz2
import gzip
import lzma
import subprocess
import zlib
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from secretctl.core.redact import Redactor
from secretctl.core.redact.forms import SKEL_MIN
from secretctl.core.redact.views import skeleton_text
from secretctl.core.secret import Secret
from tests.core.test_redact import LONG40, TOKEN, check_form, redact_all_ways, stream_through
from tests.hyp import examples

SHORT = b"k9Qz"  # 4 characters: the shortest value accepted
MID = b"Hx7-pQ2w"  # 8 characters: its skeleton is just long enough


def tool(argv: list[str], data: bytes) -> bytes:
    """The output of a real program given ``data`` on stdin."""
    return subprocess.run(argv, input=data, capture_output=True, check=True).stdout


def fullwidth(v: bytes) -> bytes:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in v.decode()).encode()


def math_bold(v: bytes) -> bytes:
    out = []
    for c in v.decode():
        if "A" <= c <= "Z":
            out.append(chr(0x1D400 + ord(c) - 65))
        elif "a" <= c <= "z":
            out.append(chr(0x1D41A + ord(c) - 97))
        elif "0" <= c <= "9":
            out.append(chr(0x1D7CE + ord(c) - 48))
        else:
            out.append(c)
    return "".join(out).encode()


def between(sep: bytes) -> Callable[[bytes], bytes]:
    return lambda v: sep.join(v[i : i + 1] for i in range(len(v)))


def groups(n: int, sep: bytes) -> Callable[[bytes], bytes]:
    return lambda v: sep.join(v[i : i + n] for i in range(0, len(v), n))


FORMS: dict[str, Callable[[bytes], bytes]] = {
    # hex
    "xxd": lambda v: tool(["xxd"], v),
    "xxd-plain": lambda v: tool(["xxd", "-p"], v),
    "hexdump-C": lambda v: tool(["hexdump", "-C"], v),
    "od-tx1": lambda v: tool(["od", "-An", "-tx1"], v),
    "0x-list": lambda v: b", ".join(b"0x%02x" % c for c in v),
    "0X-list-upper": lambda v: b",".join(b"0x%02X" % c for c in v),
    "html-hex-upper": lambda v: b"".join(b"&#X%02X;" % c for c in v),
    "html-dec-padded": lambda v: b"".join(b"&#%04d;" % c for c in v),
    # numbers
    "od-u1": lambda v: tool(["od", "-An", "-tu1"], v),
    "od-b": lambda v: tool(["od", "-b"], v),
    "comma-list": lambda v: b", ".join(b"%d" % c for c in v),
    "python-bytes-list": lambda v: repr(list(v)).encode(),
    # characters spread out
    "od-c": lambda v: tool(["od", "-c"], v),
    "python-char-list": lambda v: repr(list(v.decode())).encode(),
    "two-char-separator": between(b", "),
    "groups-of-4-dash": groups(4, b"-"),
    "groups-of-7-space": groups(7, b" "),
    "fold-1": lambda v: tool(["fold", "-w1"], v),
    # base64 / base32
    "base64-sep-4": lambda v: groups(4, b" ")(base64.b64encode(v)),
    "base64-sep-4-dash": lambda v: groups(4, b"-")(base64.b64encode(v)),
    "base32": lambda v: tool(["base32"], v),
    "base32hex": lambda v: tool(["basenc", "--base32hex"], v),
    "base32hex-lower": lambda v: tool(["basenc", "--base32hex"], v).lower(),
    # case
    "upper": lambda v: tool(["tr", "a-z", "A-Z"], v),
    "lower": lambda v: tool(["tr", "A-Z", "a-z"], v),
    "swapped": lambda v: tool(["tr", "a-zA-Z", "A-Za-z"], v),
    # unicode and bytes
    "fullwidth": fullwidth,
    "math-bold": math_bold,
    "lrm-between": between("\u200e".encode()),
    "invisible-times-between": between("\u2062".encode()),
    "cgj-between": between("\u034f".encode()),
    "del-between": between(b"\x7f"),
    "invalid-byte-between": between(b"\xff"),
    # decoded runs
    "base64-of-base64": lambda v: base64.b64encode(base64.b64encode(b"token: " + v + b"\n")),
    "gzip-base64": lambda v: base64.b64encode(gzip.compress(b"[db]\npassword=" + v + b"\n")),
    "zlib-base64": lambda v: base64.b64encode(zlib.compress(b"password=" + v + b"\n")),
    "bz2-base64": lambda v: base64.b64encode(bz2.compress(b"password=" + v + b"\n")),
    "xz-base64": lambda v: base64.b64encode(lzma.compress(b"password=" + v + b"\n")),
    "gzip-hex": lambda v: gzip.compress(b"password=" + v + b"\n").hex().encode(),
}
# Short values: their encodings standing alone (runs under 24 characters used to pass).
SHORT_FORMS: dict[str, Callable[[bytes], bytes]] = {
    "base64": base64.b64encode,
    "base64-unpadded": lambda v: base64.b64encode(v).rstrip(b"="),
    "base64url": base64.urlsafe_b64encode,
    "base32": base64.b32encode,
    "base32hex": base64.b32hexencode,
    "hex": lambda v: v.hex().encode(),
    "HEX": lambda v: v.hex().upper().encode(),
    "0x-list": FORMS["0x-list"],
    "comma-list": FORMS["comma-list"],
    "od-b": FORMS["od-b"],
    "od-u1": FORMS["od-u1"],
    "reversed": lambda v: v[::-1],
    "upper": FORMS["upper"],
    "separated": between(b" "),
}


@pytest.mark.parametrize("form", sorted(FORMS))
@pytest.mark.parametrize("value", [TOKEN, LONG40], ids=["24", "40"])
def test_form_is_redacted(form: str, value: bytes) -> None:
    printed = FORMS[form](value)
    check_form({"v": value}, b"out: " + printed + b"\nnext line\n", "v", (b"out: ", b"next line\n"))


@pytest.mark.parametrize("form", sorted(SHORT_FORMS))
@pytest.mark.parametrize("value", [SHORT, MID], ids=["4", "8"])
def test_short_value_form_is_redacted(form: str, value: bytes) -> None:
    printed = SHORT_FORMS[form](value)
    check_form({"v": value}, b"out: " + printed + b"\nnext line\n", "v", (b"out: ", b"next line\n"))



@pytest.mark.parametrize("value", [b"Zq8&vT3p&Lm9xW2r", b"p<4&x>Qz9\"wKd7m&", b"k9Q&z"],
                         ids=["amp", "lt-gt-quot", "short"])
def test_html_escaped_value_is_redacted(value: bytes) -> None:
    # html.escape writes & < > " as named entities (&amp; &lt; &gt; &quot;): a value with one of
    # them printed through it passed whenever the read held no %, backslash or &# (the unescaped
    # view was only built for those).
    import html

    printed = html.escape(value.decode(), quote=False).encode()
    assert printed != value
    check_form({"v": value}, b"out: " + printed + b"\nnext line\n", "v", (b"out: ", b"next line\n"))


def test_fragment_of_a_self_similar_value() -> None:
    value = b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab"  # no 8 characters have 5 distinct
    out = check_form({"v": value}, b"cut: " + value[20:40] + b" end\n", "v", (b"cut: ", b" end\n"))
    assert b"a" * 16 not in out


def test_fragment_of_a_low_diversity_stretch() -> None:
    value = b"0000000000000000000000Xk9Qz7LmP2wR"
    check_form({"v": value}, b"cut: " + value[2:20] + b" end\n", "v", (b"cut: ", b" end\n"))


# ------------------------------------------------------------------------- minted credentials

def _jwt() -> bytes:
    head = base64.urlsafe_b64encode(b'{"alg":"RS256","kid":"k1"}').rstrip(b"=")
    body = base64.urlsafe_b64encode(b'{"sub":"system:serviceaccount:default:ci","iss":"k8s"}').rstrip(b"=")
    return head + b"." + body + b"." + b"Q2xhaW1zU2lnbmF0dXJlX19fX19fX19fX19fX19fX19fX18"


_B64_40 = b"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
_PEM_BODY = base64.encodebytes(bytes(range(256)) * 3).rstrip(b"\n")
CREDENTIALS: dict[str, tuple[bytes, bytes]] = {
    # name: (the output, the secret part that must be gone)
    "aws-access-key": (b"AKIAIOSFODNN7EXAMPLE", b"AKIAIOSFODNN7EXAMPLE"),
    "aws-sts-json": (b'{"Credentials": {"AccessKeyId": "ASIAXAMPLEXAMPLE1234", "SecretAccessKey": "' + _B64_40
                     + b'", "SessionToken": "IQoJb3JpZ2luX2VjEJr' + b"A" * 120 + b'"}}', _B64_40),
    "aws-sts-session-token": (b'"SessionToken": "FwoGZXIvYXdzEBaaD' + b"x" * 200 + b'"', b"x" * 40),
    "aws-env": (b"AWS_SECRET_ACCESS_KEY=" + _B64_40, _B64_40),
    "aws-credentials-file": (b"aws_secret_access_key = " + _B64_40, _B64_40),
    "aws-ecr-password": (b"eyJwYXlsb2FkIjoi" + b"Qk" * 300 + b"==", b"Qk" * 30),
    "gcp-ya29": (b"ya29.a0AfH6SMBx3ZkTq" + b"9" * 100, b"ya29.a0AfH6SMBx3ZkTq"),
    "gcp-sa-json": (b'{"type": "service_account", "private_key": "-----BEGIN PRIVATE KEY-----\\n'
                    + b"MIIEvQIBADANBgkqhkiG9w0BAQEFAASC" * 4 + b'\\n-----END PRIVATE KEY-----\\n", "x": 1}',
                    b"MIIEvQIBADANBgkqhkiG9w0BAQEFAASC"),
    "azure-client-secret": (b"AZURE_CLIENT_SECRET=abc8Q~" + b"Zx7_pQ2wLm9.kT4rV6nB3yH8jD1sF5gA", b"Zx7_pQ2wLm9"),
    "azure-storage": (b"DefaultEndpointsProtocol=https;AccountName=x;AccountKey=" + b"Zm9v" * 22 + b";",
                      b"Zm9v" * 10),
    "github-ghp": (b"ghp_" + b"aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5", b"aB3dE5fG7hJ9kL1mN3pQ"),
    "github-gho": (b"gho_" + b"aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5", b"aB3dE5fG7hJ9kL1mN3pQ"),
    "github-ghu": (b"ghu_" + b"aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5", b"aB3dE5fG7hJ9kL1mN3pQ"),
    "github-ghs": (b"ghs_" + b"aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5", b"aB3dE5fG7hJ9kL1mN3pQ"),
    "github-ghr": (b"ghr_" + b"aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5", b"aB3dE5fG7hJ9kL1mN3pQ"),
    "github-pat": (b"github_pat_11ABCDEFG0" + b"xY9_" * 20, b"xY9_" * 10),
    "gitlab": (b"glpat-" + b"Zx7pQ2wLm9kT4rV6nB3y", b"Zx7pQ2wLm9kT4rV6nB3y"),
    "slack-bot": (b"xoxb-1234567890-0987654321-AbCdEfGhIjKlMnOpQrStUv", b"AbCdEfGhIjKlMnOpQrStUv"),
    "slack-app": (b"xapp-1-A0123BCDE-1234567890-abcdef0123456789", b"abcdef0123456789"),
    "slack-webhook": (b"https://hooks.slack.com/services/T0001/B0002/XXXXyyyyZZZZ1234", b"XXXXyyyyZZZZ1234"),
    "stripe-live": (b"sk_live_" + b"4eC39HqLyjWDarjtT1zdp7dc", b"4eC39HqLyjWDarjtT1zdp7dc"),
    "stripe-restricted": (b"rk_live_" + b"4eC39HqLyjWDarjtT1zdp7dcXYZ", b"4eC39HqLyjWDarjtT1zdp7dc"),
    "openai-project": (b"sk-proj-" + b"Ab3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5-_x", b"Ab3dE5fG7hJ9kL1mN3pQ"),
    "openai-legacy": (b"sk-" + b"A" * 20 + b"T3BlbkFJ" + b"B" * 20, b"T3BlbkFJ" + b"B" * 20),
    "anthropic": (b"sk-ant-api03-" + b"Zx7pQ2wLm9kT4rV6nB3y" * 4 + b"-AA", b"Zx7pQ2wLm9kT4rV6nB3y"),
    "npm": (b"npm_" + b"aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5", b"aB3dE5fG7hJ9kL1mN3pQ"),
    "pypi": (b"pypi-AgEIcHlwaS5vcmc" + b"Zx7pQ2wLm9" * 8, b"Zx7pQ2wLm9" * 3),
    "vault-hvs": (b"hvs.CAESIJ" + b"Zx7pQ2wLm9kT4rV6nB3y" * 3, b"Zx7pQ2wLm9kT4rV6nB3y"),
    "vault-hvb": (b"hvb.AAAAAQ" + b"Zx7pQ2wLm9kT4rV6nB3y" * 3, b"Zx7pQ2wLm9kT4rV6nB3y"),
    "vault-hvr": (b"hvr.AAAAAQ" + b"Zx7pQ2wLm9kT4rV6nB3y" * 3, b"Zx7pQ2wLm9kT4rV6nB3y"),
    "jwt": (_jwt(), _jwt().split(b".")[1]),
    "pem-rsa": (b"-----BEGIN RSA PRIVATE KEY-----\n" + _PEM_BODY + b"\n-----END RSA PRIVATE KEY-----",
                _PEM_BODY.split(b"\n")[3]),
    "openssh": (b"-----BEGIN OPENSSH PRIVATE KEY-----\n" + _PEM_BODY + b"\n-----END OPENSSH PRIVATE KEY-----",
                _PEM_BODY.split(b"\n")[3]),
    "kubeconfig-token": (b"users:\n- name: ci\n  user:\n    token: " + b"Zx7pQ2wLm9kT4rV6nB3y.abc-def_0123456789",
                         b"Zx7pQ2wLm9kT4rV6nB3y"),
    "kubeconfig-client-key": (b"    client-key-data: " + base64.b64encode(b"-----BEGIN EC PRIVATE KEY-----" * 3),
                              base64.b64encode(b"-----BEGIN EC PRIVATE KEY-----" * 3)[20:60]),
}


@pytest.mark.parametrize("kind", sorted(CREDENTIALS))
def test_minted_credential_is_redacted(kind: str) -> None:
    printed, secret_part = CREDENTIALS[kind]
    r = Redactor.build({"other": Secret(TOKEN)})
    data = b"log line before\n" + printed + b"\n== line after\n"
    for name, out in redact_all_ways(r, data).items():
        assert b"[REDACTED:credential]" in out, (name, out)
        assert secret_part not in out, (name, out)
        assert out.startswith(b"log line before\n"), (name, out)
        assert out.endswith(b"\n== line after\n"), (name, out)


# ------------------------------------------------------------------------------ property

PY_FORMS: dict[str, Callable[[bytes], bytes]] = {
    name: f for name, f in {**FORMS, **{f"short-{k}": g for k, g in SHORT_FORMS.items()}}.items()
    if not name.endswith(("xxd", "xxd-plain", "hexdump-C", "od-tx1", "od-u1", "od-b", "od-c", "base32",
                          "base32hex", "base32hex-lower", "upper", "lower", "swapped", "fold-1"))
}
PY_FORMS |= {
    "od-b": lambda v: b"\n".join(b"%07o " % i + b" ".join(b"%03o" % c for c in v[i : i + 16])
                                 for i in range(0, len(v), 16)),
    "base32": base64.b32encode, "base32hex": base64.b32hexencode,
    "upper": bytes.upper, "lower": bytes.lower, "swapped": bytes.swapcase,
}
ALNUM = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"


def splits(data: bytes, cuts: list[int]) -> dict[str, list[bytes]]:
    """``data`` as one read, one byte a read, and cut at ``cuts`` (taken modulo its length)."""
    points = sorted({c % len(data) for c in cuts} - {0})
    return {"whole": [data], "bytewise": [data[i : i + 1] for i in range(len(data))],
            "random": [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]}


@settings(max_examples=examples(120), deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=st.text(st.sampled_from(ALNUM + "-_.@!"), min_size=4, max_size=40).map(str.encode),
       form=st.sampled_from(sorted(PY_FORMS)), cuts=st.lists(st.integers(1, 4000), max_size=8))
def test_every_form_of_a_random_value_whole_bytewise_and_split(value: bytes, form: str, cuts: list[int]) -> None:
    # Values with fewer than 8 letters and digits are caught in their common spellings only
    # (SHORT_FORMS; docs/redaction.md): the skeleton views would find them everywhere.
    assume(form.startswith("short-") or len(skeleton_text(value)) >= SKEL_MIN)
    printed = PY_FORMS[form](value)
    data = b"got: " + printed + b"\nend of output\n"
    r = Redactor.build({"v": Secret(value)})
    for name, chunks in splits(data, cuts).items():
        out = stream_through(r, chunks)
        assert b"[REDACTED:v]" in out, (form, name, out)
        assert value not in out and printed not in out, (form, name, out)
        assert out.endswith(b"\nend of output\n"), (form, name, out)


@pytest.mark.parametrize("gap", [300, 2000])
def test_a_value_spread_by_long_separators_one_read_a_character(gap: int) -> None:
    """The stream holds back by characters of the skeleton, not by bytes: 300 spaces after each
    character, one read each, was longer than any window in bytes, and the whole value passed."""
    value = b"Ab3dEf9hIj2kLm4nQr7sTu5v"
    stream = Redactor.build({"tok": Secret(value)}).stream()
    out = b"".join(stream.feed(bytes([c]) + b" " * gap) for c in value) + stream.close()
    assert b"[REDACTED:tok]" in out
    assert out.replace(b" ", b"") == b"[REDACTED:tok]"
