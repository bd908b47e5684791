"""`pinback audit`, `pinback audit verify` and `pinback report`: the audit trail read,
checked and summarised."""

from __future__ import annotations

import json
from pathlib import Path

import click

from daemon.cli.common import (
    Failure,
    audit_for,
    complete_targets,
    config_option,
    output_option,
    parse_moment,
)


@click.group(invoke_without_command=True)
@config_option
@click.option("--target", "-t", help="Only this target.", shell_complete=complete_targets)
@click.option(
    "--event", "-e", "event_name", help="Only this event (apply_failed, desired_changed, ...)."
)
@click.option("--since", help="From this long ago (2h) or this time (2026-11-27T09:00:00Z).")
@click.option("--until", help="Up to this long ago or this time.")
@output_option
@click.pass_context
def audit(
    ctx: click.Context,
    config_path: Path,
    target: str | None,
    event_name: str | None,
    since: str | None,
    until: str | None,
    output: str,
) -> None:
    """The audit trail, oldest first; `pinback audit verify` checks its hash chain."""
    ctx.obj = config_path
    if ctx.invoked_subcommand is not None:
        return
    from daemon.core.records import EVENTS
    from daemon.spec import load_config

    if event_name and event_name not in EVENTS:
        raise Failure(f"no event named {event_name!r} (events: {', '.join(EVENTS)})")
    log = audit_for(load_config(config_path))
    found = log.query(
        target=target, event_name=event_name, since=parse_moment(since), until=parse_moment(until)
    )
    for record in found:
        if output == "json":
            click.echo(json.dumps(record.as_json(), default=str))
        else:
            click.echo(
                f"{record.seq:>7} {record.ts[:19].replace('T', ' ')} {record.event:16} "
                f"{record.place or '-':12} "
                f"{record.live_before or '-'} -> {record.desired or '-'}"
                + (f"  by {record.actor}" if record.actor else "")
                + (f"  ({record.error or record.reason})" if record.error or record.reason else "")
            )


@audit.command()
@click.pass_obj
def verify(config_path: Path) -> None:
    """Check the whole hash chain: exit 0 with the count, or 1 naming the first bad record."""
    from daemon.spec import load_config

    count, bad, why = audit_for(load_config(config_path)).verify()
    if bad is not None:
        where = f"seq {bad.seq}, {bad.ts}, {bad.event} {bad.target or ''}".rstrip()
        click.echo(f"pinback: the audit trail is broken: {why} ({where})", err=True)
        raise SystemExit(1)
    click.echo(f"ok: {count} records, hash chain intact")


@click.command()
@config_option
@click.option("--since", help="From this long ago (2h) or this time.")
@click.option("--until", help="Up to this long ago or this time.")
def report(config_path: Path, since: str | None, until: str | None) -> None:
    """A Markdown incident timeline from the audit trail."""
    from daemon.spec import load_config
    from daemon.views.report import render

    start, end = parse_moment(since), parse_moment(until)
    found = audit_for(load_config(config_path)).query(since=start, until=end)
    click.echo(render(found, start, end), nl=False)
