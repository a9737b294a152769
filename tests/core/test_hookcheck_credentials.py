"""The pre-commit hook's credential detectors: line and kind, never the string."""

from __future__ import annotations

from secretctl.core.hookcheck import StagedFile, check_files, credential_findings

AWS_ID = "AKIAQ3EGUYKT7EXAMPLE"
AWS_SECRET = "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"


def test_finds_an_aws_pair_by_line() -> None:
    data = f"# notes\n\nid: {AWS_ID}\naws_secret_access_key = {AWS_SECRET}\n".encode()
    # The kinds come from the maintained detector set (core/redact/detectors): what a user needs
    # is the line of each half of the pair, and that the first is named as AWS.
    found = credential_findings(data)
    assert [line for line, _ in found] == [3, 4]
    assert "AWS" in found[0][1]


def test_prose_and_vault_files_are_quiet() -> None:
    assert credential_findings(b"# This is a secretctl vault\nage1qyqszqgpqyqszqgpqyqszqgpqyqszqgp\n") == []


def test_every_plaintext_file_is_scanned_and_the_value_never_shown() -> None:
    files = [StagedFile("README.md", "100644", f"key {AWS_ID}\n".encode()),
             StagedFile("notes.txt", "100644", f"\n\n{AWS_ID}\n".encode())]
    problems = [str(p) for p in check_files(files, recipients_for=lambda _: None)]
    assert "README.md: line 1: holds what looks like an AWS access key id" in problems[0]
    assert any(p.startswith("notes.txt: line 3:") for p in problems)
    assert any(p.startswith("notes.txt: not a vault file") for p in problems)
    assert not any(AWS_ID in p or AWS_ID[4:] in p for p in problems)
