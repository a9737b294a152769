"""infra/forked: a forked worker computes part of a batch; it never outlives the call, and its
failure fails the call. Each scenario runs in a fresh interpreter: a pytest-xdist worker runs
threads, and the module (rightly) refuses to fork a process with more than one thread."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import alive

REPO = Path(__file__).resolve().parents[2]


def _scenario(code: str, *, timeout: float = 30) -> dict[str, object]:
    """Run ``code`` (which prints one JSON line) in a fresh python with the package importable."""
    prelude = (
        "import hashlib, json, os, signal, sys, threading, time\n"
        "from secretctl.infra import forked\n"
        "def digest(x):\n"
        "    if x[0] == 7:\n"
        "        raise ValueError('the parent computes this one')\n"
        "    return hashlib.sha256(x).digest()\n"
        "items = [bytes([i % 256]) + os.urandom(40) for i in range(300)]\n"
    )
    proc = subprocess.run([sys.executable, "-c", prelude + code], capture_output=True, cwd=REPO, timeout=timeout,
                          check=False)
    assert proc.returncode == 0, proc.stderr.decode()
    return dict(json.loads(proc.stdout.decode().splitlines()[-1]))


def test_the_worker_computes_the_second_part_and_hands_back_what_it_could_not() -> None:
    out = _scenario(
        "with forked.Spread(digest, items) as s:\n"
        "    theirs = s.results()\n"
        "    forked_ = s.forked\n"
        "want = [None if x[0] == 7 else hashlib.sha256(x).digest().hex() for x in items[s.split:]]\n"
        "print(json.dumps({'split': s.split, 'forked': forked_, 'same': [t and t.hex() for t in theirs] == want}))\n")
    assert out == {"split": 150, "forked": True, "same": True}


def test_small_batches_and_threaded_processes_stay_in_process() -> None:
    out = _scenario(
        "small = forked.Spread(digest, items[:100])\n"
        "gate = threading.Event()\n"
        "t = threading.Thread(target=gate.wait); t.start()\n"
        "threaded = forked.Spread(digest, items)\n"
        "gate.set(); t.join()\n"
        "print(json.dumps({'small': [small.forked, small.split, small.results()],\n"
        "                  'threaded': [threaded.forked, threaded.split, threaded.results()]}))\n")
    assert out == {"small": [False, 100, []], "threaded": [False, 300, []]}


def test_a_fork_or_a_thread_refused_leaves_the_whole_batch_to_the_caller() -> None:
    out = _scenario(
        "def refuse(*args):\n"
        "    raise OSError(11, 'Resource temporarily unavailable')\n"
        "real_fork = os.fork\n"
        "os.fork = refuse\n"
        "no_fork = forked.Spread(digest, items)\n"
        "os.fork = real_fork\n"
        "real_start = threading.Thread.start\n"
        "def no_thread(self):\n"
        "    raise RuntimeError(\"can't start new thread\")\n"
        "threading.Thread.start = no_thread\n"
        "no_thread_ = forked.Spread(digest, items)\n"
        "threading.Thread.start = real_start\n"
        "pid = no_thread_._pid\n"
        "print(json.dumps({'fork': [no_fork.forked, no_fork.split, no_fork.results()],\n"
        "                  'thread': [no_thread_.forked, no_thread_.split, no_thread_.results(), pid]}))\n")
    assert out == {"fork": [False, 300, []], "thread": [False, 300, [], 0]}


def test_a_worker_that_dies_fails_the_call() -> None:
    out = _scenario(
        "def dies(x):\n"
        "    if x is items[200]:\n"
        "        os.kill(os.getpid(), signal.SIGKILL)\n"
        "    return x\n"
        "try:\n"
        "    with forked.Spread(dies, items) as s:\n"
        "        s.results()\n"
        "    print(json.dumps({'raised': None}))\n"
        "except forked.WorkerFailed as e:\n"
        "    print(json.dumps({'raised': e.message}))\n")
    assert "ended abnormally" in str(out["raised"]) and "nothing was written" in str(out["raised"])


def test_an_error_in_the_caller_kills_and_reaps_the_worker_at_once() -> None:
    out = _scenario(
        "def slow(x):\n"
        "    time.sleep(0.02)\n"  # 150 items: 3 s of work left when the caller fails
        "    return x\n"
        "start = time.monotonic()\n"
        "try:\n"
        "    with forked.Spread(slow, items) as s:\n"
        "        pid = s._pid\n"
        "        raise RuntimeError('the caller failed')\n"
        "except RuntimeError:\n"
        "    pass\n"
        "gone = not os.path.exists(f'/proc/{pid}')\n"
        "print(json.dumps({'pid': pid, 'gone': gone, 'took': time.monotonic() - start}))\n")
    assert out["pid"] and out["gone"]
    assert float(str(out["took"])) < 1


def test_the_worker_holds_no_descriptor_of_the_caller_but_its_pipe() -> None:
    # The vault lock is a descriptor: a worker keeping it would hold the vault after the command.
    out = _scenario(
        "held = os.open(sys.executable, os.O_RDONLY)\n"
        "def slow(x):\n"
        "    time.sleep(0.002)\n"
        "    return x\n"
        "with forked.Spread(slow, items) as s:\n"
        "    time.sleep(0.15)\n"
        "    fds = sorted(int(f) for f in os.listdir(f'/proc/{s._pid}/fd'))\n"
        "    s.results()\n"
        "print(json.dumps({'held': held, 'fds': fds}))\n")
    fds = list(out["fds"])  # type: ignore[call-overload]  # a JSON list
    assert out["held"] not in fds
    assert len(fds) == 4 and fds[:3] == [0, 1, 2]  # stdio and the pipe's writing end


_WORKER = ("def slow(x):\n"
           "    time.sleep(0.05)\n"  # 150 items: 7.5 s of work
           "    return x\n"
           "s = forked.Spread(slow, [os.urandom(8) for _ in range(300)])\n"
           "print(s._pid, flush=True)\n")
_STREAM = ("def produce():\n"
           "    time.sleep(30)\n"
           "    yield b'late'\n"
           "s = forked.Stream(produce)\n"
           "print(s.pid, flush=True)\n")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
@pytest.mark.parametrize("child", [_WORKER, _STREAM], ids=["worker", "stream"])
def test_a_killed_caller_takes_its_child_with_it(child: str) -> None:
    code = "import os, sys, time\nfrom secretctl.infra import forked\n" + child + "time.sleep(60)\n"
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, cwd=REPO)
    assert proc.stdout is not None
    pid = int(proc.stdout.readline())
    time.sleep(0.3)  # a worker is past its start-up check of the parent, mid-way between writes
    assert alive(pid)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 0.5  # a worker's own check of the pipe would take up to 0.8 s here
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not alive(pid)


def test_encryption_for_an_age_plugin_never_forks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A plugin is a program of its own: a worker would start it, and could leave it behind.
    from secretctl.core.recipients import RecipientsFile, parse_recipient
    from secretctl.infra import forked
    from secretctl.service.writing import _ConvertedRecipients

    plugin = tmp_path / "age-plugin-yubikey"  # found on PATH is all pyrage asks before encrypting
    plugin.write_text("#!/bin/sh\nexit 1\n")
    plugin.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    native = _ConvertedRecipients()
    native.get("", RecipientsFile((parse_recipient(
        "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p", source="t"),)))
    assert native.min_items() == forked.MIN_ITEMS
    with_plugin = _ConvertedRecipients()
    with_plugin.get("", RecipientsFile((parse_recipient(
        "age1yubikey1qwt50d05nh5vutpdzmlg5wn80xq5negm4uj9ghv0snvdd3yysf5yw3rhl3t", source="t"),)))
    assert with_plugin.min_items() == forked.NEVER


def test_a_preload_still_importing_is_waited_for_before_the_fork(tmp_path: Path) -> None:
    """`member add` imports cryptography on a thread (infra/preload) while git runs; the fork
    must wait for it (a thread importing while the process forks leaves its import lock held in
    the child), not give up the second core because a thread is running."""
    (tmp_path / "slowmod.py").write_text("import time\ntime.sleep(0.5)\nLOADED = True\n")
    out = _scenario(
        f"sys.path.insert(0, {str(tmp_path)!r})\n"
        "from secretctl.infra import preload\n"
        "preload.start('slowmod', 'no_such_module_here')\n"
        "with forked.Spread(digest, items) as s:\n"
        "    s.results()\n"
        "print(json.dumps({'forked': s.forked, 'threads': threading.active_count(),\n"
        "                  'loaded': sys.modules['slowmod'].LOADED}))\n")
    assert out == {"forked": True, "threads": 1, "loaded": True}


# --------------------------------------------------------------------------- Stream
# A child producing pieces on its own (the MCP server's head start on its first all-values build).

def test_a_stream_hands_back_each_piece_in_order_then_none_and_reaps_its_child() -> None:
    out = _scenario(
        "def produce():\n"
        "    for i in range(5):\n"
        "        yield bytes([i]) * (100_000 * i)\n"  # past a pipe's buffer: read while written
        "s = forked.Stream(produce)\n"
        "pid = s.pid\n"
        "got = []\n"
        "while (p := s.next()) is not None:\n"
        "    got.append([len(p), sorted(set(p))])\n"
        "print(json.dumps({'forked': s.forked, 'got': got, 'reaped': s.pid == 0,\n"
        "                  'gone': not os.path.exists(f'/proc/{pid}')}))\n")
    assert out == {"forked": True, "got": [[0, []], [100_000, [1]], [200_000, [2]], [300_000, [3]], [400_000, [4]]],
                   "reaped": True, "gone": True}


def test_a_stream_whose_child_fails_ends_after_the_pieces_it_sent() -> None:
    out = _scenario(
        "def produce():\n"
        "    yield b'first'\n"
        "    raise ValueError('the caller computes the rest')\n"
        "def killed():\n"
        "    yield b'first'\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
        "    yield b'never'\n"
        "got = {}\n"
        "for name, fn in (('raised', produce), ('killed', killed)):\n"
        "    s = forked.Stream(fn)\n"
        "    got[name] = [s.next().decode(), s.next(), s.next(), s.pid]\n"
        "print(json.dumps(got))\n")
    assert out == {"raised": ["first", None, None, 0], "killed": ["first", None, None, 0]}


def test_a_stream_in_a_threaded_process_does_not_fork() -> None:
    out = _scenario(
        "gate = threading.Event()\n"
        "t = threading.Thread(target=gate.wait); t.start()\n"
        "s = forked.Stream(lambda: iter([b'x']))\n"
        "gate.set(); t.join()\n"
        "print(json.dumps({'forked': s.forked, 'next': s.next(), 'pid': s.pid}))\n")
    assert out == {"forked": False, "next": None, "pid": 0}


def test_a_stream_child_holds_no_descriptor_of_the_caller_and_never_outlives_its_lifetime() -> None:
    # Its pieces are plaintext: a caller that never reads them must not leave it waiting for ever.
    out = _scenario(
        "forked.STREAM_LIFETIME = 1\n"
        "held = os.open(sys.executable, os.O_RDONLY)\n"
        "s = forked.Stream(lambda: iter([b'x' * 1_000_000]))\n"  # blocks on the full pipe
        "time.sleep(0.3)\n"
        "fds = sorted(int(f) for f in os.listdir(f'/proc/{s.pid}/fd'))\n"
        "std = [os.readlink(f'/proc/{s.pid}/fd/{n}') for n in (0, 1, 2)]\n"
        "time.sleep(1.5)\n"
        "with open(f'/proc/{s.pid}/stat') as fh:\n"
        "    state = fh.read().rsplit(')', 1)[1].split()[0]\n"  # Z: ended, not yet reaped
        "s.close()\n"
        "print(json.dumps({'held': held, 'fds': fds, 'std': std, 'state': state}))\n")
    fds = list(out["fds"])  # type: ignore[call-overload]  # a JSON list
    assert out["held"] not in fds
    assert len(fds) == 4 and fds[:3] == [0, 1, 2]
    # In the MCP server, fd 1 is the JSON-RPC stream: nothing of the child may reach it.
    assert out["std"] == [os.devnull] * 3
    assert out["state"] == "Z"


@pytest.mark.parametrize("setup", ["signal.signal(signal.SIGALRM, signal.SIG_IGN)",
                                   "signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})"])
def test_a_stream_child_ends_within_its_lifetime_whatever_sigalrm_it_inherits(setup: str) -> None:
    """A launcher's `trap '' ALRM` is inherited across exec: the bound must not depend on it."""
    out = _scenario(
        "import signal\n"
        f"{setup}\n"
        "forked.STREAM_LIFETIME = 1\n"
        "s = forked.Stream(lambda: iter([b'x' * 1_000_000]))\n"  # blocks on the full pipe
        "time.sleep(2.0)\n"
        "with open(f'/proc/{s.pid}/stat') as fh:\n"
        "    state = fh.read().rsplit(')', 1)[1].split()[0]\n"
        "s.close()\n"
        "print(json.dumps({'state': state}))\n")
    assert out == {"state": "Z"}


def test_a_stream_child_runs_below_its_parent() -> None:
    # A head start: the parent's own work (the MCP server's first answer) goes first on a busy machine.
    out = _scenario(
        "def produce():\n"
        "    yield str(os.getpriority(os.PRIO_PROCESS, 0)).encode()\n"
        "s = forked.Stream(produce)\n"
        "print(json.dumps({'parent': os.getpriority(os.PRIO_PROCESS, 0), 'child': int(s.next())}))\n")
    assert out["child"] == min(19, int(str(out["parent"])) + 10)
