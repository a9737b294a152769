"""Fragments in the skeleton views (issue 12): 8+ letters and digits of a 16+ value, in another
case, spaced out, reversed, full-width, or behind an ``ESC`` that eats the first character. Each
passed before (fragments were matched on the raw bytes only). Printed whole, byte by byte and
split at random chunk boundaries; and ordinary text around values made of ordinary words passes.
"""

from __future__ import annotations

import random
import re
import subprocess
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from secretctl.core.redact import Layered, Redactor
from secretctl.core.redact.views import skeleton_text
from secretctl.core.secret import Secret
from tests.core.test_redact import redact_all_ways, stream_through
from tests.core.test_redact_attacks import ALNUM, fullwidth, math_bold, splits
from tests.hyp import examples

MARKER_RX = re.compile(rb"\[REDACTED(?::[^\]]*)?\]")
VALUE = b"Zq8vL2mW9rT4xK7pB3nF6hJ1"  # 24 characters
LETTERS = b"NKcbAdfLQrmUaGHzWqPeYtVs"  # letters only: no digit to help


def sh(script: str, value: bytes) -> bytes:
    """What ``printenv TOKEN | <script>`` prints (the real tools an agent would use)."""
    env = {"TOKEN": value.decode(), "PATH": "/usr/bin:/bin"}
    return subprocess.run(["sh", "-c", f"printenv TOKEN | {script}"], env=env, capture_output=True,
                          check=True).stdout.rstrip(b"\n")


ATTACKS: dict[str, Callable[[bytes], bytes]] = {
    "cut-upper": lambda v: sh("cut -c2- | tr a-z A-Z", v),  # 15+ characters, upper case
    "cut-lower": lambda v: sh("cut -c3-14 | tr A-Z a-z", v),  # 12
    "cut-swapped": lambda v: sh("cut -c4-13 | tr a-zA-Z A-Za-z", v),  # 10
    "cut-spaced": lambda v: sh("cut -c3-20 | sed 's/./& /g'", v),
    "cut-dashed-upper": lambda v: sh("cut -c5-16 | tr a-z A-Z | sed 's/./&-/g'", v),
    "cut-rev": lambda v: sh("cut -c3-14 | rev", v),
    "cut-rev-upper": lambda v: sh("cut -c6-17 | rev | tr a-z A-Z", v),
    "esc-upper": lambda v: b"\x1b" + v.upper(),  # a terminal reads ESC + its first letter as one sequence
    "esc-upper-cut": lambda v: b"\x1b" + v[2:14].upper(),
    "fullwidth": lambda v: fullwidth(v[3:13]),
    "fullwidth-swapped": lambda v: fullwidth(v[5:18].swapcase()),
    "math-bold": lambda v: math_bold(v[1:11]),
    "zero-width-between": lambda v: "\u200b".join(v[4:14].decode()).encode(),
    "colored-per-char": lambda v: b"".join(b"\x1b[3%dm%c" % (i % 7, c) for i, c in enumerate(v[2:12].upper())),
}


def _no_fragment_left(out: bytes, value: bytes, n: int = 8) -> None:
    """Between markers, no ``n`` letters and digits of the value's skeleton, forwards or backwards."""
    skel = skeleton_text(value)
    for piece in MARKER_RX.split(out):
        seen = skeleton_text(piece)
        for i in range(len(skel) - n + 1):
            w = skel[i : i + n]
            assert w not in seen and w[::-1] not in seen, (w, out)


def _check(values: dict[str, bytes], printed: bytes, label: str) -> None:
    r = Redactor.build({k: Secret(v) for k, v in values.items()})
    # No letters or digits around: a fragment grown in the skeleton takes those that continue the
    # value (see test_growth_takes_only_what_continues_the_value).
    data = b">> " + printed + b"\n-- -- --\n"
    for name, out in redact_all_ways(r, data).items():
        assert f"[REDACTED:{label}]".encode() in out, (name, out)
        assert out.startswith(b">> ") and out.endswith(b"\n-- -- --\n"), (name, out)
        for v in values.values():
            _no_fragment_left(out, v)


