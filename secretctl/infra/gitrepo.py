"""The one home of git: the git CLI, run as a subprocess.

secretctl only ever runs git commands, so it calls the git CLI directly rather than through
GitPython, whose import alone cost 59 ms of every mutation's ~140 ms here. git's errors are
translated into ConflictError with one line of git's own message (git never sees a secret
value: values are never in argv, and files are staged from disk).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from secretctl.core import faults, gitconfig
from secretctl.errors import ConflictError, TamperedError
from secretctl.infra import settings


def git(root: Path, *args: str, env: dict[str, str] | None = None, input: bytes | None = None,
        check: bool = True, hooks: bool = False, network: bool = False,
        signing: bool = False) -> subprocess.CompletedProcess[bytes]:
    """Run git in ``root``; with ``check``, a failure is a ConflictError with git's last line.

    Every call is hardened (DANGER: see secretctl/core/gitconfig.py): the environment holds no
    SECRETCTL_* secret, system config is off, and ``-c`` overrides leave no config key able to
    start a program, except secretctl's own merge drivers and textconv, the person's hooks
    when ``hooks`` (commits, pushes), their ssh/credential tools when ``network`` and their
    gpg when ``signing``. A program-running key in the vault's own config that secretctl did
    not write stops the command (TamperedError). Git never prompts."""
    guard = _guard(root, env)
    # `git config` starts no program, and overrides would be read back as the answer.
    overrides = [] if args[:1] == ("config",) else guard.args(hooks=hooks, network=network, signing=signing)
    try:
        proc = subprocess.run(["git", *overrides, *args], cwd=root, env=_child_env(env), input=input,
                              capture_output=True, check=False)
    except FileNotFoundError:
        raise ConflictError("git is not installed", hint="install git (apt-get install git)") from None
    if check and proc.returncode != 0:
        lines = [ln.strip() for ln in proc.stderr.decode(errors="replace").splitlines() if ln.strip()]
        detail = lines[-1] if lines else f"exit {proc.returncode}"
        lock = next((ln for ln in lines if ".lock': File exists" in ln), None)
        if lock is not None:
            # git's own advice ("remove the file manually") is right only when no git runs there.
            path = lock.split("'")[1] if lock.count("'") >= 2 else "the .lock file"
            raise ConflictError(f"git {args[0]} failed: another git process holds {path}"[:300],
                                hint="wait for it (an editor open for `git commit`?); if no git process runs in "
                                     "the vault, the lock is stale: run the secretctl command again (it removes a "
                                     f"stale lock itself, see docs/cli.md) or remove {path}")
        if any("No space left on device" in ln or "Out of diskspace" in ln for ln in lines):
            raise ConflictError(f"git {args[0]} failed: the disk is full",
                                hint="free some space, then run the command again")
        raise ConflictError(f"git {args[0]} failed: {detail[:200]}",
                            hint="run `git status` in the vault to see what git needs")
    return proc


def verify_config(root: Path) -> None:
    """Refuse (TamperedError) a vault whose own git config runs a program secretctl did not set:
    mutations call it before writing anything, so a refusal leaves the disk as it was."""
    _guard(root, None)


def _child_env(env: Mapping[str, str] | None) -> dict[str, str]:
    from secretctl.infra import hardening

    out = hardening.child_env(settings.environ() if env is None else env)
    out.update(GIT_TERMINAL_PROMPT="0", GIT_CONFIG_NOSYSTEM="1", GIT_PAGER="cat", GIT_EDITOR="true",
               GIT_SEQUENCE_EDITOR="true")
    return out


class _Guard:
    """The config git will read for ``root``, listed once by git itself (includes and quoting
    are git's), and refused if the repository's own config runs a program we did not set."""

    def __init__(self, entries: list[gitconfig.ConfigEntry]) -> None:
        self.entries = entries
        self._args: dict[tuple[bool, bool, bool], list[str]] = {}

    def args(self, *, hooks: bool, network: bool, signing: bool) -> list[str]:
        key = (hooks, network, signing)
        if key not in self._args:
            self._args[key] = gitconfig.overrides(self.entries, hooks=hooks, network=network, signing=signing)
        return self._args[key]

    def last(self, name: str) -> str | None:
        """A single-valued key's effective value (git's rule: the last one read wins)."""
        found = None
        for e in self.entries:
            if e.name.lower() == name:
                found = e.value
        return found


_GUARDS: dict[str, tuple[tuple[object, ...], _Guard]] = {}


def _config_files(root: Path, env: Mapping[str, str]) -> list[str]:
    """The files git reads config from for ``root`` (found without running git: the guard runs
    before every git call, git_dirs included)."""
    gitdir = commondir = os.path.join(root, ".git")
    if os.path.isfile(gitdir):  # a linked work tree: ".git" names its git dir, which names the common one
        with contextlib.suppress(OSError):
            with open(gitdir) as fh:
                gitdir = os.path.join(root, fh.read().strip().removeprefix("gitdir: "))
            commondir = gitdir
            with open(os.path.join(gitdir, "commondir")) as fh:
                commondir = os.path.join(gitdir, fh.read().strip())
    home = env.get("HOME", "")
    xdg = env.get("XDG_CONFIG_HOME") or os.path.join(home, ".config")
    glob = [env["GIT_CONFIG_GLOBAL"]] if env.get("GIT_CONFIG_GLOBAL") else [
        os.path.join(home, ".gitconfig"), os.path.join(xdg, "git", "config")]
    return [os.path.join(commondir, "config"), os.path.join(gitdir, "config.worktree"), *glob]


def _stamp(paths: Sequence[str]) -> tuple[object, ...]:
    out: list[object] = []
    for p in paths:
        try:
            st = os.stat(p)
        except OSError:
            out.append(None)
            continue
        out.append((st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns))
    return tuple(out)


def _guard(root: Path, env: Mapping[str, str] | None) -> _Guard:
    """The checked config of ``root``: listed again whenever one of its files changed (a stat
    per call; the listing itself is one git call per process and change)."""
    base = settings.environ() if env is None else env
    files = _config_files(root, base)
    stamp = _stamp(files)
    cached = _GUARDS.get(str(root))
    if cached is not None and cached[0] == stamp:
        return cached[1]
    listing = _list_config(root, base)
    bad = gitconfig.untrusted_local(listing)
    if bad:
        e = bad[0]
        where = ".git/config" if e.scope == "local" else ".git/config.worktree"  # as git users name them
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        raise TamperedError(
            f"{where} sets {e.name}{more}, which runs a program, and secretctl did not set it",
            hint=f"if you did not add it, remove it: git config --{e.scope} --unset-all {e.name}; "
                 "a tool of your own belongs in ~/.gitconfig")
    guard = _Guard(listing)
    _GUARDS[str(root)] = (stamp, guard)
    return guard


def _list_config(root: Path, env: Mapping[str, str]) -> list[gitconfig.ConfigEntry]:
    # Listing config starts no program. No overrides: they would be listed as the answer.
    args = ["git", "config", "--list", "--show-scope", "-z"]
    try:
        proc = subprocess.run(args, cwd=root if root.is_dir() else None, env=_child_env(env),
                              capture_output=True, check=False)
    except FileNotFoundError:
        raise ConflictError("git is not installed", hint="install git (apt-get install git)") from None
    if proc.returncode != 0:
        # A config git cannot parse: fail closed, with git's own line.
        lines = [ln.strip() for ln in proc.stderr.decode(errors="replace").splitlines() if ln.strip()]
        raise TamperedError(f"git cannot read the vault's config: {(lines[-1] if lines else '')[:200]}",
                            hint="fix .git/config (git config --local --edit)")
    return gitconfig.parse_listing(proc.stdout)


def run(root: Path, *args: str, env: dict[str, str] | None = None) -> str:
    return git(root, *args, env=env).stdout.decode(errors="replace").strip()


def is_repo(root: Path) -> bool:
    return (root / ".git").exists()


def init(root: Path) -> None:
    root.mkdir(parents=True, exist_ok=True)
    git(root, "init", "-q", "-b", "main")


def _config_get(root: Path, name: str) -> str:
    """A single-valued key's effective value, from the listing every git call checks anyway."""
    return _guard(root, None).last(name.lower()) or ""


