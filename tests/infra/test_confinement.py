"""A warm server's child serves only a launcher confined exactly as it is (infra/confinement.py)."""

from __future__ import annotations

import os
import resource
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from secretctl.infra import confinement

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")

CONNECT = ("import socket, sys, time\n"
           "s = socket.socket(socket.AF_UNIX)\n"
           "s.connect(sys.argv[1])\n"
           "s.recv(1)\n")


def _verdict(tmp_path: Path, *wrapper: str, code: str = CONNECT) -> bool:
    """serve_here for a peer started under ``wrapper`` (setpriv, unshare, prlimit...); a peer
    running ``code`` instead says when it is ready with one byte."""
    path = str(tmp_path / "s")
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(path)
        listener.listen(1)
        peer = subprocess.Popen([*wrapper, sys.executable, "-c", code, path])
        conn, _ = listener.accept()
        with conn:
            if code != CONNECT:
                assert conn.recv(1) == b"r"
            try:
                return confinement.serve_here(conn)
            finally:
                conn.sendall(b"x")
                peer.wait(30)


def _in_child(tmp_path: Path, *wrapper: str, before: Callable[[], object] = lambda: None,
              report: Callable[[bool], str] = str, code: str = CONNECT) -> str:
    """``report`` of the verdict, computed in a forked child (adopting limits changes the process
    that asks; ``before`` runs there first)."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            before()
            os.write(write, report(_verdict(tmp_path, *wrapper, code=code)).encode())
        finally:
            os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    with os.fdopen(read, "rb") as fh:
        return fh.read().decode()


def test_a_launcher_confined_as_we_are_is_served(tmp_path: Path) -> None:
    assert _in_child(tmp_path) == "True"


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="needs setpriv")
def test_a_launcher_with_no_new_privs_is_not_served(tmp_path: Path) -> None:
    assert _in_child(tmp_path, "setpriv", "--no-new-privs") == "False"


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None, reason="needs root and unshare")
@pytest.mark.parametrize("flag", ["--net", "--uts", "--ipc"])
def test_a_launcher_in_another_namespace_is_not_served(tmp_path: Path, flag: str) -> None:
    assert _in_child(tmp_path, "unshare", flag) == "False"


@pytest.mark.skipif(shutil.which("prlimit") is None, reason="needs prlimit")
def test_a_launchers_lower_limits_are_adopted(tmp_path: Path) -> None:
    seen = _in_child(tmp_path, "prlimit", "--nofile=64:64",
                     report=lambda ok: f"{ok} {resource.getrlimit(resource.RLIMIT_NOFILE)}")
    assert seen == "True (64, 64)"


def test_a_stricter_limit_we_cannot_raise_is_kept(tmp_path: Path) -> None:
    """The warm process has no core files (RLIMIT_CORE 0, 0): a launcher allowing them is still
    served (lowering always works, so a looser limit of ours never stays)."""
    assert _in_child(tmp_path, before=lambda: resource.setrlimit(resource.RLIMIT_CORE, (0, 0))) == "True"


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to chroot")
def test_a_launcher_in_a_chroot_is_not_served(tmp_path: Path) -> None:
    """A chroot shares every namespace, credential and label with us, yet sees another tree
    (schroot, a jail whose bind mounts show the runtime folder): a fork would serve it ours.
    The peer connects first (from inside, the socket's path would be another's), then chroots."""
    jail = tmp_path / "jail"
    jail.mkdir()
    code = ("import os, socket, sys\n"
            "s = socket.socket(socket.AF_UNIX)\n"
            "s.connect(sys.argv[1])\n"
            f"os.chroot({str(jail)!r}); os.chdir('/')\n"
            "s.sendall(b'r')\n"
            "s.recv(1)\n")
    assert _in_child(tmp_path, code=code) == "False"
    # The control: the same peer without the chroot is served.
    (tmp_path / "s").unlink()
    assert _in_child(tmp_path, code=code.replace(f"os.chroot({str(jail)!r}); ", "")) == "True"


def _process_with_pid(pid: int, tries: int = 50) -> int | None:
    """A child of ours (unconfined, as we are) that sleeps under ``pid``: the kernel's next pid
    is set just below it (root; a hint other processes may race, so a few tries)."""
    for _ in range(tries):
        try:
            with open("/proc/sys/kernel/ns_last_pid", "w") as fh:
                fh.write(str(pid - 1))
        except OSError:  # a container's read-only /proc/sys
            return None
        child = os.fork()
        if child == 0:
            import time

            time.sleep(60)
            os._exit(0)
        if child == pid:
            return child
        os.kill(child, 9)
        os.waitpid(child, 0)
    return None


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None or not os.path.exists(
    "/proc/sys/kernel/ns_last_pid"), reason="needs root, setpriv and ns_last_pid to reuse a pid")
def test_a_launcher_whose_pid_another_process_took_is_not_served(tmp_path: Path) -> None:
    """The check reads /proc by the pid SO_PEERCRED gave at connect. A confined launcher can pass
    its connection on and exit; once reaped, its pid can go to an unconfined process of ours, and
    the check would read that one. Here the reuse is made certain (ns_last_pid)."""
    path = str(tmp_path / "s")
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(path)
        listener.listen(1)
        confined = subprocess.Popen(["setpriv", "--no-new-privs", sys.executable, "-c",
                                     "import socket, sys; socket.socket(socket.AF_UNIX).connect(sys.argv[1])", path])
        conn, _ = listener.accept()
        confined.wait(30)
        taker = _process_with_pid(confined.pid)
        if taker is None:
            pytest.skip("could not reuse the pid (another process kept taking it, or /proc/sys is read-only)")
        try:
            with conn:
                read, write = os.pipe()
                pid = os.fork()
                if pid == 0:  # adopting limits changes the process that asks
                    try:
                        os.write(write, str(confinement.serve_here(conn)).encode())
                    finally:
                        os._exit(0)
                os.close(write)
                os.waitpid(pid, 0)
                with os.fdopen(read, "rb") as fh:
                    verdict = fh.read().decode()
        finally:
            os.kill(taker, 9)
            os.waitpid(taker, 0)
    assert confinement.describe(str(os.getpid())) != ()  # the reads themselves work here
    assert verdict == "False"



def _our_cgroup(v1_controller: str | None) -> Path | None:
    """Our own folder in the cgroup2 hierarchy (None: on a hybrid system, the controller-less
    one) or in a cgroup v1 controller's hierarchy, if mounted."""
    mounts = []
    for ln in Path("/proc/self/mountinfo").read_text().splitlines():
        left, _, right = ln.partition(" - ")
        f, r = left.split(), right.split()
        wanted = r[0] == "cgroup2" if v1_controller is None else (
            r[0] == "cgroup" and v1_controller in r[-1].split(","))
        if wanted and f[3] == "/":
            mounts.append(f[4])
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, names, path = line.split(":", 2)
        if mounts and (names == "" if v1_controller is None else v1_controller in names.split(",")):
            return Path(mounts[0]) / path.lstrip("/")
    return None


