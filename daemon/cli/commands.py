"""The ``pinback`` command: one short function per verb, parsing and printing only.

Every verb calls the same engine functions the controller uses. Errors reach the
person as one sentence on stderr with exit 1, never a traceback (set
``PINBACK_DEBUG=1`` to see one). Exit codes are part of the contract (DESIGN.md §5):
``plan`` exits 0 with no changes, 2 with changes, 1 on error.
"""

from __future__ import annotations

import datetime as dt
import faulthandler
import json
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from daemon.core.redact import redact
from daemon.errors import PinbackError, SpecError

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


def common(func: F) -> F:
    func = click.option(
        "--state",
        "state_path",
        envvar="PINBACK_STATE",
        type=click.Path(path_type=Path),
        help="The pin file (default: desiredState.path of the config).",
    )(func)
    return config_option(func)


def output_option(func: F) -> F:
    return click.option(
        "-o", "--output", type=click.Choice(["text", "json"]), default="text", show_default=True
    )(func)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="pinback")
def cli() -> None:
    """Keep deployed versions equal to the versions pinned in a file."""


# -- loading -----------------------------------------------------------------------


def load(config_path: Path, state_path: Path | None) -> tuple[Any, Any]:
    from daemon.spec import load_config, load_desired

    config = load_config(config_path)
    return config, load_desired(state_path or config.state_path, config)


def engine_for(config: Any, audited: bool = False) -> Any:
    from daemon.engine.engine import Engine

    return Engine(config, audit=audit_for(config) if audited else None)


def audit_for(config: Any) -> Any:
    from daemon.adapters.audit import AuditLog, resolve_url

    return AuditLog(resolve_url(config.audit_url(), config.base_dir))


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


# -- verbs -------------------------------------------------------------------------


@cli.command()
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


@cli.command()
@common
@output_option
@click.option("--target", "-t", help="Only this target.")
def plan(config_path: Path, state_path: Path | None, output: str, target: str | None) -> None:
    """Observe live state and show the ordered actions; exit 0 no changes, 2 changes, 1 error."""
    from daemon.views import render

    config, desired = load(config_path, state_path)
    snapshot = engine_for(config).snapshot(desired, target)
    estimates = past_durations(config, [a.target for a in snapshot.plan.actions])
    if output == "json":
        document = snapshot.plan.as_json()
        for action in document["actions"]:
            if action["target"] in estimates:
                seconds, count = estimates[action["target"]]
                action["estimate"] = {"seconds": round(seconds, 1), "basedOn": count}
        emit_json(document)
    else:
        click.echo(redact(render.plan_text(snapshot.plan, estimates)))
    if snapshot.plan.unobserved:
        raise SystemExit(1)
    raise SystemExit(2 if snapshot.plan.changes else 0)


@cli.command()
@common
@output_option
@click.option("--target", "-t", help="Only this target.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.option(
    "--local",
    is_flag=True,
    help="Apply from here even when a controller runs these files (it is down or stuck).",
)
def apply(
    config_path: Path,
    state_path: Path | None,
    output: str,
    target: str | None,
    yes: bool,
    local: bool,
) -> None:
    """Plan, confirm, apply in order, wait until each change has taken, verify.

    When a controller runs the same config and pin file, it makes the change: this asks it
    to reconcile now and follows it (one writer; --local applies from here instead)."""
    from daemon.adapters.attribution import attribute, local_actor
    from daemon.core.model import Outcome
    from daemon.engine.values import ApplyContext
    from daemon.views import render

    config, desired = load(config_path, state_path)
    engine = engine_for(config, audited=True)
    snapshot = engine.snapshot(desired, target)
    plan_ = snapshot.plan
    if output == "text":
        click.echo(redact(render.plan_text(plan_)))
    runnable = [a for a in plan_.actions if a.blocked is None]
    if runnable and not yes:
        if not sys.stdin.isatty():
            raise Failure(
                "refusing to apply without --yes: standard input is not a terminal to confirm on"
            )
        click.confirm(f"Apply {len(runnable)} change(s)?", abort=True, err=True)
    if runnable and not local:
        found = our_controller(config, state_path)
        if found is not None and found.ours:
            handed_over(config, desired, plan_, found, output)
        if found is not None:
            progress_printer()("controller", f"one answers at {found.url}, but {found.why_not}")
    notifier = notifier_for(config)
    if notifier is not None:
        engine.audit.listeners.append(notifier.on_record)
    pinned = attribute(desired.path)
    context = ApplyContext(actor=local_actor("apply"), pin_commit=pinned.commit if pinned else None)
    results = applied_here(config, engine, plan_, context) if plan_.actions else []
    if notifier is not None:
        notifier.drain(timeout=10.0)
    if output == "json":
        emit_json({**plan_.as_json(), "results": [r.as_json() for r in results]})
    elif results:
        click.echo("Results:")
        click.echo(redact(render.results_text(results)))
    bad = [r for r in results if r.outcome in (Outcome.FAILED, Outcome.BLOCKED)]
    raise SystemExit(1 if bad or plan_.unobserved else 0)


def applied_here(config: Any, engine: Any, plan_: Any, context: Any) -> list[Any]:
    """Apply ``plan_`` from this process, under its shards' leases when there are replicas."""
    from daemon.controller.oneshot_lease import leases_for
    from daemon.core import fencing

    runnable = [a.target for a in plan_.actions if a.blocked is None]
    with leases_for(config, runnable) as fence:
        engine.clients.fenced = fence is not None  # every mutating request confirms it
        token = fencing.current.set(fence)
        try:
            results: list[Any] = engine.apply(plan_, progress_printer(), context)
        finally:
            fencing.current.reset(token)
    return results


