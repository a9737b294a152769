"""The MCP server's first all-values build of a big vault takes a forked head start
(allvalues.start_feed): a child reads and decrypts every value while the server imports the SDK.
The build then reads nothing itself but what the child could not read, redacts exactly what the
plain build redacts, and leaves no child behind; through the unlock agent the child talks on a
connection of its own, and the server's connection keeps working.

Each scenario runs in a fresh interpreter: a pytest-xdist worker runs threads, and a process with
more than one thread (rightly) never forks its collector."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from secretctl.core.secret import Secret
from secretctl.service.results import FieldInput, SetRequest
from secretctl.service.vault import Vault

REPO = Path(__file__).resolve().parents[2]
SECRETCTL = str(Path(sys.executable).parent / "secretctl")

SCENARIO = """
import base64, json, os, sys
from pathlib import Path
from secretctl.service import allvalues, settings
from secretctl.service.reading import Reading
from secretctl.service.vault import Vault

allvalues.FEED_MIN, allvalues.PIPELINE_MIN, allvalues.FRAGMENTS_ALL_MAX = 10, 20, 10
root, ident, use_agent, values = sys.argv[1], sys.argv[2], sys.argv[3] == "1", json.loads(sys.argv[4])

def vault():
    return Vault(Path(root), identity_path=Path(ident), password=lambda: "", actor="alice",
                 agent_socket=settings.agent_socket_path() if use_agent else None)

parent = os.getpid()
asked = []
real = Reading.redaction_values_many
def spy(self, keys):
    if os.getpid() == parent:
        asked.extend(keys)
    return real(self, keys)
Reading.redaction_values_many = spy

v = vault()
ident_before = repr(v.unlock())
cache = allvalues.ValuesCache()
cache.feed = allvalues.start_feed(v)
child = cache.feed.stream.pid if cache.feed else 0
if cache.feed:
    cache.feed.serving.set()  # what the server does once it serves: else the build waits out its gate
fed = allvalues.values_redactor(v, cache=cache)
asked_fed, asked[:] = list(asked), []
plain = allvalues.values_redactor(vault())
out = b"\\n".join(b"x " + x.encode() + b" " + base64.b64encode(x.encode()) + b" " + x.encode().hex().encode()
                 for x in values.values())
v.check_unlocked()  # the server's own agent connection still answers
print(json.dumps({"child": child, "gone": child == 0 or not os.path.exists(f"/proc/{child}"),
                  "asked": asked_fed, "same": fed.redact(out) == plain.redact(out),
                  "redacted": all(x.encode() not in fed.redact(out) for x in values.values()),
                  "agent": ident_before.startswith("AgentIdentity"), "cached": sorted(cache.by_key) == sorted(
                      k.split(":")[0] for k in values) or sorted(cache.by_key)}))
"""


@pytest.fixture
def stocked(inproc: Vault) -> dict[str, str]:
    values = {f"svc{i % 5}/key{i}": os.urandom(16).hex() for i in range(39)}
    inproc.import_entries([(k, Secret(v.encode())) for k, v in values.items()])
    inproc.set("db/main", SetRequest(fields=[FieldInput("host", Secret(b"db.internal.example"), sensitive=False),
                                             FieldInput("password", Secret(b"pw-Feed-Field-5521"))]))
    values["db/main:password"] = "pw-Feed-Field-5521"
    return values


def _scenario(vault: Vault, values: dict[str, str], *, agent: bool = False) -> dict[str, object]:
    proc = subprocess.run([sys.executable, "-c", SCENARIO, str(vault.root), str(vault.identity_path),
                           "1" if agent else "0", json.dumps(values)], capture_output=True, cwd=REPO, timeout=60,
                          check=False)
    assert proc.returncode == 0, proc.stderr.decode()
    return dict(json.loads(proc.stdout.decode().splitlines()[-1]))


def test_the_first_build_reads_nothing_itself_and_redacts_what_the_plain_build_does(
        inproc: Vault, stocked: dict[str, str]) -> None:
    out = _scenario(inproc, stocked)
    assert out["child"] and out["gone"]
    assert out["asked"] == []
    assert out["same"] and out["redacted"] and out["cached"] is True


def test_a_key_the_child_cannot_read_is_read_by_the_build_with_the_plain_builds_outcome(
        inproc: Vault, stocked: dict[str, str]) -> None:
    # A damaged file (at rest, no journal): the child skips it, the build reads it and skips it too.
    (inproc.root / "svc1/key6.age").write_bytes(b"age-encryption.org/v1\n-> X25519 broken\n")
    del stocked["svc1/key6"]
    out = _scenario(inproc, stocked)
    assert out["child"] and out["gone"]
    assert out["asked"] == ["svc1/key6"]
    assert out["same"] and out["redacted"]


def test_through_the_unlock_agent_the_child_uses_its_own_connection(inproc: Vault, stocked: dict[str, str]) -> None:
    env = dict(os.environ)
    unlock = subprocess.run([SECRETCTL, "unlock", "--no-warm", "--timeout", "2m"], env=env, capture_output=True,
                            timeout=60, check=False)
    assert unlock.returncode == 0, unlock.stderr.decode()
    try:
        out = _scenario(inproc, stocked, agent=True)
    finally:
        subprocess.run([SECRETCTL, "lock"], env=env, capture_output=True, timeout=60, check=False)
    assert out["agent"] is True
    assert out["child"] and out["gone"]
    assert out["asked"] == []
    assert out["same"] and out["redacted"]