@pytest.mark.skipif(os.geteuid() != 0 or not sys.platform.startswith("linux"), reason="needs root to make a cgroup")
@pytest.mark.parametrize(("hierarchy", "expected"), [(None, "True True"), ("pids", "False False")],
                         ids=["v2-joined", "v1-not-served"])
def test_a_launcher_in_another_cgroup_is_served_only_from_inside_it(tmp_path: Path, hierarchy: str | None,
                                                                    expected: str) -> None:
    """systemd's IPAddressDeny=, RestrictNetworkInterfaces=, SocketBindDeny= and DevicePolicy= are
    BPF programs on the unit's cgroup, with every namespace left as ours (`systemd-run -p
    IPAddressDeny=any secretctl mcp`): a fork left in the warm process's cgroup escapes them. The
    child joins the launcher's cgroup v2 (where BPF attaches); a launcher in another cgroup v1
    (one hierarchy per controller, older systems) is not served."""
    ours = _our_cgroup(hierarchy)
    if ours is None:
        pytest.skip(f"no {hierarchy or 'cgroup2'} hierarchy here")
    cg = ours / f"sc-test-{os.getpid()}"  # inside our own cgroup: nothing else is moved or limited
    try:
        cg.mkdir()
    except OSError as exc:  # a container's read-only cgroup file system
        pytest.skip(f"cannot make a cgroup here: {exc.strerror}")
    try:
        code = (f"open({str(cg / 'cgroup.procs')!r}, 'w').write(str(__import__('os').getpid()))\n"
                "import socket, sys\n"
                "s = socket.socket(socket.AF_UNIX)\n"
                "s.connect(sys.argv[1])\n"
                "s.sendall(b'r')\n"
                "s.recv(1)\n")
        seen = _in_child(tmp_path, code=code,
                         report=lambda ok: f"{ok} {'/' + cg.name in Path('/proc/self/cgroup').read_text()}")
    finally:
        for _ in range(100):  # the peer and the child have been reaped; the kernel may lag a moment
            try:
                cg.rmdir()
                break
            except OSError:
                import time

                time.sleep(0.05)
    assert seen == expected, seen  # served from inside the launcher's cgroup, or not at all