_COMMIT_CONFIG = ("user.name", "user.email", "commit.gpgsign", "core.hookspath", "extensions.objectformat")


def _commit_config(root: Path) -> dict[str, str]:
    """The settings a commit depends on (names lower-cased), with no git call of their own."""
    guard = _guard(root, None)
    found: dict[str, str] = {}
    for name in _COMMIT_CONFIG:
        value = guard.last(name)
        if value is not None:
            found[name] = value
    return found


def _identity_env(config: dict[str, str], actor: str) -> dict[str, str]:
    """Commit as the configured git user; fall back to the actor so a fresh CI box can commit."""
    env: dict[str, str] = {}
    if not config.get("user.name") and "GIT_AUTHOR_NAME" not in settings.environ():
        env["GIT_AUTHOR_NAME"] = env["GIT_COMMITTER_NAME"] = actor or "secretctl"
    if not config.get("user.email") and "GIT_AUTHOR_EMAIL" not in settings.environ():
        env["GIT_AUTHOR_EMAIL"] = env["GIT_COMMITTER_EMAIL"] = "secretctl@localhost"
    return env


_COMMIT_HOOKS = ("pre-commit", "prepare-commit-msg", "commit-msg", "post-commit")


def _has_commit_hooks(root: Path, config: dict[str, str]) -> bool:
    hooks = Path(config["core.hookspath"]).expanduser() if config.get("core.hookspath") else common_dir(root) / "hooks"
    if not hooks.is_absolute():
        hooks = root / hooks
    return any(os.access(hooks / name, os.X_OK) for name in _COMMIT_HOOKS)


