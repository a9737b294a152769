"""Team workflow over git (service layer): repo config, sync, conflict resolution, hook
installation, scan, backup and restore, and the audit trail. What git itself starts lives in
smaller modules, so each start pays for its own imports only: the pre-commit check in
service/precommit.py, the pre-push check in service/pushcheck.py, the merge drivers and
textconv in service/gitdrivers.py.

Plaintext never touches disk here: sync compares values in memory, and a conflict's ciphertexts
wait under .git/secretctl/ for ``secretctl resolve``.
"""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from secretctl.core import changes, keys
from secretctl.core.audit import line_hash, parse_log, parse_trailers, record_from_json, verify_chain
from secretctl.core.changes import Changes
from secretctl.core.secret import Secret
from secretctl.errors import ConflictError, NotFoundError, SecretctlError, UsageError, VaultCorruptError
from secretctl.infra import crypto, gitrepo, store
from secretctl.service import conflicts
from secretctl.service.allvalues import values_redactor

if TYPE_CHECKING:
    from secretctl.service.vault import Vault



def _git(root: Path, *args: str, check: bool = True, input: bytes | None = None, hooks: bool = False,
         network: bool = False) -> subprocess.CompletedProcess[bytes]:
    return gitrepo.git(root, *args, check=check, input=input, hooks=hooks, network=network)


# ---------------------------------------------------------------- sync
@dataclass(frozen=True)
class SyncReport:
    """What a sync moved: what came in, and what went out (or would have, with --no-push)."""

    incoming: Changes
    outgoing: Changes
    pushed: bool

    def to_json(self) -> dict[str, Any]:
        # The incoming side stays at the top level, as before; what went out is beside it.
        return {**self.incoming.to_json(), "outgoing": {**self.outgoing.to_json(), "pushed": self.pushed}}


def _changes(root: Path, rng: str) -> Changes:
    log = _git(root, "log", "--reverse", "--no-renames", "--name-status", f"--format={changes.LOG_FORMAT}", rng)
    return changes.parse_log(log.stdout.decode(errors="replace"))


def sync(vault: Vault, *, push: bool = True) -> SyncReport:
    """Pull (rebase), re-encrypt if recipients changed, push; report what came in and went out."""
    root = vault.root
    vault.require()
    if not _git(root, "remote", check=False).stdout.strip():
        raise UsageError("the vault has no git remote", hint="git remote add origin URL, then secretctl sync")
    if conflicts.load(root) or conflicts.rebasing(root):
        raise ConflictError("a previous sync stopped on conflicts",
                            hint="see them with secretctl resolve --show KEY; settle each with secretctl resolve "
                                 "KEY --ours|--theirs, then secretctl sync")
    # The pending access log goes in before pulling, as its own commit.
    vault.commit_access_log()
    _git(root, "fetch", "--quiet", network=True)
    upstream = _git(root, "rev-parse", "--abbrev-ref", "@{u}", check=False)
    if upstream.returncode != 0:
        branch = _git(root, "rev-parse", "--abbrev-ref", "HEAD").stdout.decode().strip()
        remote = _git(root, "remote").stdout.decode().split()[0]
        if _git(root, "rev-parse", "--verify", "-q", f"{remote}/{branch}", check=False).returncode != 0:
            outgoing = _changes(root, "HEAD")
            if push:
                _git(root, "push", "-q", "-u", remote, branch, network=True, hooks=True)
            return SyncReport(Changes(), outgoing, push)
        _git(root, "branch", "-q", f"--set-upstream-to={remote}/{branch}")
    incoming = _changes(root, "HEAD..@{u}")
    rebased = _git(root, "-c", "rebase.autoStash=false", "rebase", "-q", "@{u}", check=False)
    if rebased.returncode != 0:
        conflicts.settle(vault)  # finishes the rebase, or raises naming what a person must choose
    vault.invalidate()
    if vault.stale():
        vault.reencrypt()
    outgoing = _changes(root, "@{u}..HEAD")
    if push and outgoing.commits:
        _git(root, "push", "-q", network=True, hooks=True)
    return SyncReport(incoming, outgoing, push)


