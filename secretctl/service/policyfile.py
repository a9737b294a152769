"""Committing the agent policy (service layer): `secretctl policy commit`.

Agents get the committed policy only, so a policy edit must be committed; a plain `git commit`
has no trailers, and `audit verify` rightly calls it a change made without secretctl. This
commits `.secretctl/policy.yaml`, with the scripts it allows by path (`./deploy.sh` runs only
when byte-identical to its committed version), as one commit with the usual trailers, after
checking that the policy parses: a broken policy is refused before anything is committed.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import TYPE_CHECKING

from secretctl.core.policy import load_policy
from secretctl.errors import NotFoundError, UsageError
from secretctl.infra import gitrepo
from secretctl.service.results import PolicyCommitted

if TYPE_CHECKING:
    from secretctl.service.vault import Vault

POLICY_PATH = ".secretctl/policy.yaml"


def policy_scripts(allowed_commands: tuple[str, ...] | list[str]) -> list[str]:
    """Vault-relative paths of the scripts a policy allows by path (``./deploy.sh`` -> deploy.sh)."""
    out = []
    for c in allowed_commands:
        if "/" not in c or c.startswith("/"):
            continue
        p = PurePosixPath(c)
        if ".." in p.parts:
            continue  # outside the vault: nothing secretctl may commit
        out.append(p.as_posix())
    return out


def commit_policy(vault: Vault) -> PolicyCommitted:
    """Validate the policy on disk and commit it with the scripts it names; commit None when
    nothing changed."""
    vault.require()
    path = vault.root / POLICY_PATH
    if not path.is_file():
        raise NotFoundError(f"no {POLICY_PATH} to commit", hint="write one first: see docs/policy.md")
    policy = load_policy(path.read_bytes(), POLICY_PATH)  # PolicyError (exit 5) naming the line
    scripts = [s for s in policy_scripts(policy.allowed_commands) if (vault.root / s).is_file()]
    for s in scripts:
        if (vault.root / s).is_symlink():
            raise UsageError(f"{s} is a symlink", hint="commit the script itself: symlinks are refused in a vault")
    paths = [POLICY_PATH, *scripts]
    status = gitrepo.git(vault.root, "status", "--porcelain", "-z", "--untracked-files=all", "--", *paths)
    changed = [entry[3:] for entry in status.stdout.decode().split("\0") if len(entry) > 3]
    if not changed:
        return PolicyCommitted("policy", [], None, paths=[])
    with vault._mutation("policy"):
        commit = vault._commit("policy", [], changed, f"secretctl: commit policy ({', '.join(changed)})")
    return PolicyCommitted("policy", [], commit, paths=changed)