# Bulk writes put their files into git as one pack: each loose object git writes costs a file
# creation (0.2-1 ms here), so 2,000 of them cost more than everything else in an import.
PACK_THRESHOLD = 64


def blob_id(data: bytes) -> str:
    import hashlib

    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def _stored_zlib(data: bytes) -> bytes:
    """``data`` as a zlib stream of stored (uncompressed) deflate blocks.

    Ciphertext does not compress, and deflate's per-call set-up costs more than a small
    file's worth of work; ``git gc`` recompresses sidecars when it repacks.
    """
    import struct
    import zlib

    out = [b"\x78\x01"]
    view = memoryview(data)
    while True:
        block, view = view[:65535], view[65535:]
        out.append(struct.pack("<BHH", 0 if view else 1, len(block), 0xFFFF ^ len(block)))
        out.append(bytes(block))
        if not view:
            break
    out.append(struct.pack(">I", zlib.adler32(data)))
    return b"".join(out)


def build_pack(blobs: Sequence[bytes]) -> bytes:
    """A git pack (version 2) holding ``blobs`` as whole objects, no deltas."""
    import hashlib
    import struct

    out = [b"PACK", struct.pack(">II", 2, len(blobs))]
    for data in blobs:
        size = len(data)
        header = bytearray()
        byte = (3 << 4) | (size & 0x0F)  # object type 3: blob
        size >>= 4
        while size:
            header.append(byte | 0x80)
            byte = size & 0x7F
            size >>= 7
        header.append(byte)
        out.append(bytes(header))
        out.append(_stored_zlib(data))
    body = b"".join(out)
    return body + hashlib.sha1(body, usedforsecurity=False).digest()  # the pack trailer git checks


def stage_blobs(root: Path, blobs: Mapping[str, bytes]) -> str:
    """Stage files whose exact contents we hold (and just wrote to disk): one pack, one index update.

    ``git index-pack`` verifies the pack and writes its index; the index entries carry no
    stat data yet, so the next ``git status`` re-reads those files once and finds them equal to
    the staged blobs. Returns the pack's name.
    """
    if not blobs:
        return ""
    paths = sorted(blobs)
    out = git(root, "index-pack", "--stdin", input=build_pack([blobs[p] for p in paths]))
    name = out.stdout.decode(errors="replace").split()
    try:
        info = b"".join(b"100644 %s\t%s\0" % (blob_id(blobs[p]).encode(), p.encode()) for p in paths)
        git(root, "update-index", "-z", "--index-info", input=info)
    except BaseException:
        remove_pack(root, name[-1] if name else "")
        raise
    return name[-1] if name else ""


