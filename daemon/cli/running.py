"""`pinback run` (the controller and its HTTP endpoints) and `pinback status` (asked of the
running controller when there is one)."""

from __future__ import annotations

import faulthandler
import os
import signal
import sys
from pathlib import Path

import click

from daemon.cli.common import (
    Failure,
    chosen_env,
    common,
    config_for,
    emit_json,
    engine_for,
    load,
    our_controller,
    output_option,
)
from daemon.core.redact import redact


@click.command()
@common
@click.option("--listen", help="Serve HTTP here instead of daemon.listen (host:port; port 0: any).")
def run(config_path: Path, state_path: Path | None, listen: str | None) -> None:
    """The controller: keep live state at the pins until SIGTERM or SIGINT (every environment
    of the config, or --env's alone)."""
    from daemon.adapters import logs
    from daemon.adapters.logs import LogEvent
    from daemon.controller.fleet import Fleet
    from daemon.spec import installed
    from daemon.web.server import serve

    logs.configure()
    faulthandler.register(signal.SIGUSR1)  # `kill -USR1` prints every thread's stack to stderr
    from daemon.adapters import environment
    from daemon.web.guard import Policy

    controller = Fleet(config_path, state_path, chosen_env())
    settings = controller.first.config.model.daemon
    address = listen or settings.listen
    token = environment.named(settings.api_token_env) if settings.api_token_env else None
    origins = tuple(settings.allowed_origins)
    try:
        server = serve(controller, address, token, origins)
    except OSError as exc:
        raise Failure(f"cannot listen on {address}: {exc.strerror}") from None
    host, port = server.server_address[:2]
    if Policy.of(str(host), int(port), token).serves_only_open:
        logs.get().warning(
            LogEvent.LISTENER_OPEN_ONLY,
            listen=f"{host!s}:{port}",
            reason="not on a loopback address and no daemon.apiTokenEnv: serving /metrics, "
            "/healthz and /readyz only",
        )
    logs.get().info(
        LogEvent.CONTROLLER_STARTED,
        listen=f"{host!s}:{port}",
        config=str(config_path),
        pins=", ".join(str(c.state_path) for c in controller.controllers.values()),
    )
    for kind, why in installed().broken.items():  # unused by this config, or it would not load
        logs.get().warning(LogEvent.PLUGIN_UNUSABLE, kind=kind, error=why)
    stuck = controller.run_until_signalled()
    server.shutdown()
    if stuck:
        # A call hung past the grace period (a network that stopped answering). Exit anyway,
        # as a supervisor's SIGKILL would: every step is safe to cut, and waiting on the
        # thread pools at interpreter exit would leave a controller that never stops.
        faulthandler.dump_traceback(all_threads=True)  # what hung, for the incident review
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


@click.command()
@common
@output_option
def status(config_path: Path, state_path: Path | None, output: str) -> None:
    """Desired vs live vs last result, per target (from the running controller when there is one)."""
    from daemon.views import render
    from daemon.views.status import status_document

    found = our_controller(config_for(config_path), state_path)
    document = None
    if found is not None and found.ours:  # it can answer even while the pin file is invalid
        source = f"controller at {found.url.removeprefix('http://')}"
        document = {**found.mine(found.status), "source": source}
    elif found is not None:
        click.echo(f"pinback: not asking the controller at {found.url}: {found.why_not}", err=True)
    if document is None:
        config, desired = load(config_path, state_path)
        snapshot = engine_for(config).snapshot(desired)
        document = status_document(
            config,
            desired,
            snapshot.observed,
            {a.target: a for a in snapshot.plan.actions},
            set(snapshot.plan.in_sync),
        )
    rows = document["targets"]
    if output == "json":
        emit_json(document)
    else:
        click.echo(redact(render.status_text(rows)))