def resolve(vault: Vault, key: str, *, side: str) -> None:
    """Settle a conflict: ``ours`` is always your local value, ``theirs`` the incoming one."""

    root = vault.root
    rel = keys.secret_path(keys.validate_key(key))
    pending = conflicts.load(root)
    if rel not in pending:
        raise NotFoundError(f"no conflict on {key}", hint="secretctl sync names the conflicted keys")
    chosen = pending[rel]["local" if side == "ours" else "incoming"]
    target = root / rel
    if chosen is None:
        store.remove(target)
        store.remove(root / keys.meta_path(key))
        _git(root, "rm", "-q", "--cached", "--ignore-unmatch", rel, keys.meta_path(key))
    else:
        value = vault.unlock().decrypt(base64.b64decode(chosen), source=rel)
        _, rfile = vault.encryption_recipients(key)
        store.atomic_write(target, crypto.encrypt(value, rfile.recipients))
        _git(root, "add", rel)
        if (root / keys.meta_path(key)).exists():
            _git(root, "add", keys.meta_path(key))
    del pending[rel]
    conflicts.save(root, pending)
    if not pending and conflicts.rebasing(root):
        # All settled: let the rebase go on; the next commit may stop again (named as by sync).
        try:
            conflicts.settle(vault)
        except ConflictError as exc:
            raise ConflictError(f"more conflicts in the next commit: {exc.message}", hint=exc.hint) from None


# -------------------------------------------------------------------- hooks
HOOK_MARK = "# Installed by `secretctl hook install`"  # how _foreign_hook knows our own hooks
HOOK_SCRIPT = "#!/bin/sh\n" + HOOK_MARK + """: refuse plaintext and malformed files in the vault.
if command -v secretctl >/dev/null 2>&1; then exec secretctl hook {name} "$@"; fi
exec {fallback} hook {name} "$@"
"""
BACKUP_SUFFIX = ".before-secretctl"


def install_hooks(root: Path, *, force: bool = False) -> list[str]:
    """Write the pre-commit and pre-push hooks where git runs them: the repository's hooks folder,
    which a linked work tree (`git worktree add`) shares with the main one. A hook someone else
    wrote is never overwritten: refused, or with ``force`` kept beside as ``<name>.before-secretctl``."""
    configured = _git(root, "config", "--get", "core.hooksPath", check=False).stdout.decode(errors="replace").strip()
    if configured:
        raise UsageError(f"git runs this repository's hooks from core.hooksPath ({configured[:200]})",
                         hint="call `secretctl hook pre-commit` and `secretctl hook pre-push \"$@\"` from the hooks "
                              "there, or unset core.hooksPath and run secretctl hook install again")
    hooks = gitrepo.common_dir(root) / "hooks"
    hooks.mkdir(parents=True, exist_ok=True)
    out: list[str] = []
    import shlex
    import shutil
    import sys

    # The secretctl that installed the hook, for shells whose PATH does not have it (GUI git clients).
    fallback = shutil.which("secretctl") or str(Path(sys.argv[0]).resolve())
    foreign = [hooks / name for name in ("pre-commit", "pre-push") if _foreign_hook(hooks / name)]
    if foreign and not force:
        names = ", ".join(str(p) for p in foreign)
        raise UsageError(f"a hook secretctl did not write is in the way: {names}",
                         hint="call `secretctl hook pre-commit` / `secretctl hook pre-push \"$@\"` from it, or "
                              f"run `secretctl hook install --force` to keep it as <name>{BACKUP_SUFFIX} and "
                              "install ours")
    moves = [(path, path.with_name(path.name + BACKUP_SUFFIX)) for path in foreign]
    for _, backup in moves:  # every check before the first change on disk
        if backup.exists():
            raise UsageError(f"{backup} exists already", hint="move it away, then run this again")
    for path, backup in moves:
        path.rename(backup)
        out.append(str(backup))
    for name in ("pre-commit", "pre-push"):
        path = hooks / name
        store.atomic_write(path, HOOK_SCRIPT.format(name=name, fallback=shlex.quote(fallback)).encode(), mode=0o755)
        out.append(str(path))
    return out