def remove_pack(root: Path, name: str) -> None:
    """Delete a pack we just wrote and no commit refers to (a failed bulk write)."""
    if len(name) in (40, 64) and all(c in "0123456789abcdef" for c in name):
        for suffix in (".idx", ".pack", ".rev"):
            with contextlib.suppress(OSError):
                (common_dir(root) / "objects" / "pack" / f"pack-{name}{suffix}").unlink()


class BlobStager:
    """Stages many files' contents (:func:`stage_blobs`) on a second thread, while the caller
    writes the same files to disk: git's two index passes overlap the file writes.

    ``wait`` returns whether the blobs were staged (False in a SHA-256 repository, whose files
    are then staged from disk); ``undo`` puts the index back if the disk writes failed.
    """

    def __init__(self, root: Path, blobs: Mapping[str, bytes]) -> None:
        import threading

        self.root, self.blobs = root, blobs
        self._staged = False
        self._pack = ""
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="secretctl-stage", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            # The pack and the index entries carry SHA-1 ids.
            if _config_get(self.root, "extensions.objectFormat") in ("", "sha1"):
                self._pack = stage_blobs(self.root, self.blobs)
                self._staged = True
        except BaseException as exc:  # handed to the caller's thread by wait()
            self._error = exc

    def wait(self) -> bool:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._staged

    def undo(self) -> None:
        with contextlib.suppress(Exception):
            if self.wait():
                git(self.root, "reset", "-q", "--pathspec-from-file=-", "--pathspec-file-nul", check=False,
                    input=b"\0".join(p.encode() for p in self.blobs) + b"\0")
                remove_pack(self.root, self._pack)


def start_staging(root: Path, blobs: Mapping[str, bytes]) -> BlobStager | None:
    """A :class:`BlobStager` when there are enough blobs for a pack to pay off, else None."""
    return BlobStager(root, blobs) if len(blobs) >= PACK_THRESHOLD else None


def commit_paths(root: Path, paths: Sequence[str], message: str, *, actor: str,
                 staged: BlobStager | None = None) -> str | None:
    """Stage exactly ``paths`` (added, changed or deleted) and commit them in one commit.

    ``staged`` holds some of those paths, already on their way into the index. Other changes
    in the work tree are left alone. Returns the new commit id, or None when nothing changed.
    """
    config = _commit_config(root)
    if staged is not None and staged.wait():
        rest = sorted(set(paths) - staged.blobs.keys())
    else:
        rest = sorted(set(paths) | (staged.blobs.keys() if staged else set()))
    if rest:
        # update-index takes exact paths on stdin (added, changed or gone): unlike `git add` with
        # pathspecs it does not match every index entry against every path.
        git(root, "update-index", "--add", "--remove", "-z", "--stdin",
            input=b"\0".join(p.encode() for p in rest) + b"\0")
    faults.point("git.staged")
    ours = {p.encode() for p in paths} | {p.encode() for p in (staged.blobs if staged else ())}
    changed = [p for p in git(root, "diff", "--cached", "--name-only", "--no-renames", "-z").stdout.split(b"\0") if p]
    if not changed:
        return None
    env = {**settings.environ(), **_identity_env(config, actor)}
    if (_has_commit_hooks(root, config) or config.get("commit.gpgsign", "").lower() in ("true", "yes", "on", "1")
            or not ours.issuperset(changed)):
        # Hooks, signing, or changes someone staged by hand: `git commit` does all of it as usual.
        # A bulk commit's trailers can exceed the argv limit: the message goes on stdin (no value in it).
        git(root, "commit", "-q", "-F", "-", env=env, input=message.encode(), hooks=True, signing=True)
        return run(root, "rev-parse", "HEAD")
    # Plumbing skips what `git commit` adds here: a refresh that stats every file of the vault
    # and a second index write (100 ms of a 10,000-secret vault's commit).
    tree = run(root, "write-tree")
    parent = head(root)
    commit = git(root, "commit-tree", tree, *(["-p", parent] if parent else []), "-F", "-", env=env,
                 input=message.encode()).stdout.decode().strip()
    subject = message.split("\n", 1)[0]
    faults.point("git.commit-created")
    git(root, "update-ref", "-m", f"commit: {subject}" if parent else f"commit (initial): {subject}",
        "HEAD", commit, parent or "0" * len(commit))
    git(root, "maintenance", "run", "--auto", "--quiet", check=False)  # what `git commit` would start
    return commit


