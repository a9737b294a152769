"""Property tests for every parser of untrusted input: they either return a value or raise the
one documented error, never anything else; and what we write, we read back."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from pathlib import PurePosixPath

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from secretctl.core import formats, keys
from secretctl.core.meta import Field, Meta, parse_meta, render_meta
from secretctl.core.policy import RunCheck, load_policy
from secretctl.core.recipients import parse_recipients_file
from secretctl.core.secret import Secret, mask
from secretctl.errors import PolicyError, UsageError, VaultCorruptError
from tests.hyp import examples

SETTINGS = settings(max_examples=examples(300), deadline=None)
text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=200)


@SETTINGS
@given(st.text(max_size=300))
def test_an_accepted_key_stays_inside_the_vault(key: str) -> None:
    try:
        keys.validate_key(key)
    except UsageError as exc:
        assert "\n" not in exc.message
        return
    path = PurePosixPath("/vault") / keys.secret_path(key)
    assert ".." not in path.parts
    assert all(not part.startswith(".") for part in PurePosixPath(key).parts)
    assert str(path).startswith("/vault/")
    assert keys.key_from_path(keys.secret_path(key)) == key


@SETTINGS
@given(st.binary(max_size=2000))
def test_sidecar_parser_fails_only_with_vault_corrupt(data: bytes) -> None:
    with contextlib.suppress(VaultCorruptError):
        parse_meta(data, source="x.meta.yaml")


safe = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=60)
tags = st.lists(st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,20}", fullmatch=True), max_size=4, unique=True)
moments = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2200, 1, 1)).map(
    lambda d: d.replace(microsecond=0, tzinfo=UTC))


@SETTINGS
@given(moments, moments, safe, st.none() | moments, st.none() | safe, st.none() | safe, tags,
       st.lists(st.tuples(st.from_regex(r"[a-z][a-z0-9_]{0,10}", fullmatch=True), st.booleans(), safe),
                max_size=3, unique_by=lambda t: t[0]))
def test_sidecar_round_trip(created: datetime, updated: datetime, who: str, expires: datetime | None,
                            notes: str | None, url: str | None, tag_list: list[str],
                            fields: list[tuple[str, bool, str]]) -> None:
    meta = Meta(created=created, updated=updated, updated_by=who, expires=expires, notes=notes, url=url,
                tags=tuple(tag_list),
                fields=tuple(Field(n, s, None if s else v) for n, s, v in fields))
    assert parse_meta(render_meta(meta), source="x") == meta


@SETTINGS
@given(st.binary(max_size=2000))
def test_dotenv_parser_fails_only_with_usage_error(data: bytes) -> None:
    try:
        formats.parse_dotenv(data, source="x.env")
    except UsageError as exc:
        assert "\n" not in exc.message


@SETTINGS
@given(st.lists(st.tuples(st.from_regex(r"[A-Z_][A-Z0-9_]{0,20}", fullmatch=True),
                          st.text(st.characters(codec="utf-8", exclude_categories=("Cs",), exclude_characters="\r"),
                                  max_size=40)),
                max_size=8, unique_by=lambda t: t[0]))
def test_dotenv_round_trip(items: list[tuple[str, str]]) -> None:
    rendered = formats.render_dotenv([(k, Secret(v.encode())) for k, v in items])
    parsed = formats.parse_dotenv(rendered, source="x")
    assert [(k, s.reveal().decode()) for k, s in parsed] == items


@SETTINGS
@given(st.binary(max_size=3000))
def test_policy_parser_fails_closed(data: bytes) -> None:
    try:
        policy = load_policy(data, "p.yaml")
    except PolicyError as exc:
        assert exc.message.startswith("p.yaml")
        return
    # Whatever parsed, env dumpers stay blocked.
    with pytest.raises(PolicyError):
        policy.check(RunCheck(command="printenv", resolved_name="printenv"))


@SETTINGS
@given(st.binary(max_size=2000))
def test_recipients_parser_fails_only_with_vault_corrupt(data: bytes) -> None:
    try:
        parse_recipients_file(data, source=".age-recipients")
    except VaultCorruptError as exc:
        assert exc.message.startswith(".age-recipients")


@SETTINGS
@given(st.binary(min_size=0, max_size=64))
def test_secret_repr_never_shows_the_value(value: bytes) -> None:
    s = Secret(value)
    shown = repr(s) + str(s) + f"{s}" + s.masked()
    if len(value) >= 8:
        assert value[:-4] not in shown.encode() or len(value[:-4]) < 4
    assert mask(value).startswith("*") or not value


segment = st.text(st.sampled_from("aA0._-/\n"), min_size=0, max_size=12) | st.sampled_from(
    ["con", "Nul.txt", "lpt1", "x.age", "y.meta.yaml", "a" * 101, ".hidden", "..", "ok"])


@SETTINGS
@given(st.lists(segment, max_size=4), st.lists(segment, max_size=8))
def test_the_folder_scan_agrees_with_key_from_path(folder_parts: list[str], names: list[str]) -> None:
    """key_names validates whole folders at once; it must accept exactly what key_from_path accepts."""
    folder = "/".join(folder_parts)
    if folder and not keys.folder_ok(folder):
        return
    files = [n + ".age" for n in names if "/" not in n] + [n for n in names if "/" not in n]
    expected = [k for f in files if (k := keys.key_from_path(f"{folder}/{f}" if folder else f)) is not None]
    assert keys.keys_in_folder(folder, files) == expected


@SETTINGS
@given(st.lists(st.text(st.sampled_from("aAbB/"), min_size=1, max_size=8).filter(keys.folder_ok), max_size=20),
       st.text(st.sampled_from("aAbB/"), min_size=1, max_size=8).filter(keys.folder_ok))
def test_the_case_index_refuses_what_a_key_by_key_index_refuses(existing: list[str], new: str) -> None:
    bulk = keys.CaseIndex(existing)
    one_by_one = keys.CaseIndex()
    for k in existing:
        one_by_one.add(k)
    outcomes = []
    for index in (bulk, one_by_one):
        try:
            index.check(new)
            outcomes.append(None)
        except UsageError as exc:
            outcomes.append(exc.message.split(" differs")[0])
    assert (outcomes[0] is None) == (outcomes[1] is None)


sidecar_line = st.one_of(
    st.sampled_from(["version: 1", "version: 01", "version: 2", "tags:", "tags: []", "# comment", "", " ",
                     "fields:", "- \"a\"", "-  \"b\"", "notes: |", "  indented", "created: 2026-01-01",
                     'created: "2026-01-01T00:00:00Z"', 'updated: "2026-01-02T00:00:00Z"', "url: ~", "notes: null",
                     'notes: "a" # c', "notes: 'single'", "notes: \"tab\there\"", 'notes: "a\\nb"', 'url: "c:\\\\x"',
                     "updated_by: \"x\"\r"]),
    st.builds(lambda k, v: f'{k}: "{v}"', st.sampled_from(["notes", "url", "updated_by", "expires", "tags",
                                                            "recipients_fingerprint", "bogus", "version"]),
              st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=12)),
    st.builds(lambda v: f'- "{v}"', st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=8)),
)


@SETTINGS
@given(st.lists(sidecar_line, max_size=10), st.booleans())
@example(['notes: "a\\nb"'], True)
@example(["tags:", 'url: "x"'], True)
def test_the_fast_sidecar_loader_agrees_with_yaml(lines: list[str], final_newline: bool) -> None:
    """The shortcut for what render_meta writes must give YAML's answer or step aside."""
    import yaml

    from secretctl.core.meta import _load_fast

    data = ("\n".join(lines) + ("\n" if final_newline else "")).encode()
    fast = _load_fast(data)
    if fast is None:
        return
    assert fast == yaml.safe_load(data)


