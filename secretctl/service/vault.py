"""The vault service: every operation the front ends offer, implemented once.

A vault is a git repository. ``KEY.age`` holds the value (a plain age file: the ``age``
CLI decrypts it), ``KEY.meta.yaml`` its metadata, and the nearest ``.age-recipients``
going up from the file names who can read it. Every mutation takes the vault lock, writes
atomically and lands as exactly one commit with ``Secretctl-*`` trailers.

This package never prints and never exits; it returns data or raises SecretctlError."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from secretctl.core import audit
from secretctl.core.recipients import (
    RECIPIENTS_FILE,
    Recipient,
    RecipientsFile,
    parse_recipient,
    parse_recipients_file,
    validate_member_name,
)
from secretctl.errors import (
    UsageError,
)
from secretctl.infra import gitcommit, gitrepo, packagedata, store
from secretctl.service.base import CONFIG_FILE
from secretctl.service.health import Health
from secretctl.service.results import InitOutcome

TYPE_CHECKING = False  # typing costs every start ~3 ms to import: for mypy only

if TYPE_CHECKING:
    pass

class Vault(Health):
    """One open vault. Cheap to construct: nothing is read until needed."""


def git_user_name() -> str | None:
    """git's ``user.name`` outside any repository: the default member name of `init` and `clone`."""
    return gitrepo.user_name()


def init_vault(root: Path, *, recipient: str, name: str,
               template: Sequence[tuple[str, bytes]] | None = None) -> InitOutcome:
    """Create a vault at ``root`` (or adopt a passage store there) and make the first commit."""

    recip = parse_recipient(recipient, source="your identity")
    validate_member_name(name)
    root = root.absolute()
    created = not root.exists()
    try:
        return _init_vault(root, recip, name, template)
    except BaseException:
        # Fail closed: a half-made vault would be found by later commands.
        if created:
            import shutil

            shutil.rmtree(root, ignore_errors=True)
        raise


def _init_vault(root: Path, recip: Recipient, name: str,
                template: Sequence[tuple[str, bytes]] | None) -> InitOutcome:

    root.mkdir(parents=True, exist_ok=True)
    if (root / CONFIG_FILE).exists():
        raise UsageError(f"{root} is already a secretctl vault", hint="use it, or pick another directory")
    adopting = (root / RECIPIENTS_FILE).exists()
    if not adopting and any(p for p in root.iterdir() if p.name != ".git"):
        raise UsageError(f"{root} is not empty", hint="pick an empty or new directory, or a passage store to adopt")
    if template is None:

        template = packagedata.vault_template()
    written: list[str] = []
    for rel, data in template:
        dest = root / rel
        if dest.exists():
            continue
        store.atomic_write(dest, data)
        written.append(rel)
    if adopting:
        rfile = parse_recipients_file((root / RECIPIENTS_FILE).read_bytes(), source=RECIPIENTS_FILE)
        if not rfile.has(recip.text):
            rfile = rfile.with_added(name, recip)
            store.atomic_write(root / RECIPIENTS_FILE, rfile.render().encode())
    else:
        store.atomic_write(root / RECIPIENTS_FILE, RecipientsFile((Recipient(recip.text, recip.kind, name),))
                           .render().encode())
    written.append(RECIPIENTS_FILE)
    if not gitrepo.is_repo(root):
        gitrepo.init(root)

    gitrepo.configure_repo(root)
    trailers = audit.format_trailers("init", [], f"{name} <{recip.text}>")
    summary = "secretctl: adopt passage store" if adopting else "secretctl: create vault"
    commit = gitcommit.commit_paths(root, written, f"{summary}\n\n{trailers}\n", actor=name)
    return InitOutcome("init", [], commit, adopted=adopting)

