"""`pinback plan` and `pinback apply`: the ordered actions, and making them here or by
the controller that runs the same files (one writer)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, NoReturn

import click

from daemon.cli.common import (
    Failure,
    common,
    complete_targets,
    emit_json,
    engine_for,
    load,
    our_controller,
    output_option,
    outputs,
    past_durations,
    progress_printer,
)
from daemon.core.redact import redact


@click.command()
@common
@outputs("markdown", help="markdown: a table for a pull request or a CI job's summary.")
@click.option("--target", "-t", help="Only this target.", shell_complete=complete_targets)
def plan(config_path: Path, state_path: Path | None, output: str, target: str | None) -> None:
    """Observe live state and show the ordered actions; exit 0 no changes, 2 changes, 1 error."""
    from daemon.views import render

    config, desired = load(config_path, state_path)
    denies = any(p.denied for p in desired.pins.values())  # who denied: from the trail
    snapshot = engine_for(config, audited=denies).snapshot(desired, target)
    estimates = past_durations(config, [a.target for a in snapshot.plan.actions])
    if output == "json":
        document = snapshot.plan.as_json()
        for action in document["actions"]:
            if action["target"] in estimates:
                seconds, count = estimates[action["target"]]
                action["estimate"] = {"seconds": round(seconds, 1), "basedOn": count}
        emit_json(document)
    elif output == "markdown":
        click.echo(redact(render.plan_markdown(snapshot.plan, estimates)))
    else:
        click.echo(redact(render.plan_text(snapshot.plan, estimates)))
    if snapshot.plan.unobserved:
        raise SystemExit(1)
    raise SystemExit(2 if snapshot.plan.changes else 0)


@click.command()
@common
@output_option
@click.option("--target", "-t", help="Only this target.", shell_complete=complete_targets)
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
