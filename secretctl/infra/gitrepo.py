"""The one home of git: the only code that starts the git CLI, and the calls every caller needs.

secretctl only ever runs git commands, so it calls the git CLI directly rather than through
GitPython, whose import alone cost 59 ms of every mutation's ~140 ms here. git's errors are
translated into ConflictError with one line of git's own message (git never sees a secret
value: values are never in argv, and files are staged from disk).

Here: :func:`git` (the hardened runner) and the config check it makes, init and config, where
git keeps things (git dirs, HEAD) and the work tree's status. The other git modules run git
only through :func:`git`: ``gitpack`` (bulk staging as a hand-built pack), ``gitcommit`` (the
index and commits), ``gitobjects`` (reading objects), ``gitrange`` (ranges of history: what a
push sends).
"""

from __future__ import annotations

import atexit
import contextlib
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from secretctl.core import gitconfig
from secretctl.errors import ConflictError, TamperedError
from secretctl.infra import settings

TYPE_CHECKING = False  # as in infra/settings.py: the annotation needs subprocess, the run time does not
if TYPE_CHECKING:
    import subprocess


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
    import subprocess  # not at module level: it brings 8 modules (threading, signal, selectors...) to
    # every `get`, which imports this module (through the Vault) and never runs git

    command = args[2] if args[:1] == ("-c",) and len(args) > 2 else args[0]  # a caller's own `-c K=V` comes first
    # `git config` starts no program, and overrides would be read back as the answer. Nor does it
    # need the checked listing: a set changes the config, so listing it first cost one more git per
    # key (configure_repo's ten keys: ten listings per `init` and `clone`). The next other git call
    # lists and checks the config as changed.
    overrides = [] if command == "config" else _guard(root, env).args(hooks=hooks, network=network,
                                                                        signing=signing)
    try:
        # No input: stdin is /dev/null, never ours (an MCP server's is the client's protocol stream).
        proc = subprocess.run(["git", *overrides, *args], cwd=root, env=_child_env(env), input=input,
                              stdin=subprocess.DEVNULL if input is None else None, capture_output=True, check=False)
    except FileNotFoundError:
        raise ConflictError("git is not installed", hint="install git (apt-get install git)") from None
    if check and proc.returncode != 0:
        lines = [ln.strip() for ln in proc.stderr.decode(errors="replace").splitlines() if ln.strip()]
        detail = lines[-1] if lines else f"exit {proc.returncode}"
        lock = next((ln for ln in lines if ".lock': File exists" in ln), None)
        if lock is not None:
            # git's own advice ("remove the file manually") is right only when no git runs there.
            path = lock.split("'")[1] if lock.count("'") >= 2 else "the .lock file"
            raise ConflictError(f"git {command} failed: another git process holds {path}"[:300],
                                hint="wait for it (an editor open for `git commit`?); if no git process runs in "
                                     "the vault, the lock is stale: run the secretctl command again (it removes a "
                                     f"stale lock itself, see docs/cli.md) or remove {path}")
        if any("No space left on device" in ln or "Out of diskspace" in ln for ln in lines):
            raise ConflictError(f"git {command} failed: the disk is full",
                                hint="free some space, then run the command again")
        raise ConflictError(f"git {command} failed: {detail[:200]}",
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
    ahead = _prefetched(root, base, stamp) if _PREFETCHED else None  # taken (or ended) either way
    cached = _GUARDS.get(str(root))
    if cached is not None and cached[0] == stamp:
        return cached[1]
    listing = gitconfig.parse_listing(ahead) if ahead is not None else _list_config(root, base)
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


# Listing config starts no program. No overrides: they would be listed as the answer.
_LIST_ARGS = ("git", "config", "--list", "--show-scope", "-z")
# Listings started ahead (prefetch_config), by real path: (the config files' stamp when it started,
# the environment it ran with, the process).
_PREFETCHED: dict[str, tuple[tuple[object, ...], dict[str, str], subprocess.Popen[bytes]]] = {}


def prefetch_config(root: str) -> None:
    """Start listing ``root``'s config now, so git runs on another core while the caller
    imports and reads; the first git call for that vault takes the answer only if no config
    file changed since this started (the stamp :func:`_guard` compares), else lists again.

    A `set` calls it before its imports (service/gitahead.py): the listing is the first git
    process of every mutation, and its 3-5 ms of wall time were spent waiting."""
    import subprocess  # see git()

    env = settings.environ()
    stamp = _stamp(_config_files(Path(root), env))
    child_env = _child_env(env)
    try:
        proc = subprocess.Popen(_LIST_ARGS, cwd=root, env=child_env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    except OSError:
        return  # the listing proper reports it
    _PREFETCHED[os.path.realpath(root)] = (stamp, child_env, proc)


def _prefetched(root: Path, env: Mapping[str, str], stamp: tuple[object, ...]) -> bytes | None:
    """The listing a :func:`prefetch_config` started for ``root``, if it still holds."""
    found = _PREFETCHED.pop(os.path.realpath(root), None)
    if found is None:
        return None
    then, child_env, proc = found
    out, _ = proc.communicate()
    if then != stamp or child_env != _child_env(env) or proc.returncode != 0:
        return None  # changed since, or failed: list again (a failure is reported there)
    return out


def _reap_prefetched() -> None:
    """At exit, end listings nobody asked for (a command that failed before its first git call)."""
    while _PREFETCHED:
        _, _, proc = _PREFETCHED.popitem()[1]
        proc.communicate()


atexit.register(_reap_prefetched)


def _list_config(root: Path, env: Mapping[str, str]) -> list[gitconfig.ConfigEntry]:
    import subprocess  # see git()

    try:
        proc = subprocess.run(_LIST_ARGS, cwd=root if root.is_dir() else None, env=_child_env(env),
                              stdin=subprocess.DEVNULL, capture_output=True, check=False)
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
    with _template_option(root) as template:
        git(root, "init", "-q", "-b", "main", *template)


def clone(url: str, dest: Path) -> subprocess.CompletedProcess[bytes]:
    """``git clone``, with secretctl's local config in place (see :func:`_template_option`)."""
    with _template_option(dest.parent) as template:
        return git(dest.parent, "clone", "-q", *template, url, str(dest), check=False, network=True)


@contextlib.contextmanager
def _template_option(where: Path) -> Iterator[list[str]]:
    """``--template=`` secretctl's template (:func:`repo_template`), or nothing when the person
    chose a template of their own: it wins (their hooks, their excludes), and configure_repo then
    sets our keys one at a time."""
    if settings.environ().get("GIT_TEMPLATE_DIR") or config_value(where, "init.templateDir"):
        yield []
        return
    with repo_template() as folder:
        yield [f"--template={folder}"]


def config_value(root: Path, name: str) -> str:
    """A single-valued key's effective value, from the listing every git call checks anyway."""
    return _guard(root, None).last(name.lower()) or ""


def config_values(root: Path, names: Sequence[str]) -> dict[str, str]:
    """The effective values of the single-valued keys ``names`` (lower-cased) that are set, from
    one look at the checked listing (no git call of their own)."""
    guard = _guard(root, None)
    found: dict[str, str] = {}
    for name in names:
        value = guard.last(name.lower())
        if value is not None:
            found[name.lower()] = value
    return found


def config_names(root: Path) -> set[str]:
    """The (lower-cased) names of every key set, from the same listing."""
    return {e.name.lower() for e in _guard(root, None).entries}


# The local git config a clone does not carry: textconv for *.age and the merge drivers. The
# program-running values come from gitconfig.OURS: every git call accepts exactly those.
# Index format 4 compresses the paths a vault repeats in every entry (aws/..., aws/...): a
# 10,000-secret vault's index shrinks by a sixth and every commit writes it. A split index writes
# only the entries changed since its shared part (rewritten once a fifth of the entries changed):
# a `set` there wrote 1.4 MB of index twice (update-index, write-tree).
_LOCAL_CONFIG: Mapping[str, str] = {
    **gitconfig.OURS,
    "diff.age.cachetextconv": "false",
    "merge.secretctl-age.name": "secretctl: merge secrets by plaintext",
    "merge.secretctl-meta.name": "secretctl: merge metadata field by field",
    "index.version": "4",
    "core.splitIndex": "true",
}
_INDEX_KEYS = ("index.version", "core.splitIndex")


@contextlib.contextmanager
def repo_template() -> Iterator[str]:
    """A git template folder holding only a ``config`` with :data:`_LOCAL_CONFIG`: ``git init``
    and ``git clone`` copy it into the new repository, so one git process creates a configured
    repository (ten `git config` calls and an index conversion did it after the fact). The
    ``hooks`` and ``info`` folders are there, empty: git's sample hooks are not copied."""
    import tempfile  # here, not at the top: see git()

    sections: dict[str, list[str]] = {}
    for name, value in _LOCAL_CONFIG.items():
        section, _, rest = name.partition(".")
        sub, _, key = rest.rpartition(".")
        header = f'[{section} "{sub}"]' if sub else f"[{section}]"  # our names need no escaping
        quoted = value.replace("\\", "\\\\").replace('"', '\\"')
        sections.setdefault(header, []).append(f'\t{key} = "{quoted}"\n')
    text = "".join(header + "\n" + "".join(lines) for header, lines in sections.items())
    with tempfile.TemporaryDirectory(prefix="secretctl-git-template-") as folder:
        with open(os.path.join(folder, "config"), "w", encoding="utf-8") as fh:
            fh.write(text)
        for empty in ("hooks", "info"):  # where people (and docs) put hooks and excludes by hand
            os.mkdir(os.path.join(folder, empty))
        yield folder


def configure_repo(root: Path) -> None:
    """Give ``root`` secretctl's local git config where it lacks it (an adopted passage store, a
    repository made by hand). One listing, which the next git call needs anyway: a repository
    made by :func:`init` or :func:`clone` has it all, and no git runs here."""
    current = config_values(root, list(_LOCAL_CONFIG))
    for name, value in _LOCAL_CONFIG.items():
        if current.get(name.lower()) != value:
            run(root, "config", "--local", name, value)
    if any(current.get(k.lower()) != _LOCAL_CONFIG[k] for k in _INDEX_KEYS):
        git(root, "update-index", "--index-version", "4", "--split-index", check=False)


def user_name() -> str | None:
    """git's ``user.name`` as a commit outside any repository would see it (global, then system)."""
    proc = git(Path("/"), "config", "--get", "user.name", check=False)
    name = proc.stdout.decode(errors="replace").strip()
    return name or None


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


def status(root: Path) -> list[tuple[str, str]]:
    """``git status`` of the work tree: (two-letter code, path) per difference from HEAD,
    untracked files listed one by one."""
    out = git(root, "status", "--porcelain=v1", "-z", "--untracked-files=all", "--no-renames").stdout
    return [(rec[:2].decode(), rec[3:].decode(errors="replace")) for rec in out.split(b"\0") if len(rec) > 3]


def uncommitted(root: Path, pathspecs: Sequence[str]) -> list[tuple[str, str]]:
    """(two-letter status, path) of each file under ``pathspecs`` that differs from HEAD: staged
    or not, untracked, and ignored too (a .gitignore line must not hide a planted file)."""
    out = git(root, "status", "--porcelain=v1", "-z", "--untracked-files=all", "--ignored=matching",
              "--no-renames", "--", *pathspecs).stdout.decode("utf-8", errors="surrogateescape")
    return [(entry[:2], entry[3:]) for entry in out.split("\0") if len(entry) > 3]
