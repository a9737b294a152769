"""core.changes: sync's report from `git log --name-status`, by diff status, never by subject."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from secretctl.core.changes import parse_log


def commit(subject: str, action: str, keys: list[str], files: list[str], actor: str = "alice") -> str:
    trailers = "\n".join([f"Secretctl-Action: {action}", *[f"Secretctl-Key: {k}" for k in keys],
                          f"Secretctl-Actor: {actor} <age1x>"])
    return f"\x1edeadbeef\x00{actor}\x00{subject}\n\n{trailers}\n\x00\n\n" + "".join(f + "\n" for f in files)


def test_a_new_key_named_update_is_added() -> None:
    """Issue 14 bug 3: the subject used to decide, and "update" in a key's name meant changed."""
    log = commit("secretctl: set app/update_token", "set", ["app/update_token"],
                 ["A\tapp/update_token.age", "A\tapp/update_token.meta.yaml"])
    log += commit("secretctl: update shared/one", "set", ["shared/one"], ["M\tshared/one.age"], actor="bob")
    c = parse_log(log)
    assert c.added == {"app/update_token": "alice"}
    assert c.changed == {"shared/one": "bob"}
    assert c.commits == 2


def test_net_effect() -> None:
    log = (commit("s", "set", ["a"], ["A\ta.age"]) + commit("s", "set", ["a"], ["M\ta.age"])
           + commit("s", "set", ["b"], ["A\tb.age"]) + commit("s", "delete", ["b"], ["D\tb.age"])
           + commit("s", "delete", ["c"], ["D\tc.age"]) + commit("s", "set", ["c"], ["A\tc.age"]))
    c = parse_log(log)
    assert c.added == {"a": "alice"} and c.removed == {} and c.changed == {"c": "alice"}


def test_moves_are_moves() -> None:
    log = (commit("secretctl: move x to y", "move", ["x", "y"], ["D\tx.age", "D\tx.meta.yaml", "A\ty.age"])
           + commit("secretctl: move y to z", "move", ["y", "z"], ["D\ty.age", "A\tz.age"]))
    c = parse_log(log)
    assert c.moved == {"x": "z"} and c.added == {} and c.removed == {}
    back = log + commit("secretctl: move z to x", "move", ["z", "x"], ["D\tz.age", "A\tx.age"])
    assert parse_log(back).moved == {}


def test_hand_commits_count_by_their_author() -> None:
    log = "\x1ecafe\x00mallory\x00edit by hand\n\x00\n\nM\tdb/pw.age\nA\tnotes.txt\n"
    c = parse_log(log)
    assert c.changed == {"db/pw": "mallory"} and c.commits == 1


def test_member_changes_and_rotation() -> None:
    log = commit("secretctl: remove member bob (2 secrets re-encrypted)", "member-remove", ["a", "b"],
                 ["M\ta.age", "M\tb.age", "M\t.age-recipients"])
    c = parse_log(log)
    assert c.members == ["remove member bob (2 secrets re-encrypted)"]
    assert c.rotate == ["a", "b"]


@given(st.text(max_size=300))
def test_any_text_parses(text: str) -> None:
    c = parse_log(text)
    assert c.commits >= 0