def head(root: Path) -> str | None:
    """The HEAD commit id, read from disk without spawning git (cheap enough for every call).
    HEAD is the work tree's own; the branch it names lives with the shared refs."""
    if not os.path.lexists(root / ".git"):
        return None
    try:
        gitdir, common = git_dirs(root)
        ref = (gitdir / "HEAD").read_text().strip()
    except (OSError, ConflictError):
        return None
    if not ref.startswith("ref: "):
        return ref
    name = ref[5:]
    for refs in dict.fromkeys((gitdir, common)):
        try:
            return (refs / name).read_text().strip()
        except OSError:
            pass
    try:
        for line in (common / "packed-refs").read_text().splitlines():
            if line.endswith(" " + name):
                return line.split(" ", 1)[0]
    except OSError:
        pass
    return None


def show_committed(root: Path, relpath: str) -> bytes | None:
    """The committed (HEAD) content of a file, or None if it is not committed."""
    proc = git(root, "show", f"HEAD:{relpath}", check=False)
    return proc.stdout if proc.returncode == 0 else None


# ----------------------------------------------------------- where git keeps things
_GIT_DIRS: dict[Path, tuple[Path, Path]] = {}


def git_dirs(root: Path) -> tuple[Path, Path]:
    """(git dir, common dir) of the work tree at ``root``. In a plain clone both are ``root/.git``;
    in a linked work tree (`git worktree add`, where ``.git`` is a file) the git dir is the work
    tree's own (HEAD, index, rebase state) and the common dir holds objects, refs and hooks.
    Asked of git once per root: a plain clone is recognised without spawning it."""
    found = _GIT_DIRS.get(root)
    if found is None:
        dotgit = root / ".git"
        if dotgit.is_dir():
            found = (dotgit, dotgit)
        else:
            out = run(root, "rev-parse", "--path-format=absolute", "--git-dir", "--git-common-dir").splitlines()
            if len(out) != 2:
                raise ConflictError(f"git rev-parse gave no git directory for {root}",
                                    hint="run `git status` in the vault to see what git needs")
            found = (Path(out[0]), Path(out[1]))
        _GIT_DIRS[root] = found
    return found


def git_dir(root: Path) -> Path:
    """Per-work-tree state: HEAD, the index, rebase state, secretctl's lock and pending log."""
    return git_dirs(root)[0]


def common_dir(root: Path) -> Path:
    """State shared by every work tree of the repository: objects, refs, hooks, config."""
    return git_dirs(root)[1]


# ------------------------------------------------------------------ what a push sends
def commits_to_push(root: Path, local_oid: str, remote_oid: str | None) -> list[str]:
    """The commits a push of ``local_oid`` sends, oldest first: those not reachable from
    ``remote_oid`` (what the remote has), or, for a new ref or a remote state we never fetched,
    those not on any remote-tracking ref."""
    if remote_oid is not None and git(root, "cat-file", "-e", f"{remote_oid}^{{commit}}", check=False).returncode == 0:
        spec = [local_oid, "--not", remote_oid]
    else:
        spec = [local_oid, "--not", "--remotes"]
    out = git(root, "rev-list", "--topo-order", "--reverse", *spec).stdout.decode()
    return out.split()