def _foreign_hook(path: Path) -> bool:
    try:
        text = path.read_bytes()[:4096]
    except FileNotFoundError:
        return False
    except OSError:
        return True  # unreadable: not ours to replace
    return HOOK_MARK.encode() not in text


# ------------------------------------------------------------------- scan
@dataclass(frozen=True)
class ScanHit:
    path: str
    line: int
    key: str


def scan(vault: Vault, paths: Iterable[Path]) -> list[ScanHit]:
    """Find vault values in other files (an app repo's pre-commit): file, line and key only."""

    redactor = values_redactor(vault)
    hits: list[ScanHit] = []
    for top in paths:
        files = [top] if top.is_file() else [p for p in sorted(top.rglob("*"))
                                            if p.is_file() and ".git" not in p.relative_to(top).parts]
        for f in files:
            try:
                data = f.read_bytes()
            except OSError:
                continue
            if len(data) > 64 * 1024 * 1024:
                continue
            for m in redactor.find(data):
                if m.label == "credential":
                    continue
                hits.append(ScanHit(str(f), data.count(b"\n", 0, m.start) + 1, m.label))
    return hits


# ------------------------------------------------------------- clone/backup
def clone(url: str, dest: Path) -> Path:
    if dest.exists() and any(dest.iterdir()):
        raise UsageError(f"{dest} is not empty", hint="pick a new directory")
    dest.parent.mkdir(parents=True, exist_ok=True)
    proc = gitrepo.clone(url, dest)
    if proc.returncode != 0:
        last = (proc.stderr.decode(errors="replace").strip().splitlines() or ["failed"])[-1]
        raise ConflictError(f"git clone failed: {last[:200]}")
    gitrepo.configure_repo(dest)  # configured by the clone itself: one look at its config
    return dest


def backup(vault: Vault, output: Path) -> int:
    """A git bundle of the whole history, encrypted to the root recipients."""
    import tempfile


    vault.require()
    with tempfile.TemporaryDirectory() as tmp:
        # The bundle holds only what git holds: ciphertexts and sidecars, never plaintext.
        bundle = Path(tmp) / "vault.bundle"
        _git(vault.root, "bundle", "create", "-q", str(bundle), "--all")
        data = bundle.read_bytes()
    _, rfile = vault.encryption_recipients("x")
    store.atomic_write(output, crypto.encrypt(Secret(data), rfile.recipients), mode=0o600)
    return len(data)


def restore(vault_identity: Any, source: Path, dest: Path | None, *, verify_only: bool) -> str:
    import tempfile

    data = store.read_limited(source, 4 * 1024 * 1024 * 1024, what="backup")
    bundle_bytes = vault_identity.decrypt(data, source=str(source)).reveal()
    with tempfile.TemporaryDirectory() as tmp:
        bundle = Path(tmp) / "vault.bundle"
        bundle.write_bytes(bundle_bytes)
        # `git bundle verify` needs a repository to run in: an empty one will do (a full
        # bundle has no prerequisites).
        gitrepo.git(Path(tmp), "init", "-q", "check")
        proc = gitrepo.git(Path(tmp) / "check", "bundle", "verify", str(bundle), check=False)
        if proc.returncode != 0:
            raise VaultCorruptError(f"{source}: not a valid vault backup")
        if verify_only:
            return "backup verified"
        if dest is None:
            raise UsageError("restore needs a directory", hint="secretctl restore FILE DIR")
        clone(str(bundle), dest)
        _git(dest, "remote", "remove", "origin", check=False)
    return f"restored into {dest}"


