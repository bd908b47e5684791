"""`pinback sandbox`: the local AWS emulator and database of ``daemon.devtools``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, TypeVar

import click

from daemon.cli.common import Failure, config_option

T = TypeVar("T")


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
    """Run a local AWS emulator + SQLite databases seeded like the ROLLBACK.md service, once
    for each environment of the config (under the names each environment gives)."""
    try:
        from daemon.devtools.sandbox import run_sandbox
    except ImportError:
        raise Failure("the sandbox needs moto: pip install 'pinback[sandbox]'") from None
    from daemon.spec import load_config

    loaded = load_config(config_path)
    environments: list[str | None] = [*loaded.environments] or [None]
    seeds = [seed_for(loaded.select(name), name) for name in environments]
    click.echo(
        f"Starting the sandbox (AWS emulator on 127.0.0.1:{port}); Ctrl-C stops it.", err=True
    )
    anchor = loaded.model.audit.anchor
    run_sandbox(
        folder,
        port,
        seeds,
        sys.stdout,
        {"PINBACK_CONFIG": str(config_path)},
        anchor.bucket if anchor is not None else None,
    )


def seed_for(config: Any, environment: str | None) -> Any:
    """What to seed for one environment: the names its targets use (the first target of
    each kind), its database and the variables its config reads."""
    from daemon.devtools.sandbox import Names, Seed
    from daemon.spec import AlembicTarget, EcsTarget, FrontendTarget, LambdaTarget

    targets = list(config.model.targets.values())

    def first(kind: type[T]) -> T:
        found = next((t for t in targets if isinstance(t, kind)), None)
        if found is None:
            where = f" (environment {environment})" if environment else ""
            raise Failure(f"{config.path}{where} has no {kind.__name__} to seed")
        return found

    site, service, worker, database = (
        first(FrontendTarget),
        first(EcsTarget),
        first(LambdaTarget),
        first(AlembicTarget),
    )
    names = Names(
        bucket=site.bucket,
        artifacts_bucket=site.artifacts.removeprefix("s3://").split("/", 1)[0],
        cluster=service.cluster,
        service=service.service,
        function=worker.function,
        repository=worker.repository,
    )
    return Seed(
        names,
        config.resolve(database.script_location),
        f"{environment or 'app'}.db",
        database.url_env,
        site.distribution_id_env or "CLOUDFRONT_DISTRIBUTION_ID",
    )