@SETTINGS
@given(text, text, tags)
def test_rendered_sidecars_take_the_fast_path_when_plain(notes: str, url: str, tag_list: list[str]) -> None:
    from secretctl.core.meta import _load_fast

    meta = Meta(created=datetime(2026, 1, 1, tzinfo=UTC), updated=datetime(2026, 1, 2, tzinfo=UTC),
                updated_by="alice", notes=notes or None, url=url or None, tags=tuple(tag_list),
                recipients_fingerprint="sha256:abc")
    data = render_meta(meta)
    assert parse_meta(data, source="x") == meta
    plain = all(s.isascii() and s.isprintable() and '"' not in s and "\\" not in s for s in (notes, url))
    assert (_load_fast(data) is not None) == plain


pattern_seg = st.sampled_from(["a", "b", "ab", "*", "**", "a*", "x.y"])
key_seg = st.sampled_from(["a", "b", "ab", "abc", "x.y", "ba"])


@SETTINGS
@given(st.lists(pattern_seg, min_size=1, max_size=4), st.lists(key_seg, min_size=1, max_size=5))
def test_a_pattern_matches_only_inside_its_folder(pattern_segs: list[str], key_segs: list[str]) -> None:
    from secretctl.core.envmap import pattern_folder

    pattern, key = "/".join(pattern_segs), "/".join(key_segs)
    folder = pattern_folder(pattern)
    if keys.match_pattern(pattern, key):
        assert folder == "" or key.startswith(folder + "/")
