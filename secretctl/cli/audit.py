"""audit list / verify / export: who changed or used what."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from secretctl.cli.common import emit_json, open_vault
from secretctl.cli.options import JsonOpt

audit_app = typer.Typer(help="The audit trail: git history plus every member's access log.", no_args_is_help=True)


def _events(key: str | None, since: str | None, action: list[str] | None, limit: int | None) -> list[object]:
    from secretctl.service import format_time, keys, parse_duration, team, utcnow

    events = team.audit_events(open_vault())
    if since:
        cutoff = format_time(utcnow() - parse_duration(since))
        events = [e for e in events if e.ts >= cutoff]
    if key:
        events = [e for e in events if any(keys.match_pattern(key, k) for k in e.keys)]
    if action:
        events = [e for e in events if any(e.action == a or e.action.startswith(a + ".") or
                                           e.action.endswith("." + a) for a in action)]
    if limit:
        events = events[-limit:]
    return list(events)


@audit_app.command("list")
def audit_list(
    key: Annotated[str | None, typer.Option("--key", help="Pattern of keys (aws/*, aws/**).")] = None,
    since: Annotated[str | None, typer.Option("--since", help="Only the last 7d, 12h, ...")] = None,
    action: Annotated[list[str] | None, typer.Option("--action", help="set, get, run, mcp.secret_run, ...")]
    = None,
    limit: Annotated[int | None, typer.Option("--limit", help="The most recent N.")] = None,
    json_out: Annotated[bool, JsonOpt] = False,
) -> None:
    """Mutations (from git) and accesses (from the logs), oldest first."""
    events = _events(key, since, action, limit)
    if json_out:
        emit_json([e.to_json() for e in events])  # type: ignore[attr-defined]
        return
    for e in events:
        keys = ", ".join(e.keys[:5]) + (" ..." if len(e.keys) > 5 else "")  # type: ignore[attr-defined]
        sys.stdout.write(f"{e.ts}  {e.actor:<12} {e.action:<24} {keys}\n")  # type: ignore[attr-defined]


@audit_app.command("verify")
def audit_verify() -> None:
    """Check every access log's hash chain and flag commits made by hand or touching recipients."""
    from secretctl.service import team

    problems = team.audit_verify(open_vault())
    for p in problems:
        sys.stderr.write(f"secretctl: audit: {p}\n")
    if problems:
        raise typer.Exit(1)
    sys.stderr.write("audit trail ok\n")


@audit_app.command("export")
def audit_export(
    fmt: Annotated[str, typer.Option("--format", help="csv or json.")] = "json",
    since: Annotated[str | None, typer.Option("--since", help="Only the last 7d, 12h, ...")] = None,
) -> None:
    """Every event, for a SIEM or a spreadsheet."""
    import csv

    from secretctl.errors import UsageError

    events = _events(None, since, None, None)
    if fmt == "json":
        emit_json([e.to_json() for e in events])  # type: ignore[attr-defined]
    elif fmt == "csv":
        w = csv.writer(sys.stdout)
        w.writerow(["ts", "actor", "action", "keys", "source"])
        for e in events:
            w.writerow([e.ts, e.actor, e.action, " ".join(e.keys), e.source])  # type: ignore[attr-defined]
    else:
        raise UsageError(f"unknown --format {fmt!r}", hint="use csv or json")


def register(app: typer.Typer) -> None:
    app.add_typer(audit_app, name="audit")
