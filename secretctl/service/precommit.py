"""The pre-commit check and `check` (service layer): what is staged, or a commit's whole tree,
against core/hookcheck's rules.

git runs the hook on every commit of a vault, so this module imports only what the check needs
(not service/team's sync, merges and audit), and the hook reads only what the commit changes:
`git diff --cached --raw` names the changed entries with their blob ids, and one `cat-file`
reads those blobs, the recipients files that could govern them and the policy, by their index
paths (``:path``). The index itself (20,000 entries on a 10,000-secret vault) is never listed.
"""

from __future__ import annotations

from secretctl.core.hookcheck import (
    POLICY,
    StagedFile,
    check_files,
    governing,
    policy_scripts,
    reads_values,
    recipients_candidates,
)
from secretctl.errors import SecretctlError
from secretctl.infra import detcache, gitobjects, gitrepo, settings
from secretctl.infra import identity as identity_mod
from secretctl.service import keywalk
from secretctl.service.allvalues import values_redactor

TYPE_CHECKING = False
if TYPE_CHECKING:  # importing typing costs every hook ~3 ms: for mypy only
    from pathlib import Path

    from secretctl.core.hookcheck import Problem
    from secretctl.service.vault import Vault

# The hook checks staged text for current values on its own (``deep=None``) when that costs no
# prompt and the vault is small enough to decrypt whole.
AUTO_DEEP_MAX = 1000
_DELETED = "0" * 40


def check_staged(vault: Vault, *, deep: bool | None) -> list[Problem]:
    """The pre-commit check: the staged files that differ from HEAD. ``deep`` True checks plain
    text for current values, False never, None when :func:`cheap_to_decrypt` says so; either
    way the values are decrypted only when a staged file is one the value check reads."""
    detcache.install()  # the detectors' compiled set from the cache (as `run` and the MCP server)
    root = vault.root
    entries = _staged_changes(root)
    if entries is None:  # an unmerged path: its stages, as `check` lists them
        changed = set(gitrepo.git(root, "diff", "--cached", "--name-only", "-z", "--no-renames").stdout
                      .decode().split("\0"))
        entries = [e for e in _ls(root, staged=True) if e[2] in changed]
    names = [sha for _, sha, _ in entries] + [f":{POLICY}"]
    names += [f":{rp}" for _, _, path in entries for rp in recipients_candidates(path)]
    objects = gitobjects.read_objects(root, names)
    files = [StagedFile(p, mode, objects.get(sha, b"")) for mode, sha, p in entries]
    want_values = deep is not False and any(reads_values(f.mode, f.path) for f in files)
    redactor = values_redactor(vault) if want_values and (deep or cheap_to_decrypt(vault)) else None
    return check_files(files, recipients_for=governing(lambda rp: objects.get(f":{rp}")), redactor=redactor,
                       script_paths=policy_scripts(objects.get(f":{POLICY}")))


def check_tree(vault: Vault, *, staged: bool, deep: bool, rev: str = "HEAD") -> list[Problem]:
    """`check --all`: every file of the index (``staged``) or of commit ``rev``."""
    detcache.install()
    root = vault.root
    entries = _ls(root, staged=staged, rev=rev)
    by_path = {p: sha for _, sha, p in entries}
    blobs = gitobjects.read_objects(root, [sha for _, sha, _ in entries])  # the recipients files among them
    files = [StagedFile(p, mode, blobs.get(sha, b"")) for mode, sha, p in entries]
    redactor = values_redactor(vault) if deep and any(reads_values(f.mode, f.path) for f in files) else None
    policy = by_path.get(POLICY)
    return check_files(files, recipients_for=governing(lambda rp: blobs.get(by_path.get(rp, ""))),
                       redactor=redactor, script_paths=policy_scripts(None if policy is None else blobs.get(policy)))


def cheap_to_decrypt(vault: Vault) -> bool:
    """Whether the identity opens without asking anyone, in a vault small enough to decrypt whole."""
    try:
        if (identity_mod.is_protected(vault.identity_path.read_bytes()) and not settings.get(settings.ENV_PASSWORD)
                and vault.agent_identity() is None):
            return False
        return keywalk.count_upto(str(vault.root), AUTO_DEEP_MAX) <= AUTO_DEEP_MAX
    except (OSError, SecretctlError):
        return False


def _staged_changes(root: Path) -> list[tuple[str, str, str]] | None:
    """(mode, blob id, path) of each staged addition or change against HEAD (deletions leave
    nothing to check); None when a path is unmerged."""
    raw = gitrepo.git(root, "diff", "--cached", "--raw", "-z", "--no-renames", "--no-abbrev").stdout
    fields = raw.split(b"\0")
    out = []
    for head, path in zip(fields[0:-1:2], fields[1::2], strict=True):
        # ":old-mode new-mode old-id new-id status"
        _, mode, _, sha, status = head.decode().split(" ")
        if status == "U":
            return None
        if status != "D":
            out.append((mode, sha, path.decode()))
    return out


def _ls(root: Path, *, staged: bool, rev: str = "HEAD") -> list[tuple[str, str, str]]:
    """(mode, blob id, path) of the staged index, or of a commit's tree."""
    # `ls-files -s` prints "mode sha stage\tpath", `ls-tree` prints "mode type sha\tpath".
    raw, sha_field = ((gitrepo.git(root, "ls-files", "-s", "-z").stdout, 1) if staged
                      else (gitrepo.git(root, "ls-tree", "-r", "-z", rev).stdout, 2))
    out = []
    for entry in raw.split(b"\0"):
        if entry:
            meta, _, path = entry.partition(b"\t")
            fields = meta.decode().split()
            out.append((fields[0], fields[sha_field], path.decode()))
    return out
