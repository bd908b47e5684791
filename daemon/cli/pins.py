"""`pinback versions` and `pinback rollback`: what a target can be set to, and rewriting its
pin in place (the rewriting itself is ``daemon.cli.rollback``)."""

from __future__ import annotations

from pathlib import Path

import click

from daemon.cli.common import (
    Failure,
    common,
    emit_json,
    engine_for,
    load,
    output_option,
)


@click.command()
@common
@output_option
@click.argument("target")
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
    """What TARGET can be set to, newest first (* marks the live one)."""
    from daemon.spec import load_config
    from daemon.views import render

    config = load_config(config_path)
    found = engine_for(config).versions(target, limit)
    if output == "json":
        emit_json({"target": target, "versions": [v.as_json() for v in found]})
    else:
        click.echo(render.versions_text(target, found))


@click.command()
@common
@click.argument("target")
@click.option(
    "--steps", type=click.IntRange(1, 1000), help="Go back this many versions from the current pin."
)
@click.option("--to", "to", help="Pin this version (a prefix is enough when unique).")
@click.option("--reason", help="Why, recorded in the pin and the audit trail (e.g. INC-231).")
@click.option("--commit", "make_commit", is_flag=True, help="Make a git commit of the pin file.")
def rollback(
    config_path: Path,
    state_path: Path | None,
    target: str,
    steps: int | None,
    to: str | None,
    reason: str | None,
    make_commit: bool,
) -> None:
    """Rewrite TARGET's pin in place (comments kept) to an older version; --commit commits it."""
    from daemon.cli import rollback as rb

    if (steps is None) == (to is None):
        raise Failure("give exactly one of --steps N or --to VERSION")
    config, desired = load(config_path, state_path)
    engine = engine_for(config)
    pin = desired.pins.get(target)
    versions = engine.versions(target, 1000)
    chosen = rb.choose(target, versions, pin.version if pin else None, steps, to)
    before, _ = rb.rewrite(desired.path, config, target, chosen, reason)
    line = f"{target}: {before or '(unpinned)'} -> {chosen} in {desired.path}"
    if make_commit:
        message = f"pinback rollback: {target} {before or '(unpinned)'} -> {chosen}"
        if reason:
            message += f"\n\nReason: {reason}"
        line += f" (commit {rb.commit(desired.path, message)[:12]})"
    click.echo(line)