@pytest.mark.parametrize("attack", sorted(ATTACKS))
@pytest.mark.parametrize("value", [VALUE, LETTERS], ids=["mixed", "letters"])
def test_fragment_in_another_form_is_redacted(attack: str, value: bytes) -> None:
    printed = ATTACKS[attack](value)
    assert value not in printed and printed not in value  # not a raw fragment: the skeleton's to find
    _check({"tok": value}, printed, "tok")


def test_eight_characters_are_enough_and_seven_are_not() -> None:
    r = Redactor.build({"tok": Secret(VALUE)})
    assert r.redact(b"x " + VALUE[5:13].upper() + b" y") == b"x [REDACTED:tok] y"
    assert r.redact(b"x " + VALUE[5:12].upper() + b" y") == b"x " + VALUE[5:12].upper() + b" y"


def test_growth_takes_only_what_continues_the_value() -> None:
    # The skeleton has no separators, so a fragment grows into the text next to it as far as that
    # text goes on spelling the value (a letter in 36 after a fragment): never further.
    r = Redactor.build({"tok": Secret(VALUE)})
    frag = VALUE[5:18].upper()  # ...PB3, and the value goes on with nF6
    assert r.redact(b"x " + frag + b"\nnext\n") == b"x [REDACTED:tok]ext\n"
    assert r.redact(b"x " + frag + b"\nmore\n") == b"x [REDACTED:tok]\nmore\n"


def test_a_short_value_has_no_skeleton_fragments() -> None:
    # Fragments are for values of 16 bytes or more (fragment_value_min), as on the raw bytes.
    value = b"Zq8vL2mW9rT4xK7"
    r = Redactor.build({"tok": Secret(value)})
    assert r.redact(value[1:13].upper()) == value[1:13].upper()


def test_fragments_of_a_value_in_a_big_set_are_found_in_the_reversed_skeleton() -> None:
    # A big skeleton set scans the skeleton reversed instead of holding each literal backwards.
    rnd = random.Random(3)
    values = {f"k{i}": Secret(rnd.randbytes(12).hex().encode()) for i in range(300)}
    values["tok"] = Secret(VALUE)
    r = Redactor.build(values)
    assert r._reversed_scan
    for printed in (VALUE[2:14][::-1].upper(), b"-".join(VALUE[i : i + 1] for i in range(3, 15)), VALUE[1:].upper()):
        assert r.redact(b"x " + printed + b" y") == b"x [REDACTED:tok] y", printed


def test_the_injected_layer_over_a_lean_redactor_finds_skeleton_fragments() -> None:
    # A big vault's all-values redactor is lean (no fragments for values a run did not inject);
    # the layer of the run's own values has them, in every view.
    rnd = random.Random(5)
    lean = Redactor.build({f"k{i}": Secret(rnd.randbytes(12).hex().encode()) for i in range(50)},
                          fragments=False, lean=True)
    layered = Layered([lean, Redactor.build({"tok": Secret(VALUE)}, detect=False)])
    printed = b"x " + VALUE[3:15].swapcase() + b" y\n"
    assert lean.redact(printed) == printed
    assert stream_through(layered, [printed[:7], printed[7:]]) == b"x [REDACTED:tok] y\n"


def test_a_public_field_inside_a_url_is_not_a_fragment_in_any_case() -> None:
    url = b"postgres://appuser:Zq8vL2mW9rT4@db.internal:5432/app"
    r = Redactor.build({"db/url": Secret(url)}, public=(b"appuser", b"db.internal", b"5432"))
    shown = b"HOST=DB.INTERNAL:5432/APP user APPUSER\n"
    assert r.redact(shown) == shown
    assert r.redact(b"pw " + b"ZQ8VL2MW9RT4" + b"\n") == b"pw [REDACTED:db/url]\n"


