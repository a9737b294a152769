"""identity new / show / import: the member's own key."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from secretctl.cli.common import emit_json, info, new_password
from secretctl.cli.options import JsonOpt
from secretctl.errors import NotFoundError
from secretctl.service import settings

identity_app = typer.Typer(help="Your identity: the private key that decrypts secrets shared with you.",
                           no_args_is_help=True)


@identity_app.command("new")
def identity_new(
    no_passphrase: Annotated[bool, typer.Option("--no-passphrase", help="Store the key unprotected "
                                                "(automation, CI).")] = False,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing identity (you lose its access).")]
    = False,
) -> None:
    """Create an identity protected by your master password ($SECRETCTL_PASSWORD or a prompt)."""
    from secretctl.service import identity

    path = settings.identity_path()
    recipient = identity.create(path, passphrase=new_password(no_passphrase), force=force)
    info(f"identity written to {path}")
    info("share this recipient with your team:")
    sys.stdout.write(recipient + "\n")


@identity_app.command("show")
def identity_show(json_out: Annotated[bool, JsonOpt] = False) -> None:
    """Print your recipient (public key) to share with the team."""
    from secretctl.service import identity

    path = settings.identity_path()
    recipient = identity.public_recipient(path)
    if recipient is None:
        if not path.exists():
            raise NotFoundError(f"no identity at {path}", hint="create one: secretctl identity new")
        from secretctl.cli.common import unlocked_identity

        recipient = unlocked_identity().recipient
    if json_out:
        emit_json({"recipient": recipient, "path": str(path),
                   "protected": identity.is_protected(path.read_bytes())})
    else:
        sys.stdout.write(recipient + "\n")


@identity_app.command("passwd")
def identity_passwd(
    no_passphrase: Annotated[bool, typer.Option("--no-passphrase", help="Remove the password (automation, CI).")]
    = False,
) -> None:
    """Change your master password: the identity file is re-encrypted in place (atomically); the key,
    and so your access, stay the same. The current password comes from $SECRETCTL_PASSWORD or a
    prompt; the new one is asked twice on a terminal, or read from stdin (one line)."""
    from secretctl.cli.common import password_source, read_new_password
    from secretctl.service import identity

    path = settings.identity_path()
    if not path.exists():
        raise NotFoundError(f"no identity at {path}", hint="create one: secretctl identity new")
    new = None if no_passphrase else read_new_password()
    identity.change_password(path, password_source, new)
    info(f"password {'removed from' if new is None else 'changed for'} {path}")
    from secretctl.service import oskeyring

    if oskeyring.forget(path):  # kept by `unlock --keyring`: it is stale now
        info("removed the old passphrase from the OS keyring (`unlock --keyring` keeps the new one)")


@identity_app.command("import")
def identity_import(
    file: Annotated[Path, typer.Argument(help="An age key file (age-keygen) or an OpenSSH ed25519 private key.")],
    no_passphrase: Annotated[bool, typer.Option("--no-passphrase", help="Store it unprotected.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing identity.")] = False,
) -> None:
    """Use an existing key as your identity (stored protected by your master password)."""
    from secretctl.service import identity

    path = settings.identity_path()
    recipient = identity.import_key(file, path, passphrase=new_password(no_passphrase), force=force)
    info(f"identity imported to {path}")
    sys.stdout.write(recipient + "\n")


def register(app: typer.Typer) -> None:
    app.add_typer(identity_app, name="identity")
