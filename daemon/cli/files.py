"""`pinback validate` and `pinback schema`: the two files, checked and described."""

from __future__ import annotations

from pathlib import Path

import click

from daemon.cli.common import (
    Failure,
    chosen_env,
    common,
    emit_json,
)
from daemon.errors import SpecError


@click.command()
@common
def validate(config_path: Path, state_path: Path | None) -> None:
    """Check both files (every environment's pin file, without --env); list every error
    with file, line and column."""
    from daemon.spec import installed, load_config, load_desired

    issues: list[str] = []
    checked: list[str] = []
    config = None
    try:
        config = load_config(config_path)
    except SpecError as exc:
        issues.extend(str(i) for i in exc.issues)
    if config is not None:
        wanted = chosen_env()
        every = config.environments if wanted is None and len(config.environments) > 1 else None
        if every and state_path is not None:
            raise Failure("--state names one pin file: give --env with it")
        for view in [config.select(n) for n in every] if every else [config.select(wanted)]:
            path = state_path or view.state_path
            try:
                desired = load_desired(path, view)
            except SpecError as exc:
                issues.extend(str(i) for i in exc.issues)
                continue
            where = f" for {view.environment}" if view.environment else ""
            checked.append(f"{path} ({len(desired.pins)} pins{where})")
    if issues:
        for issue in issues:
            click.echo(issue, err=True)
        raise SystemExit(1)
    assert config is not None
    click.echo(
        f"valid: {config_path} ({len(config.model.targets)} targets) and {', '.join(checked)}"
    )
    for why in installed().broken.values():  # unused here: a target of its kind fails above
        click.echo(f"warning: {why}", err=True)


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