def changed_in_commits(root: Path, commits: Sequence[str]) -> dict[str, list[tuple[str, str, str]]]:
    """Per commit, the entries it adds or changes against its first parent (everything, for a
    root commit): (mode, object id, path). Deletions are left out: they send no content."""
    out: dict[str, list[tuple[str, str, str]]] = {c: [] for c in commits}
    if not commits:
        return out
    raw = git(root, "diff-tree", "--stdin", "-r", "-z", "--root", "--no-renames", "--diff-merges=first-parent",
              input=("\n".join(commits) + "\n").encode()).stdout
    current: list[tuple[str, str, str]] | None = None
    fields = raw.split(b"\0")
    i = 0
    while i < len(fields):
        tok = fields[i].decode(errors="surrogateescape")
        if tok.startswith(":"):
            # ":old_mode new_mode old_oid new_oid status" then the path
            _, new_mode, _, new_oid, status = tok[1:].split(" ")
            path = fields[i + 1].decode(errors="surrogateescape")
            if current is not None and status != "D":
                current.append((new_mode, new_oid, path))
            i += 2
            continue
        if tok.strip():
            current = out.setdefault(tok.strip(), [])
        i += 1
    return out


def read_objects(root: Path, names: Sequence[str]) -> dict[str, bytes]:
    """Contents of objects by name (an id, or ``<commit>:<path>``) through one `git cat-file
    --batch`; names that do not exist are left out."""
    wanted = [n for n in dict.fromkeys(names) if "\n" not in n]
    if not wanted:
        return {}
    out = git(root, "cat-file", "--batch", input=("\n".join(wanted) + "\n").encode()).stdout
    found: dict[str, bytes] = {}
    pos = 0
    for name in wanted:
        nl = out.index(b"\n", pos)
        header = out[pos:nl].split()
        if len(header) < 3 or header[-1] == b"missing" or header[1] in (b"missing", b"ambiguous"):
            pos = nl + 1
            continue
        size = int(header[2])
        found[name] = out[nl + 1 : nl + 1 + size]
        pos = nl + 1 + size + 1
    return found


def configure_repo(root: Path) -> None:
    """The local git config a clone does not carry: textconv for *.age and the merge drivers."""
    # The program-running values come from gitconfig.OURS: every git call accepts exactly those.
    values = {
        **gitconfig.OURS,
        "diff.age.cachetextconv": "false",
        "merge.secretctl-age.name": "secretctl: merge secrets by plaintext",
        "merge.secretctl-meta.name": "secretctl: merge metadata field by field",
    }
    for k, v in values.items():
        run(root, "config", "--local", k, v)
    # Index format 4 compresses the paths a vault repeats in every entry (aws/..., aws/...):
    # a 10,000-secret vault's index shrinks by a sixth and every commit writes it.
    run(root, "config", "--local", "index.version", "4")
    git(root, "update-index", "--index-version", "4", check=False)


def committed_many(root: Path, relpaths: Sequence[str]) -> dict[str, bytes | None]:
    """The committed (HEAD) content of each path (None where HEAD has none), with one
    ``git cat-file --batch`` call whatever their number."""
    wanted = list(dict.fromkeys(relpaths))
    found = read_objects(root, [f"HEAD:{p}" for p in wanted]) if wanted else {}
    return {p: found.get(f"HEAD:{p}") for p in wanted}


def uncommitted(root: Path, pathspecs: Sequence[str]) -> list[tuple[str, str]]:
    """(two-letter status, path) of each file under ``pathspecs`` that differs from HEAD: staged
    or not, untracked, and ignored too (a .gitignore line must not hide a planted file)."""
    out = git(root, "status", "--porcelain=v1", "-z", "--untracked-files=all", "--ignored=matching",
              "--no-renames", "--", *pathspecs).stdout.decode("utf-8", errors="surrogateescape")
    return [(entry[:2], entry[3:]) for entry in out.split("\0") if len(entry) > 3]


_LITERAL = {"GIT_LITERAL_PATHSPECS": "1"}


def tracked_in_head(root: Path) -> set[str]:
    """Every path in HEAD's tree (empty before the first commit)."""
    if head(root) is None:
        return set()
    out = git(root, "ls-tree", "-r", "-z", "--name-only", "--full-tree", "HEAD").stdout
    return {p.decode() for p in out.split(b"\0") if p}