def test_a_user_name_printed_before_the_password_is_not_taken_with_it() -> None:
    # The skeleton has no separators: `app` (the user, a public field) printed on the line before
    # the password reads as `app` + password, as in the URL. The fragment stops where the public
    # field starts, and the password is named by its own secret (a marker never names a secret the
    # run was not given because of a public field next to it).
    pw = b"Zq8vL2mW9rT4xK"
    url = b"postgres://app:" + pw + b"@db.internal:5432/app"
    r = Redactor.build({"db/main:password": Secret(pw), "app/database_url": Secret(url)},
                       public=(b"app", b"db.internal", b"5432"))
    out = r.stream(named=["db/main"])
    shown = b"db.internal:5432/app app\n" + pw + b"\n"
    assert out.feed(shown) + out.close() == b"db.internal:5432/app app\n[REDACTED:db/main:password]\n"
    assert r.redact(b"APP " + pw.upper() + b"\n") == b"APP [REDACTED:db/main:password]\n"


# ----------------------------------------------------------------------- no over-redaction

WORDY = {
    "greeting": b"Welcome-Back-x8Kq2mW9rT4",
    "deploy": b"Production-Release-Zq8vL2",
    "camel": b"SuperSecretPassword!x9",
    "url": b"postgres://admin:Hx7pQ2wLm9@db.internal:5432/appdb",
    "env": b"export API_TOKEN=example",
}
PROSE = b"""Welcome back, alice. Your last login was yesterday.
INFO production release 2.4 rolled out to 3 regions (WELCOME BACK banner enabled)
WARN Release notes: https://example.com/production/release-notes
super secret features are hidden behind a flag; see the password reset page
export api_token to your shell, e.g. `export api_token=...`, before running the example
connecting to postgres://readonly@db.internal:5432/appdb ... ok (Admin console at /admin)
"""


def test_text_made_of_the_ordinary_words_in_values_passes() -> None:
    # The URL's user, host, port and database are public fields (as a multi-field secret's
    # bindings make them): a stretch of them is no fragment (on the raw bytes either).
    r = Redactor.build({k: Secret(v) for k, v in WORDY.items()}, public=(b"admin", b"db.internal", b"5432", b"appdb"))
    for name, out in redact_all_ways(r, PROSE).items():
        assert out == PROSE, (name, out)


# ----------------------------------------------------------------------------------- property

TRANSFORMS: dict[str, Callable[[bytes], bytes]] = {
    "upper": bytes.upper,
    "lower": bytes.lower,
    "swapped": bytes.swapcase,
    "spaced": lambda f: b" ".join(f[i : i + 1] for i in range(len(f))),
    "dotted-upper": lambda f: b". ".join(f[i : i + 1] for i in range(len(f))).upper(),
    "reversed": lambda f: f[::-1],
    "reversed-upper": lambda f: f[::-1].upper(),
    "fullwidth": fullwidth,
    "esc-upper": lambda f: b"\x1b" + f.upper(),
}


