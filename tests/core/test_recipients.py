"""core/recipients: the .age-recipients format that passage and `age -R` read."""

from __future__ import annotations

import pytest

from secretctl.core.recipients import parse_recipient, parse_recipients_file, validate_member_name
from secretctl.errors import UsageError, VaultCorruptError

# Public keys only (a recipient is public by definition); generated with age-keygen.
ALICE = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"
BOB = "age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj"


def test_a_file_with_names_round_trips() -> None:
    data = f"# alice\n{ALICE}\n# bob\n{BOB}\n".encode()
    rf = parse_recipients_file(data, source=".age-recipients")
    assert rf.names() == ["alice", "bob"]
    again = parse_recipients_file(rf.render().encode(), source="x")
    assert again.names() == rf.names() and again.fingerprint() == rf.fingerprint()


def test_adding_and_removing_members() -> None:
    rf = parse_recipients_file(f"# alice\n{ALICE}\n".encode(), source="x")
    both = rf.with_added("bob", parse_recipient(BOB))
    assert both.names() == ["alice", "bob"] and both.has(BOB)
    assert both.without("bob").fingerprint() == rf.fingerprint()


def test_a_pasted_private_key_is_named_as_such_and_never_echoed() -> None:
    secret = "AGE-SECRET-KEY-1" + "Q" * 58
    with pytest.raises((UsageError, VaultCorruptError)) as err:
        parse_recipients_file(f"{secret}\n".encode(), source=".age-recipients")
    assert "private" in err.value.message.lower() or "secret key" in err.value.message.lower()
    assert secret not in err.value.message and secret not in (err.value.hint or "")


def test_garbage_lines_name_the_line() -> None:
    with pytest.raises(VaultCorruptError, match=r"\.age-recipients:2"):
        parse_recipients_file(f"{ALICE}\nnot-a-recipient\n".encode(), source=".age-recipients")


@pytest.mark.parametrize("name", ["", "-x", "a\nb", "x" * 100])
def test_bad_member_names(name: str) -> None:
    with pytest.raises(UsageError):
        validate_member_name(name)