def reset_index_to_head(root: Path, paths: Sequence[str]) -> dict[str, tuple[str, str]]:
    """Make git's index entries of exactly ``paths`` what HEAD has (an entry HEAD lacks is
    dropped), and return HEAD's (mode, object id) of the paths it has; the work tree is the
    caller's. One ``ls-tree`` and one ``update-index --index-info`` (mode 0 drops an entry): exact
    paths on stdin, so undoing an import of thousands costs two git calls, not a pathspec match
    per index entry. The entries carry no file timestamps: the next ``git status`` re-reads those
    files once."""
    if not paths:
        return {}
    entries: dict[str, bytes] = {}
    found: dict[str, tuple[str, str]] = {}
    current = head(root)
    if current is not None:
        listing = git(root, "ls-tree", "-r", "-z", "--full-tree", "HEAD").stdout
        wanted = set(paths)
        for rec in listing.split(b"\0"):
            info, _, name = rec.partition(b"\t")
            path = name.decode(errors="surrogateescape")
            if path in wanted:
                mode, _type, sha = info.split(b" ")
                entries[path] = b"%s %s\t%s\0" % (mode, sha, name)
                found[path] = (mode.decode(), sha.decode())
    null = "0" * len(current or "0" * 40)  # a SHA-256 repository's ids are 64 digits
    info_lines = [entries.get(p) or b"0 %s\t%s\0" % (null.encode(), p.encode()) for p in paths]
    git(root, "update-index", "-z", "--index-info", input=b"".join(info_lines))
    return found


def object_sizes(root: Path, oids: Sequence[str]) -> dict[str, int]:
    """Sizes of objects by id (one ``cat-file --batch-check``); missing ones are left out."""
    wanted = [o for o in dict.fromkeys(oids) if o.isalnum()]
    if not wanted:
        return {}
    out = git(root, "cat-file", "--batch-check", input=("\n".join(wanted) + "\n").encode()).stdout
    sizes: dict[str, int] = {}
    for line in out.decode(errors="replace").splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2].isdigit():
            sizes[parts[0]] = int(parts[2])
    return sizes


def checkout_paths(root: Path, paths: Sequence[str]) -> None:
    """Write the index's version of ``paths`` into the work tree (``checkout-index``). It writes
    one file at a time, unlinking each first (2,000 files: 5-7 s here): for regular files,
    recovery writes HEAD's bytes itself in bulk; this is for the rest (links)."""
    if paths:
        git(root, "checkout-index", "-f", "-u", "-z", "--stdin", input=b"\0".join(p.encode() for p in paths) + b"\0")


def status(root: Path) -> list[tuple[str, str]]:
    """``git status`` of the work tree: (two-letter code, path) per difference from HEAD,
    untracked files listed one by one."""
    out = git(root, "status", "--porcelain=v1", "-z", "--untracked-files=all", "--no-renames").stdout
    return [(rec[:2].decode(), rec[3:].decode(errors="replace")) for rec in out.split(b"\0") if len(rec) > 3]


def next_on_first_parent_line(root: Path, base: str, tip: str) -> tuple[str, str, str] | None:
    """The commit right after ``base`` on ``tip``'s first-parent line: (id, first parent, message);
    None if ``base`` is not on that line."""
    proc = git(root, "log", "--first-parent", "--reverse", "--format=%H%x00%P%x00%B%x1e", f"{base}..{tip}",
               check=False)
    if proc.returncode != 0:
        return None
    first = proc.stdout.decode(errors="replace").split("\x1e", 1)[0].strip("\n")
    parts = first.split("\0", 2)
    if len(parts) != 3:
        return None
    commit, parents, message = parts
    parent = parents.split()[0] if parents.split() else ""
    return (commit, parent, message) if parent == base else None


def user_name() -> str | None:
    """git's ``user.name`` as a commit outside any repository would see it (global, then system)."""
    proc = git(Path("/"), "config", "--get", "user.name", check=False)
    name = proc.stdout.decode(errors="replace").strip()
    return name or None
