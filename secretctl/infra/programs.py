"""Finding the program an agent asked for, judging what it really is, and holding exactly
the bytes that were judged.

- The program is looked up through the policy's PATH, never the caller's.
- Its file and every directory above it are opened one by one (``openat`` with
  ``O_NOFOLLOW``), so the trust verdict is about the very objects that are read: a file is
  *trusted* when it and every directory above it are owned by root and writable by nobody
  else (a sticky directory such as /tmp may be world-writable: others cannot replace a
  root-owned entry in it).
- The opened file is read once into a sealed memfd while it is hashed. The sandbox runs a
  copy of that memfd (``bwrap --ro-bind-data``), so nothing can swap the program between the
  check and the exec.
- Its identity, for the policy, is judged by what it runs: the inode of a known exec-capable
  program (symlinks, hard links), its content (renamed copies; for ELF files also the
  content up to the ELF's own end, so bytes appended to a copy change nothing), or its name.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import stat
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from secretctl.core import programs as known
from secretctl.errors import RunError

DEFAULT_PATH = ("/usr/local/bin", "/usr/bin", "/bin")
# Where exec-capable programs are looked for when building the identification index.
SYSTEM_BIN_DIRS = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")
MAX_PROGRAM_BYTES = 512 * 1024 * 1024
_READ = 1 << 20


class CommandNotFound(RunError):
    exit_code = 127


class CommandNotExecutable(RunError):
    exit_code = 126


class OpenedProgram:
    """A program found, judged and held: ``fd`` is a sealed memfd with exactly the bytes whose
    hash is ``sha256``. Close it when the run is over."""

    def __init__(self, *, given: str, path: str, realpath: str, sha256: str, size: int, trusted: bool,
                 identity: str | None, fd: int) -> None:
        self.given = given
        self.path = path  # where it was found (may be a symlink)
        self.realpath = realpath  # the file that runs
        self.sha256 = sha256
        self.size = size
        self.trusted = trusted
        self.identity = identity  # the exec-capable (or environment-printing) program it really is
        self.fd = fd

    @property
    def name(self) -> str:
        return os.path.basename(self.realpath)

    def close(self) -> None:
        if self.fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> OpenedProgram:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"OpenedProgram({self.given!r} -> {self.realpath!r}, trusted={self.trusted}, is={self.identity!r})"


def find(name: str, search: Sequence[str], cwd: Path) -> str:
    """The path the OS would run for ``name`` with PATH = ``search`` (a name with a slash is a path)."""
    if not name or "\0" in name:
        raise CommandNotFound("empty command" if not name else "command name holds a NUL byte")
    if "/" in name:
        candidate = Path(name) if os.path.isabs(name) else cwd / name
        if candidate.exists():
            return str(candidate.absolute())
    else:
        for d in search:
            c = os.path.join(d, name)
            if os.path.isfile(c) and os.access(c, os.X_OK):
                return c
    raise CommandNotFound(f"command not found: {name}",
                          hint="the policy's path: decides where commands are looked up")


def open_program(name: str, search: Sequence[str], cwd: Path) -> OpenedProgram:
    """Find, open once, judge and copy ``name``. Raises CommandNotFound / CommandNotExecutable."""
    found = find(name, search, cwd)
    real = os.path.realpath(found)
    fd, trusted = _open_walk(real, name)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or not st.st_mode & 0o111:
            raise CommandNotExecutable(f"command not executable: {name}", hint="check its permissions")
        if st.st_size > MAX_PROGRAM_BYTES:
            raise CommandNotExecutable(f"command too large to run under the sandbox: {name}")
        trusted = trusted and _trusted(st)
        digest, size, memfd, head = _copy_to_memfd(fd, name)
    finally:
        os.close(fd)
    try:
        identity = identify(real, (st.st_dev, st.st_ino), size, digest, memfd=memfd, head=head, search=search)
    except BaseException:
        os.close(memfd)
        raise
    return OpenedProgram(given=name, path=found, realpath=real, sha256=digest, size=size, trusted=trusted,
                         identity=identity, fd=memfd)


def _open_walk(real: str, name: str) -> tuple[int, bool]:
    """Open ``real`` (symlink-free, absolute) one component at a time, never following a link,
    judging each directory on the way. Returns (fd, every directory trusted)."""
    parts = [p for p in real.split("/") if p]
    if not parts:
        raise CommandNotExecutable(f"command not executable: {name}")
    try:
        dirfd = os.open("/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise RunError(f"could not open /: {exc.strerror}") from None
    trusted = True
    try:
        for part in parts[:-1]:
            trusted = trusted and _trusted(os.fstat(dirfd))
            nxt = os.open(part, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dirfd)
            os.close(dirfd)
            dirfd = nxt
        trusted = trusted and _trusted(os.fstat(dirfd))
        fd = os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, dir_fd=dirfd)
    except FileNotFoundError:
        raise CommandNotFound(f"command not found: {name}") from None
    except OSError as exc:
        # ELOOP/ENOTDIR: a component turned into a symlink after realpath (a swap in progress).
        raise CommandNotExecutable(f"command not executable: {name} ({exc.strerror})") from None
    finally:
        os.close(dirfd)
    return fd, trusted


def _trusted(st: os.stat_result) -> bool:
    """Owned by root and writable by no one else (a sticky directory protects root's entries)."""
    if st.st_uid != 0:
        return False
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return stat.S_ISDIR(st.st_mode) and bool(st.st_mode & stat.S_ISVTX)
    return True


def _copy_to_memfd(fd: int, name: str) -> tuple[str, int, int, bytes]:
    """Copy the open file into a sealed memfd, hashing what is copied. Returns
    (sha256, size, memfd positioned at 0, first 64 bytes)."""
    try:
        memfd = os.memfd_create("secretctl-program", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    except (AttributeError, OSError) as exc:
        raise RunError(f"could not hold {name} for the sandbox: {getattr(exc, 'strerror', exc)}") from None
    h = hashlib.sha256()
    size = 0
    head = b""
    try:
        while True:
            block = os.read(fd, _READ)
            if not block:
                break
            if size < 64:
                head += block[: 64 - size]
            size += len(block)
            if size > MAX_PROGRAM_BYTES:
                raise CommandNotExecutable(f"command too large to run under the sandbox: {name}")
            h.update(block)
            view = memoryview(block)
            while view:
                view = view[os.write(memfd, view):]
        fcntl.fcntl(memfd, fcntl.F_ADD_SEALS,
                    fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE | fcntl.F_SEAL_SEAL)
        os.lseek(memfd, 0, os.SEEK_SET)
    except BaseException:
        os.close(memfd)
        raise
    return h.hexdigest(), size, memfd, head


# ------------------------------------------------------------------ identification
@dataclass(frozen=True)
class _Known:
    name: str
    realpath: str
    size: int


class _Index:
    """Exec-capable programs installed on this system: by inode and by size (hashes on demand)."""

    def __init__(self, dirs: Sequence[str]) -> None:
        self.dirs = tuple(dict.fromkeys(dirs))
        self.stamp = _stamp(self.dirs)
        self.by_inode: dict[tuple[int, int], str] = {}
        self.by_size: dict[int, list[_Known]] = {}
        self._sha: dict[str, str] = {}
        names = sorted(known.EXEC_CAPABLE | known.ENV_PRINTERS)
        for d in self.dirs:
            for n in names:
                self._add(os.path.join(d, n), n)
            with contextlib.suppress(OSError):
                for entry in os.scandir(d):  # versioned names: python3.11, perl5.36.0
                    if entry.name not in known.KIND_OF and known.kind_of(entry.name) is not None:
                        self._add(entry.path, entry.name)

    def _add(self, path: str, name: str) -> None:
        try:
            real = os.path.realpath(path)
            st = os.stat(real)
        except OSError:
            return
        if not stat.S_ISREG(st.st_mode):
            return
        key = (st.st_dev, st.st_ino)
        if key in self.by_inode:
            return
        # A link farm (busybox) names one file many times: the file's own name wins if listed.
        base = os.path.basename(real)
        self.by_inode[key] = base if (known.kind_of(base) or base in known.ENV_PRINTERS) else name
        self.by_size.setdefault(st.st_size, []).append(_Known(self.by_inode[key], real, st.st_size))

    def sha256(self, k: _Known, length: int | None = None) -> str | None:
        cache_key = k.realpath if length is None else f"{k.realpath}\0{length}"
        if cache_key not in self._sha:
            try:
                self._sha[cache_key] = _hash_file(k.realpath, length)
            except OSError:
                return None
        return self._sha[cache_key]


_INDEXES: dict[tuple[str, ...], _Index] = {}


def _stamp(dirs: Iterable[str]) -> tuple[float, ...]:
    out = []
    for d in dirs:
        try:
            out.append(os.stat(d).st_mtime)
        except OSError:
            out.append(-1.0)
    return tuple(out)


def index_for(search: Sequence[str]) -> _Index:
    dirs = tuple(dict.fromkeys([*SYSTEM_BIN_DIRS, *search]))
    idx = _INDEXES.get(dirs)
    if idx is None or idx.stamp != _stamp(dirs):
        idx = _INDEXES[dirs] = _Index(dirs)
    return idx


def identify(real: str, inode: tuple[int, int], size: int, digest: str, *, memfd: int, head: bytes,
             search: Sequence[str] = DEFAULT_PATH) -> str | None:
    """The exec-capable or environment-printing program this file is, or None.

    Inode first (symlinks and hard links), then content (a renamed copy; an ELF copy with bytes
    appended), then the file's own name."""
    idx = index_for(search)
    if inode in idx.by_inode:
        return idx.by_inode[inode]
    for k in idx.by_size.get(size, []):
        if idx.sha256(k) == digest:
            return k.name
    extent = elf_extent(head, memfd)
    if extent is not None and extent < size:
        prefix = _hash_fd(memfd, extent)
        for k in idx.by_size.get(extent, []):
            if idx.sha256(k) == prefix:
                return k.name
    base = os.path.basename(real)
    if known.kind_of(base) is not None or base in known.ENV_PRINTERS:
        return base
    return None


def elf_extent(head: bytes, fd: int) -> int | None:
    """Where an ELF file's own content ends (headers, segments, sections), or None if not ELF.
    Bytes past that point do not change what the program does."""
    if len(head) < 52 or head[:4] != b"\x7fELF" or head[4] not in (1, 2) or head[5] not in (1, 2):
        return None
    is64 = head[4] == 2
    end = "<" if head[5] == 1 else ">"
    try:
        if is64:
            phoff, shoff = struct.unpack_from(end + "QQ", head, 0x20)
            phentsize, phnum, shentsize, shnum = struct.unpack_from(end + "HHHH", _pread(fd, 8, 0x36), 0)
        else:
            phoff, shoff = struct.unpack_from(end + "II", head, 0x1C)
            phentsize, phnum, shentsize, shnum = struct.unpack_from(end + "HHHH", _pread(fd, 8, 0x2A), 0)
        extent = max(phoff + phnum * phentsize, shoff + shnum * shentsize)
        for i in range(phnum):
            ph = _pread(fd, phentsize, phoff + i * phentsize)
            off, filesz = (struct.unpack_from(end + "Q", ph, 8)[0], struct.unpack_from(end + "Q", ph, 32)[0]) \
                if is64 else (struct.unpack_from(end + "I", ph, 4)[0], struct.unpack_from(end + "I", ph, 16)[0])
            extent = max(extent, off + filesz)
        for i in range(shnum):
            sh = _pread(fd, shentsize, shoff + i * shentsize)
            kind = struct.unpack_from(end + "I", sh, 4)[0]
            if kind == 8:  # SHT_NOBITS (.bss) takes no room in the file
                continue
            off, sz = struct.unpack_from(end + "QQ", sh, 24) if is64 else struct.unpack_from(end + "II", sh, 16)
            extent = max(extent, off + sz)
    except (struct.error, OSError, ValueError):
        return None
    return int(extent)


def _pread(fd: int, n: int, offset: int) -> bytes:
    data = os.pread(fd, n, offset)
    if len(data) != n:
        raise ValueError("short read")
    return data


def _hash_fd(fd: int, length: int) -> str:
    h = hashlib.sha256()
    offset = 0
    while offset < length:
        block = os.pread(fd, min(_READ, length - offset), offset)
        if not block:
            break
        h.update(block)
        offset += len(block)
    return h.hexdigest()


def _hash_file(path: str, length: int | None = None) -> str:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        return _hash_fd(fd, os.fstat(fd).st_size if length is None else length)
    finally:
        os.close(fd)