# -------------------------------------------------------------------- audit
@dataclass(frozen=True)
class AuditEvent:
    ts: str
    actor: str
    action: str
    keys: tuple[str, ...]
    source: str  # "commit <id>" or "access log"
    detail: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"ts": self.ts, "actor": self.actor, "action": self.action, "keys": list(self.keys),
                "source": self.source, **self.detail}


def audit_events(vault: Vault) -> list[AuditEvent]:
    """Mutations from the history (trailers) and accesses from every member's log, by time."""

    root = vault.root
    events: list[AuditEvent] = []
    log = _git(root, "log", "--format=%H%x00%cI%x00%B%x1e").stdout.decode(errors="replace")
    for raw in log.split("\x1e"):
        entry = raw.strip("\n")
        if not entry:
            continue
        sha, ts, body = entry.split("\x00", 2)
        t = parse_trailers(body)
        if t is None:
            continue
        events.append(AuditEvent(_utc(ts), t.actor.split(" <")[0], t.action, t.keys, f"commit {sha[:12]}",
                                 {"summary": body.split("\n", 1)[0]}))
    logs = sorted((root / ".secretctl" / "audit").glob("*.jsonl")) if (root / ".secretctl/audit").is_dir() else []
    pending = vault.pending_log_paths()
    for path in [*logs, *pending]:
        if not path.exists():
            continue
        data = path.read_bytes()
        if path in pending:
            records = []
            for line in data.splitlines():
                try:

                    records.append(record_from_json(json.loads(line)))
                except (ValueError, SecretctlError):
                    continue
            source = "access log (not yet committed)"
        else:
            records = parse_log(data, source=str(path.relative_to(root)))
            source = "access log"
        for r in records:
            events.append(AuditEvent(r.ts, r.actor, r.action, r.keys, source,
                                     {k: list(v) if isinstance(v, tuple) else v for k, v in r.extra}))
    events.sort(key=lambda e: e.ts)
    return events


def _utc(iso: str) -> str:
    from datetime import UTC, datetime

    return datetime.fromisoformat(iso).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def audit_verify(vault: Vault) -> list[str]:
    """Problems: a broken hash chain, commits that changed the vault without secretctl's trailers
    (edits by hand), and every change to a recipients file (listed for review)."""

    root = vault.root
    problems: list[str] = []

    heads: dict[str, str] = {}
    for line in _git(root, "log", "--format=%B").stdout.decode(errors="replace").splitlines():
        if line.startswith("Secretctl-Audit-Head: "):
            parts = line.split()
            if len(parts) == 3:
                heads.setdefault(parts[1], parts[2])  # newest first: keep the latest
    audit_dir = root / ".secretctl" / "audit"
    for path in sorted(audit_dir.glob("*.jsonl")) if audit_dir.is_dir() else []:
        rel = str(path.relative_to(root))
        data = path.read_bytes()
        try:
            verify_chain(data, source=rel)
        except SecretctlError as exc:
            problems.append(exc.message)
            continue
        lines = data.splitlines(keepends=True)
        if rel in heads and (not lines or line_hash(lines[-1]) != heads[rel]):
            problems.append(f"{rel}: hash chain broken: the log does not end where its last secretctl commit "
                            "left it (edited, truncated or extended by hand)")
    log = _git(root, "log", "--format=%x1e%H%x00%an%x00%B%x00", "--name-only").stdout.decode(errors="replace")
    for entry in log.split("\x1e"):
        if not entry.strip():
            continue
        sha, author, body, files = entry.split("\x00", 3)
        paths = [f for f in files.split("\n") if f.strip()]
        if parse_trailers(body) is None and paths:
            problems.append(f"commit {sha[:12]} by {author} changed the vault without secretctl "
                            f"({', '.join(paths[:3])}{' ...' if len(paths) > 3 else ''})")
        rec = [p for p in paths if p.endswith(".age-recipients")]
        if rec and parse_trailers(body) is None:
            problems.append(f"commit {sha[:12]} by {author} changed recipients by hand: {', '.join(rec)}")
    return problems
