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
@click.option(
    "--no-anchors", is_flag=True, help="Check the hash chain alone, not against audit.anchor's."
)
@click.pass_obj
def verify(config_path: Path, no_anchors: bool) -> None:
    """Check the whole hash chain, then (with audit.anchor) that every anchor is in it: exit
    0 with the count, or 1 naming the first bad record or the anchor that disagrees."""
    from daemon.adapters.anchors import AnchorStore, check
    from daemon.errors import AnchorUnavailable
    from daemon.spec import load_config

    config = load_config(config_path)
    trail = audit_for(config)
    store = None if no_anchors else AnchorStore.of(config)
    try:
        # Listed before the trail is read: an anchor written meanwhile by a running
        # controller could cover records this read would not see.
        anchors = store.listed() if store is not None else []
    except AnchorUnavailable as exc:
        raise Failure(
            f"cannot read the audit anchors: {exc} (--no-anchors checks the chain alone)"
        ) from None
    count, bad, why = trail.verify()
    if bad is not None:
        where = f"seq {bad.seq}, {bad.ts}, {bad.event} {bad.target or ''}".rstrip()
        click.echo(f"pinback: the audit trail is broken: {why} ({where})", err=True)
        raise SystemExit(1)
    if store is None:
        click.echo(f"ok: {count} records, hash chain intact")
        return
    verdict = check(trail, anchors)
    if verdict.problem is not None:
        click.echo(f"pinback: the audit trail was {verdict.problem} ({store.where})", err=True)
        raise SystemExit(1)
    if verdict.newest is None:
        click.echo(f"ok: {count} records, hash chain intact; no anchor yet in {store.where}")
        return
    newest = verdict.newest
    click.echo(
        f"ok: {count} records, hash chain intact; {verdict.checked} "
        f"{'anchor agrees' if verdict.checked == 1 else 'anchors agree'} "
        f"(newest {newest.shown_time}, record {newest.seq})"
    )


@audit.command()
@click.pass_obj
def anchor(config_path: Path) -> None:
    """Write the chain's head to audit.anchor's bucket now (the controller does so every
    audit.anchor.every; this is for a trail written by one-shot commands alone)."""
    from daemon.adapters.anchors import AnchorStore, anchor_now
    from daemon.spec import load_config

    config = load_config(config_path)
    store = AnchorStore.of(config)
    if store is None:
        raise Failure("the config has no audit.anchor: nowhere to write an anchor")
    store.require_lock()
    trail = audit_for(config)
    written = store.write(anchor_now(trail), trail.controller)
    click.echo(
        f"anchored record {written.anchor.seq} at s3://{store.settings.bucket}/{written.key}"
    )


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