def our_controller(config: Any, state_path: Path | None) -> Any:
    """What answers on ``daemon.listen`` (``daemon.controller.handover.Found``), or None."""
    from daemon.controller import handover
    from daemon.spec import absolute

    pins = absolute(state_path or config.state_path)
    ours = handover.identity(config.path, pins, config.path.read_bytes())
    return handover.find(config.model.daemon.listen, ours)


def handed_over(config: Any, desired: Any, plan_: Any, found: Any, output: str) -> NoReturn:
    """Let the controller apply ``plan_`` and report as a local apply would."""
    from daemon.controller import handover

    targets = config.model.targets
    timeout = max(targets[a.target].timeout for a in plan_.actions) + 120
    pins = {a.target: desired.pins[a.target].version for a in plan_.actions}
    rows = handover.reconcile_and_follow(found, plan_, pins, timeout, progress_printer())
    if output == "json":
        results = [rows[a.target].get("lastResult") or rows[a.target] for a in plan_.actions]
        emit_json({**plan_.as_json(), "results": results, "appliedBy": found.url})
    else:
        click.echo(f"Results (applied by the controller at {found.url}):")
        for action in plan_.actions:
            row = rows[action.target]
            line = f"  {action.target}: {row['phase']} at {row.get('live')}"
            reason = row.get("heldReason") or (row.get("lastResult") or {}).get("error")
            click.echo(
                redact(line + (f": {reason}" if reason and row["phase"] != "InSync" else ""))
            )
    raise SystemExit(0 if all(r["phase"] == "InSync" for r in rows.values()) else 1)


def notifier_for(config: Any) -> Any:
    """The webhooks of a one-shot command, or None when none is configured (then the
    logging stack, a tenth of a second of start-up, is not loaded at all)."""
    if not config.model.notify.webhooks:
        return None
    from daemon.adapters import logs
    from daemon.adapters.notify import Notifier

    logs.configure(stream=sys.stderr)
    return Notifier(config, logs.get())


@cli.command()
@common
@click.option("--listen", help="Serve HTTP here instead of daemon.listen (host:port; port 0: any).")
def run(config_path: Path, state_path: Path | None, listen: str | None) -> None:
    """The controller: keep live state at the pins until SIGTERM or SIGINT."""
    from daemon.adapters import logs
    from daemon.controller.manager import Controller
    from daemon.web.server import serve

    logs.configure()
    faulthandler.register(signal.SIGUSR1)  # `kill -USR1` prints every thread's stack to stderr
    controller = Controller(config_path, state_path)
    address = listen or controller.config.model.daemon.listen
    try:
        server = serve(controller, address)
    except OSError as exc:
        raise Failure(f"cannot listen on {address}: {exc.strerror}") from None
    host, port = server.server_address[:2]
    logs.get().info(
        "controller_started",
        listen=f"{host!s}:{port}",
        config=str(config_path),
        pins=str(controller.state_path),
    )
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


@cli.command()
@common
@output_option
def status(config_path: Path, state_path: Path | None, output: str) -> None:
    """Desired vs live vs last result, per target (from the running controller when there is one)."""
    from daemon.spec import load_config
    from daemon.views import render
    from daemon.views.status import status_document

    found = our_controller(load_config(config_path), state_path)
    document = None
    if found is not None and found.ours:  # it can answer even while the pin file is invalid
        document = {**found.status, "source": f"controller at {found.url.removeprefix('http://')}"}
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


@cli.command()
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


@cli.command()
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


@cli.group(invoke_without_command=True)
@config_option
@click.option("--target", "-t", help="Only this target.")
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
                f"{record.seq:>7} {record.ts[:19].replace('T', ' ')} {record.event:16} {record.target or '-':12} "
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


@cli.command()
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


@cli.command()
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


@cli.command()
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
    from daemon.spec import AlembicTarget, load_config

    config = load_config(config_path)
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


# -- entry point -------------------------------------------------------------------


def main(argv: list[str] | None = None) -> NoReturn:
    """Run the CLI; turn every error into one sentence on stderr and exit 1."""
    try:
        cli.main(args=argv, prog_name="pinback", standalone_mode=False)
    except SystemExit as exc:
        raise SystemExit(exc.code if isinstance(exc.code, int) else 0) from None
    except click.exceptions.Abort:
        _fail("aborted; nothing was changed")
    except click.ClickException as exc:
        _fail(exc.format_message())
    except SpecError as exc:
        for issue in exc.issues:
            click.echo(redact(str(issue)), err=True)
        raise SystemExit(1) from None
    except PinbackError as exc:
        _fail(str(exc))
    except KeyboardInterrupt:
        _fail("interrupted")
    except Exception as exc:
        if os.environ.get("PINBACK_DEBUG"):
            raise
        _fail(_describe_unexpected(exc))
    raise SystemExit(0)


def _describe_unexpected(exc: Exception) -> str:
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    if isinstance(exc, NoCredentialsError):
        return (
            "no AWS credentials found (set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)"
        )
    if isinstance(exc, ClientError | BotoCoreError):
        from daemon.adapters.aws import error_message

        return f"AWS call failed: {error_message(exc)}"
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"unexpected {exc.__class__.__name__}: {text} (PINBACK_DEBUG=1 shows the traceback)"


def _fail(message: str) -> NoReturn:
    click.echo(f"pinback: {redact(message)}", err=True)
    raise SystemExit(1)
