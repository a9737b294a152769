"""What confines a process, so a warm server's child serves only a launcher confined as it is.

A child forked by the warm server has the warm process's confinement, set where `unlock` ran: its
namespaces, seccomp filter, no_new_privs flag, LSM label, credentials and resource limits. A
launcher started somewhere narrower (a container or devcontainer that can still see the runtime
folder, `systemd-run -p PrivateNetwork=yes -p NoNewPrivileges=yes`, firejail, `setpriv`) would
get a server outside its confinement (as would a launcher in a chroot, whose namespaces are ours).
So the child reads the launcher's from /proc (the pid from
SO_PEERCRED, in the warm process's pid namespace: 0 for a launcher it cannot see) and serves only
an exact match; resource limits it adopts where it can (lowering always can), and the launcher's
cgroup it joins where it may. On any doubt the launcher runs the server itself, as without a warm
server.

Linux only: elsewhere nothing is compared, so the warm server refuses (macOS serves cold).
"""

from __future__ import annotations

import os
import socket
import sys

from secretctl.infra import agentsock

# Every namespace a process can be put in; a difference in any is a different world.
NAMESPACES = ("cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts")
# /proc/PID/status lines that say what a process may do: credentials, capabilities, filters.
STATUS_FIELDS = ("Uid:", "Gid:", "Groups:", "NoNewPrivs:", "Seccomp:", "Seccomp_filters:", "CapInh:",
                 "CapPrm:", "CapEff:", "CapBnd:", "CapAmb:")


def describe(pid: str) -> tuple[str, ...]:
    """Everything compared, for ``pid`` ("self" or a number). Raises OSError where /proc will not
    say (another user's process, a process that has gone)."""
    proc = f"/proc/{pid}"
    out = []
    for ns in NAMESPACES:
        try:
            out.append(os.readlink(f"{proc}/ns/{ns}"))
        except FileNotFoundError:
            out.append(f"{ns}:none")  # a kernel without this namespace type: the same for both
    with open(f"{proc}/status", encoding="utf-8", errors="replace") as fh:
        out += [line.rstrip("\n") for line in fh if line.startswith(STATUS_FIELDS)]
    # The root directory: a chroot (schroot, a jail whose bind mounts show the runtime folder)
    # shares every namespace and credential, yet sees another tree; a fork would serve it ours.
    root = os.stat(f"{proc}/root")
    out.append(f"root:{root.st_dev}:{root.st_ino}")
    try:
        with open(f"{proc}/attr/current", "rb") as fh:
            out.append(fh.read().decode("utf-8", "replace"))
    except OSError:
        out.append("lsm:unreadable")
    return tuple(out)


def adopt_limits(pid: int) -> bool:
    """Take every resource limit of ``pid``. One this process cannot raise to theirs is kept if
    it is stricter (the warm process has no core files: RLIMIT_CORE 0); False if any of ours
    would stay looser than theirs."""
    import resource

    def looser(ours: tuple[int, int], theirs: tuple[int, int]) -> bool:
        inf = resource.RLIM_INFINITY
        return any(o != t and (o == inf or (t != inf and o > t)) for o, t in zip(ours, theirs, strict=True))

    for name in sorted(n for n in dir(resource) if n.startswith("RLIMIT_")):
        which = getattr(resource, name)
        try:
            theirs = resource.prlimit(pid, which)
            ours = resource.getrlimit(which)
        except (OSError, ValueError):
            return False
        if theirs == ours:
            continue
        try:
            resource.setrlimit(which, theirs)
        except (OSError, ValueError):
            if looser(ours, theirs):
                return False
    return True


def _cgroups(pid: str) -> str:
    with open(f"/proc/{pid}/cgroup", encoding="utf-8", errors="replace") as fh:
        return fh.read()


def _cgroup2_mount() -> str | None:
    """Where the cgroup2 hierarchy is mounted whole (its root at the mount point), if it is."""
    with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as fh:
        for line in fh:
            left, _, right = line.partition(" - ")
            fields = left.split()
            if right.split()[:1] == ["cgroup2"] and len(fields) > 4 and fields[3] == "/":
                return fields[4].replace("\\040", " ")
    return None


def join_cgroup(pid: int) -> bool:
    """Be in the cgroup of ``pid``: already, or by moving there. A cgroup carries more than
    accounting: systemd's IPAddressDeny=, RestrictNetworkInterfaces=, SocketBindDeny= and
    DevicePolicy= are BPF programs attached to the unit's cgroup, so a fork left in the warm
    process's cgroup would escape them (BPF attaches to cgroup v2 only). The move is in the v2
    hierarchy, where write access is what systemd delegates (a user's own units and scopes); a
    difference in a v1 hierarchy (one per controller, on older systems) is not moved: False, cold."""
    theirs, ours = _cgroups(str(pid)), _cgroups("self")
    if theirs == ours:
        return True
    v2 = [line for line in theirs.splitlines() if line.startswith("0::/")]

    def v1(text: str) -> list[str]:
        return [line for line in text.splitlines() if not line.startswith("0::")]

    if len(v2) != 1 or v1(theirs) != v1(ours):
        return False  # a cgroup v1 hierarchy differs (one per controller): not moved here
    mount = _cgroup2_mount()
    if mount is None:
        return False
    try:
        with open(os.path.join(mount, v2[0][4:], "cgroup.procs"), "w", encoding="ascii") as fh:
            fh.write(str(os.getpid()))
    except OSError:
        return False
    return _cgroups("self") == theirs


def serve_here(sock: socket.socket) -> bool:
    """Whether the launcher at the other end of ``sock`` is confined exactly as this process is
    (its resource limits adopted on the way). Call it in the forked child, before adopting
    anything else of the launcher's."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        pidfd = agentsock.peer_pidfd(sock)
    except OSError:
        return False  # the launcher has gone (its pid may be another process's by now)
    try:
        pid = agentsock.peer_pid(sock)
        if pid <= 0 or describe(str(pid)) != describe("self") or not join_cgroup(pid) or not adopt_limits(pid):
            return False
        # Everything above was read by pid. While the launcher still runs its pid is its own, so
        # a live pidfd now means the reads were of the launcher, not of a process that took its
        # pid after it exited (a confined launcher that passed its connection on, then left).
        return pidfd is None or not _exited(pidfd)
    except OSError:
        return False
    finally:
        if pidfd is not None:
            os.close(pidfd)


def _exited(pidfd: int) -> bool:
    import select

    return bool(select.select([pidfd], [], [], 0)[0])  # a pidfd polls readable once its process exits
