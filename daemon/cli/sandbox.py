"""`pinback sandbox`: the local AWS emulator and database of ``daemon.devtools``."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from daemon.cli.common import (
    Failure,
    config_for,
    config_option,
)


@click.command()
@config_option
@click.option(
    "--port",
    default=4566,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port of the AWS emulator on 127.0.0.1 (0: any free port).",
)
@click.option(
    "--dir",
    "folder",
    default=".sandbox",
    show_default=True,
    type=click.Path(path_type=Path),
    help="Where the SQLite database and the env file go.",
)
def sandbox(config_path: Path, port: int, folder: Path) -> None:
    """Run a local AWS emulator + SQLite database seeded like the ROLLBACK.md service."""
    try:
        from daemon.devtools.sandbox import run_sandbox
    except ImportError:
        raise Failure("the sandbox needs moto: pip install 'pinback[sandbox]'") from None
    from daemon.spec import AlembicTarget

    config = config_for(config_path)
    locations = [
        config.resolve(t.script_location)
        for t in config.model.targets.values()
        if isinstance(t, AlembicTarget)
    ]
    if not locations:
        raise Failure(f"{config_path} has no alembic target to seed a database for")
    click.echo(
        f"Starting the sandbox (AWS emulator on 127.0.0.1:{port}); Ctrl-C stops it.", err=True
    )
    run_sandbox(folder, port, locations[0], sys.stdout)
