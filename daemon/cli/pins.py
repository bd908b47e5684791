"""`pinback versions` and `pinback rollback`: what a target can be set to, and rewriting its
pin in place (the rewriting itself is ``daemon.cli.rollback``)."""

from __future__ import annotations

from pathlib import Path

import click

from daemon.cli.common import (
    Failure,
    audit_for,
    common,
    complete_targets,
    config_for,
    emit_json,
    engine_for,
    load,
    output_option,
    parse_moment,
)


@click.command()
@common
@output_option
@click.argument("target", shell_complete=complete_targets)
@click.option(
    "-n",
    "limit",
    default=10,
    show_default=True,
    type=click.IntRange(1, 1000),
    help="How many versions.",
)
def versions(
    config_path: Path, state_path: Path | None, output: str, target: str, limit: int
) -> None:
    """What TARGET can be set to, newest first (* marks the live one; an older version a
    rollback could not reach now says why: NOT READY)."""
    from daemon.views import render

    config = config_for(config_path)
    # Audited: the trail names what the target ran that AWS no longer lists.
    found = engine_for(config, audited=True).versions(target, limit, checked=limit)
    if output == "json":
        emit_json({"target": target, "versions": [v.as_json() for v in found]})
    else:
        click.echo(render.versions_text(target, found))


@click.command()
@common
@click.argument("target", required=False, shell_complete=complete_targets)
@click.option(
    "--steps", type=click.IntRange(1, 1000), help="Go back this many versions from the current pin."
)
@click.option("--to", "to", help="Pin this version (a prefix is enough when unique).")
@click.option(
    "--last-good",
    is_flag=True,
    help="Every target back to the last moment all were in sync and none held or failing.",
)
@click.option(
    "--before", help="With --last-good: the last good moment before this (2h, or a time)."
)
@click.option("--deny", is_flag=True, help="Also deny the version being left (deny: in the pin).")
@click.option("--reason", help="Why, recorded in the pin and the audit trail (e.g. INC-231).")
@click.option("--commit", "make_commit", is_flag=True, help="Make a git commit of the pin file.")
def rollback(
    config_path: Path,
    state_path: Path | None,
    target: str | None,
    steps: int | None,
    to: str | None,
    last_good: bool,
    before: str | None,
    deny: bool,
    reason: str | None,
    make_commit: bool,
) -> None:
    """Rewrite TARGET's pin in place (comments kept) to an older version, or with
    --last-good every target's; --commit commits it."""
    from daemon.cli import rollback as rb

    config, desired = load(config_path, state_path)
    if last_good:
        if target is not None or steps is not None or to is not None:
            raise Failure("--last-good takes no TARGET, --steps or --to: it sets every target")
        moment, chosen = rb.last_good_versions(
            audit_for(config), config, desired, parse_moment(before), before
        )
        click.echo(f"last good: {moment.ts} (audit record {moment.seq})")
        if not chosen:
            click.echo("every pin is already at its version then; nothing to change")
            return
    else:
        if before is not None:
            raise Failure("--before goes with --last-good")
        if target is None or (steps is None) == (to is None):
            raise Failure(
                "give TARGET and exactly one of --steps N or --to VERSION (or --last-good)"
            )
        pin = desired.pins.get(target)
        versions = engine_for(config, audited=True).versions(target, 1000)
        chosen = {target: rb.choose(target, versions, pin.version if pin else None, steps, to)}
    what = "last good" if last_good else "rollback"
    for line in rb.write(config, desired, chosen, reason, deny, make_commit, what):
        click.echo(line)
