"""`pinback validate` and `pinback schema`: the two files, checked and described."""

from __future__ import annotations

from pathlib import Path

import click

from daemon.cli.common import (
    common,
    emit_json,
)
from daemon.errors import SpecError


@click.command()
@common
def validate(config_path: Path, state_path: Path | None) -> None:
    """Check both files; list every error with file, line and column."""
    from daemon.spec import load_config, load_desired

    issues: list[str] = []
    config = None
    try:
        config = load_config(config_path)
    except SpecError as exc:
        issues.extend(str(i) for i in exc.issues)
    if config is not None:
        try:
            desired = load_desired(state_path or config.state_path, config)
        except SpecError as exc:
            issues.extend(str(i) for i in exc.issues)
    if issues:
        for issue in issues:
            click.echo(issue, err=True)
        raise SystemExit(1)
    assert config is not None
    click.echo(
        f"valid: {config_path} ({len(config.model.targets)} targets) and {state_path or config.state_path} ({len(desired.pins)} pins)"
    )


@click.command()
@click.option(
    "--file",
    "which",
    type=click.Choice(["both", "config", "state"]),
    default="both",
    show_default=True,
)
def schema(which: str) -> None:
    """JSON Schema of the config and the pin file, for editors."""
    from daemon.spec import json_schemas

    schemas = json_schemas()
    if which == "config":
        emit_json(schemas["config"])
    elif which == "state":
        emit_json(schemas["desiredVersions"])
    else:
        emit_json(schemas)
