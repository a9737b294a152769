"""migrate: bring an existing vault up to the current format, one commit per migration."""

from __future__ import annotations

from typing import Annotated

import typer

from secretctl.cli.common import emit_json, info, open_vault, warn
from secretctl.cli.options import JsonOpt

migrate_app = typer.Typer(help="Bring an existing vault up to the current format.", no_args_is_help=True)


@migrate_app.command("fields")
def migrate_fields(json_out: Annotated[bool, JsonOpt] = False) -> None:
    """Move every field value an old sidecar holds in plaintext into the encrypted file, in one
    commit, and name the secret values git history still holds (rotate them)."""
    from secretctl.service.migrate import migrate_fields as run

    out = run(open_vault())
    if json_out:
        emit_json(out.to_json())
        return
    if not out.moved and not out.commit:
        info("nothing to migrate: no sidecar holds a field value")
        return
    info(f"moved field values of {len(out.keys)} secret(s) into their encrypted files: {', '.join(out.keys)}")
    for key, names in out.rotate.items():
        warn(f"rotate {key} ({', '.join(names)}): git history still holds the old value in plaintext")
    if out.rotate:
        info("public fields that were in the sidecars (host names, ports...) need no rotation")


def register(app: typer.Typer) -> None:
    app.add_typer(migrate_app, name="migrate")
