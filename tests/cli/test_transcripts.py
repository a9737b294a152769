"""Golden CLI transcripts: what a person sees for the everyday commands and their errors, byte
for byte (paths and times normalized). A change to any of these lines is a change to the product:
review the diff, then regenerate with SECRETCTL_UPDATE_GOLDEN=1."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.conftest import Member

GOLDEN = Path(__file__).parent / "golden"

SESSIONS = {
    "everyday": [
        (["set", "db/pass"], b"correct-horse-battery"),
        (["set", "app/token", "--tags", "ci"], b"tok-0123456789abcdef"),
        (["list"], None),
        (["get", "db/pass", "--masked"], None),
        (["exists", "db/pass"], None),
        (["mv", "db/pass", "db/main"], None),
        (["list", "db/*"], None),
        (["delete", "app/token", "-y"], None),
        (["list"], None),
    ],
    "errors": [
        (["get", "nope"], None),
        (["get", "../etc/passwd"], None),
        (["get", "a//b"], None),
        (["set", ".hidden"], b"x"),
        (["list", "--expiring", "soon"], None),
        (["mv", "nope", "other"], None),
    ],
}


def _normalize(text: str, member: Member, vault: Path) -> str:
    text = text.replace(str(vault), "<VAULT>").replace(str(member.home), "<HOME>")
    text = re.sub(r"\b[0-9a-f]{7,40}\b", "<SHA>", text)
    return re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", "<TIME>", text)


def _transcript(member: Member, vault: Path, steps: list[tuple[list[str], bytes | None]]) -> str:
    out = []
    for args, stdin in steps:
        proc = member.run(*args, input=stdin, check=False)
        out.append(f"$ secretctl {' '.join(args)}\n[exit {proc.returncode}]\n")
        for name, data in (("stdout", proc.stdout), ("stderr", proc.stderr)):
            for line in data.decode(errors="replace").splitlines():
                out.append(f"{name}| {line}\n")
    return _normalize("".join(out), member, vault)


@pytest.mark.parametrize("name", sorted(SESSIONS))
def test_transcript(name: str, alice: Member, vault_dir: Path) -> None:
    got = _transcript(alice, vault_dir, SESSIONS[name])
    path = GOLDEN / f"{name}.txt"
    if os.environ.get("SECRETCTL_UPDATE_GOLDEN") == "1":
        path.write_text(got)
    assert got == path.read_text(), f"transcript {name} changed; review, then SECRETCTL_UPDATE_GOLDEN=1"