@settings(max_examples=examples(150), deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(value=st.text(st.sampled_from(ALNUM + "23456789" * 3 + "-_.@!"), min_size=16, max_size=40).map(str.encode),
       start=st.integers(0, 40), length=st.integers(9, 40), form=st.sampled_from(sorted(TRANSFORMS)),
       cuts=st.lists(st.integers(1, 4000), max_size=8))
def test_every_fragment_form_of_a_random_value_whole_bytewise_and_split(
        value: bytes, start: int, length: int, form: str, cuts: list[int]) -> None:
    frag = value[start : start + length]
    skel = skeleton_text(frag)
    # A fragment whatever the rule for words (digits are always marked; a capital may start a
    # word): 24 characters; 16 with 2 digits; 9 (esc-upper may hide the first) with 5 distinct and
    # 3 digits. 16-23 letters of words only are not fragments in another form (docs/redaction.md).
    digits = sum(1 for c in frag[1:] if 0x30 <= c <= 0x39)
    assume(len(skel) >= 24 or (len(skel) >= 16 and digits >= 2)
           or (len(skel) >= 9 and len(set(skel)) >= 5 and digits >= 3))
    printed = TRANSFORMS[form](frag)
    assume(printed not in value and value not in printed)
    data = b">> " + printed + b"\n-- -- --\n"
    r = Redactor.build({"v": Secret(value)})
    for name, chunks in splits(data, cuts).items():
        out = stream_through(r, chunks)
        assert b"[REDACTED:v]" in out, (form, name, out)
        assert out.startswith(b">> ") and out.endswith(b"\n-- -- --\n"), (form, name, out)
        _no_fragment_left(out, value)


# ------------------------------------------------------- what escape sequences hold is read too

def _csi_every(n: int) -> Callable[[bytes], bytes]:
    # ESC [ before every n-th character: a terminal reads it and the letter after it as one
    # sequence (cursor moves), so the skeleton without sequences held n - 1 characters at a time.
    return lambda v: b"\x1b[".join(v[i : i + n] for i in range(0, len(v), n))


ESCAPED: dict[str, Callable[[bytes], bytes]] = {
    "osc-title-upper": lambda v: b"\x1b]0;" + v.upper() + b"\x07",
    "osc-title-st": lambda v: b"\x1b]2;" + v.swapcase() + b"\x1b\\",
    "osc-hyperlink": lambda v: b"\x1b]8;;https://x.example/" + v.upper() + b"\x1b\\link\x1b]8;;\x1b\\",
    "csi-every-7": _csi_every(7),
    "csi-every-4-upper": lambda v: _csi_every(4)(v.upper()),
    "esc-upper": lambda v: b"\x1b" + v.upper(),
}
SHORT12 = b"Hx7pQ2wLm9Kd"  # 12 characters: no fragments, caught whole only


@pytest.mark.parametrize("form", sorted(ESCAPED))
@pytest.mark.parametrize("value", [VALUE, SHORT12], ids=["24", "12"])
def test_a_value_inside_escape_sequences_is_redacted(form: str, value: bytes) -> None:
    printed = ESCAPED[form](value)
    assert value not in printed
    r = Redactor.build({"tok": Secret(value)})
    data = b">> " + printed + b"\n-- -- --\n"
    for name, out in redact_all_ways(r, data).items():
        assert b"[REDACTED:tok]" in out, (name, out)
        assert out.startswith(b">> ") and out.endswith(b"\n-- -- --\n"), (name, out)
        for piece in MARKER_RX.split(out):
            seen = skeleton_text(piece.replace(b"\x1b", b""))  # the bytes an agent reads
            assert skeleton_text(value)[:8] not in seen and skeleton_text(value)[-8:] not in seen, (name, out)


def test_colored_output_around_a_value_is_kept() -> None:
    r = Redactor.build({"tok": Secret(VALUE)})
    data = b"\x1b[32mINFO\x1b[0m token=" + VALUE + b" \x1b[1mdone\x1b[0m\n"
    assert r.redact(data) == b"\x1b[32mINFO\x1b[0m token=[REDACTED:tok] \x1b[1mdone\x1b[0m\n"
    plain = b"\x1b[32mINFO\x1b[0m all fine \x1b[1;31mdone\x1b[0m\n"
    assert r.redact(plain) == plain


def test_an_uncompiled_check_of_many_values_finds_what_the_compiled_one_finds() -> None:
    # A command line is checked uncompiled; with many values each short argument is looked up
    # window by window (not a find per pattern): both ways must find the same, fragments in
    # every form included.
    rnd = random.Random(9)
    values = {f"k{i}": Secret(rnd.randbytes(14).hex().encode()) for i in range(300)}
    values["tok"] = Secret(VALUE)
    uncompiled = Redactor.build(values, compiled=False, detect=False)
    compiled = uncompiled.compile()
    args = [VALUE, VALUE[3:14], VALUE[3:14].upper(), b"-".join(VALUE[i : i + 1] for i in range(2, 12)),
            VALUE[4:16][::-1], b"--token=" + VALUE[1:].swapcase(), b"deploy", b"--env=production", b"/usr/bin/env"]
    assert len(args[1]) * len(uncompiled._skel._by_len()) < len(uncompiled._skel)  # the window path
    for arg in args:
        assert uncompiled.find(arg) == compiled.find(arg), arg
    assert [bool(uncompiled.contains(a)) for a in args] == [True] * 6 + [False] * 3


def test_a_stream_holds_the_start_of_a_fragment_and_a_pause_releases_a_word_end() -> None:
    r = Redactor.build({"tok": Secret(VALUE)})
    s = r.stream()
    out = s.feed(b"x " + VALUE[5:10].upper())  # more is coming: any start of a window is held
    out += s.flush_idle()  # after a pause: 4+ characters of a window are still held
    assert VALUE[5:10].upper() not in out
    out += s.feed(VALUE[10:15].upper() + b"\n")
    assert out + s.close() == b"x [REDACTED:tok]\n"
    # 1-3 characters that start a window of the skeleton (a prompt's last word): a pause shows what
    # it would show without fragments. (Ending in the value's own bytes, they are held from one
    # byte, as raw fragments always were: test_a_fragment_cut_by_a_pause_is_held_...)
    plain = Redactor.build({"tok": Secret(VALUE)}, fragments=False)
    for start in range(len(VALUE) - 3):
        for n in (1, 2, 3):
            if VALUE[start + n - 1 : start + n].upper() == VALUE[start + n - 1 : start + n]:
                continue
            prompt = b"continue? " + VALUE[start : start + n].upper()
            shown = [(s.feed(prompt), s.flush_idle()) for s in (r.stream(), plain.stream())]
            assert shown[0] == shown[1], prompt

def test_a_number_of_its_own_is_a_mark_and_public_fields_keep_ordinary_lines_whole() -> None:
    """A passphrase's `-42` makes an upper-cased stretch of its words a fragment (the review's idea
    of not marking short numbers let it pass). The price, a plain-string URL's port and names
    printed side by side, is avoided by making them non-sensitive fields."""
    phrase = b"correct-horse-battery-staple-42"
    r = Redactor.build({"pass": Secret(phrase)})
    assert r.redact(b"said " + b"horse-battery-staple-42".upper()) == b"said [REDACTED:pass]"
    url = b"postgres://secretctl:Ab3dEf9hIj2k@db.internal:5432/secretctl"
    ordinary = b"pid 15432 secretctl-mcp started\nlistening on 0.0.0.0:5432\nsecretctl ready\n"
    fields = Redactor.build({"dburl": Secret(url)}, public=(b"secretctl", b"db.internal", b"5432"))
    for name, out in redact_all_ways(fields, ordinary).items():
        assert out == ordinary, (name, out)
    assert fields.redact(b"pw=" + b"Ab3dEf9hIj2k".upper()) == b"pw=[REDACTED:dburl]"


@pytest.mark.parametrize("split", [3, 2, 1])
def test_a_fragment_cut_by_a_pause_is_held_for_a_value_of_letters_and_digits(split: int) -> None:
    """Such a value has no raw anchors (its skeleton anchors are the same windows): its raw windows
    still hold the start of a fragment across a pause (the skeleton windows hold 4+ characters)."""
    value = b"Ab3dEf9hIj2kLm4nQr7s"
    stream = Redactor.build({"tok": Secret(value)}).stream()
    frag = b"9hIj2kLm"
    out = stream.feed(b"x " + frag[:split]) + stream.flush_idle() + stream.feed(frag[split:] + b" y\n")
    out += stream.close()
    assert out == b"x [REDACTED:tok] y\n"
