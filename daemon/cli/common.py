"""What every verb shares: the options, loading the files, the engine and the audit trail,
reading a time, printing progress and JSON, and finding the controller that runs the same
files."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from daemon.core.redact import redact

F = TypeVar("F", bound=Callable[..., Any])


DEFAULT_CONFIG = "config/pinback.yaml"


class Failure(click.ClickException):
    """A usage or input error, printed as one sentence with exit 1."""

    exit_code = 1


def config_option(func: F) -> F:
    return click.option(
        "--config",
        "config_path",
        envvar="PINBACK_CONFIG",
        default=DEFAULT_CONFIG,
        show_default=True,
        type=click.Path(path_type=Path),
        help="The config file.",
    )(func)


ENV_KEY = "pinback.env"


def _remember_env(ctx: click.Context, _: click.Parameter, value: str | None) -> None:
    ctx.meta[ENV_KEY] = value


def _config_named(ctx: click.Context) -> Any:
    """The config a command line being completed names (``--config``, else the default),
    or None when it cannot be read: completion never prints an error."""
    from daemon.spec import load_config

    named = ctx.params.get("config_path") or DEFAULT_CONFIG
    try:
        return load_config(Path(named))
    except Exception:  # any failure: offer nothing
        return None


def complete_targets(ctx: click.Context, _: click.Parameter, incomplete: str) -> list[str]:
    """Shell completion of a target name, from the config."""
    config = _config_named(ctx)
    names = list(config.model.targets) if config is not None else []
    return [n for n in names if n.startswith(incomplete)]


def complete_environments(ctx: click.Context, _: click.Parameter, incomplete: str) -> list[str]:
    """Shell completion of an environment name, from the config."""
    config = _config_named(ctx)
    names = config.environments if config is not None else []
    return [n for n in names if n.startswith(incomplete)]


def common(func: F) -> F:
    func = click.option(
        "--env",
        envvar="PINBACK_ENV",
        expose_value=False,
        callback=_remember_env,
        shell_complete=complete_environments,
        help="The environment (required when the config declares several).",
    )(func)
    func = click.option(
        "--state",
        "state_path",
        envvar="PINBACK_STATE",
        type=click.Path(path_type=Path),
        help="The pin file (default: desiredState.path of the config).",
    )(func)
    return config_option(func)


def output_option(func: F) -> F:
    """``-o text|json``, as most commands take it."""
    return outputs()(func)


def outputs(*more: str, help: str | None = None) -> Callable[[F], F]:
    """``-o`` with the usual two forms and ``more`` (``plan`` adds ``markdown``)."""
    return click.option(
        "-o",
        "--output",
        type=click.Choice(["text", "json", *more]),
        default="text",
        show_default=True,
        help=help,
    )


def chosen_env() -> str | None:
    """The ``--env`` of the command being run."""
    return click.get_current_context().meta.get(ENV_KEY)


def config_for(config_path: Path) -> Any:
    """The config as the command's environment sees it (``--env``)."""
    from daemon.spec import load_config

    return load_config(config_path).select(chosen_env())


def load(config_path: Path, state_path: Path | None) -> tuple[Any, Any]:
    from daemon.spec import load_desired

    config = config_for(config_path)
    return config, load_desired(state_path or config.state_path, config)


def engine_for(config: Any, audited: bool = False) -> Any:
    from daemon.engine.engine import Engine

    return Engine(config, audit=audit_for(config) if audited else None)


def audit_for(config: Any) -> Any:
    from daemon.adapters.audit import trail_for

    return trail_for(config)


def past_durations(config: Any, targets: list[str]) -> dict[str, tuple[float, int]]:
    """Median duration of each target's last 20 successful applies, and how many there were.

    An estimate is a courtesy: when the audit trail cannot be read, there is none.
    """
    import statistics

    from daemon.errors import AuditUnavailable

    if not targets:
        return {}
    try:
        recent = audit_for(config).recent_durations(targets)
    except (AuditUnavailable, OSError):
        return {}
    return {name: (statistics.median(found), len(found)) for name, found in recent.items()}


def parse_moment(text: str | None) -> dt.datetime | None:
    """``2h`` (that long ago), or an ISO time such as ``2026-11-27T09:00:00Z``."""
    if text is None:
        return None
    from daemon.core.durations import parse_duration

    try:
        return dt.datetime.now(dt.UTC) - dt.timedelta(seconds=parse_duration(text))
    except ValueError:
        pass
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise Failure(
            f"{text!r} is neither a duration (2h, 30m) nor a time (2026-11-27T09:00:00Z)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def progress_printer() -> Callable[[str, str], None]:
    lock = threading.Lock()

    def progress(target: str, message: str) -> None:
        stamp = dt.datetime.now().strftime("%H:%M:%S")
        with lock:
            click.echo(f"{stamp} [{target}] {redact(message)}", err=True)

    return progress


def emit_json(document: object) -> None:
    click.echo(json.dumps(document, indent=2, default=str))


def our_controller(config: Any, state_path: Path | None) -> Any:
    """What answers on ``daemon.listen`` (``daemon.controller.handover.Found``), or None."""
    from daemon.adapters import environment
    from daemon.controller import handover
    from daemon.spec import absolute

    pins = absolute(state_path or config.state_path)
    ours = handover.identity(config.path, pins, config.path.read_bytes())
    token_env = config.model.daemon.api_token_env
    token = environment.named(token_env) if token_env else None
    return handover.find(config.model.daemon.listen, ours, token)
