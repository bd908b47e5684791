"""One reconcile, start to end: observe -> preflight -> plan -> apply -> wait -> verify.

The one-shot CLI and (later) the controller call these same functions. Observation
runs the four kinds in parallel; applies run in the plan's order, independent
targets in parallel up to ``daemon.concurrency``, and a target whose predecessor
failed or was blocked is blocked in turn (it would run against the wrong schema or
code). A failing target never stops the independent ones.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from daemon.adapters import health
from daemon.adapters.audit import AuditLog, AuditUnavailable
from daemon.adapters.aws import AwsClients, error_message
from daemon.core import fencing, freeze, gates
from daemon.core.model import (
    Action,
    Direction,
    Kind,
    Observed,
    Outcome,
    Plan,
    Resolved,
    Result,
    VersionInfo,
)
from daemon.core.plan import Intent, make_plan
from daemon.core.records import Entry, Event
from daemon.drivers.base import Driver, Progress, fan_out, no_progress
from daemon.errors import ApplyFailed, Fenced, Held, ObserveFailed, PinbackError
from daemon.spec import (
    AlembicTarget,
    DesiredState,
    EcsTarget,
    FrontendTarget,
    HealthSettings,
    LambdaTarget,
    LoadedConfig,
)


@dataclass(frozen=True)
class ApplyContext:
    """Who and what an apply is recorded under in the audit trail."""

    actor: str | None = None
    pin_commit: str | None = None
    correlation_id: str | None = None
    epoch: int | None = None


@dataclass(frozen=True)
class Snapshot:
    """Everything one plan was made from, kept together for status and the audit."""

    plan: Plan
    observed: Mapping[str, Observed]
    resolved: Mapping[str, Resolved]


class Engine:
    """Drivers for one config, and the steps of a reconcile over them."""

    def __init__(
        self,
        config: LoadedConfig,
        clients: AwsClients | None = None,
        audit: AuditLog | None = None,
    ) -> None:
        self.config = config
        self.audit = audit
        concurrency = config.model.daemon.concurrency
        self.clients = clients or AwsClients(
            config.model.aws.region, max_pool=max(32, concurrency * 4)
        )
        self._drivers: dict[Kind, Driver] = {}
        self._drivers_lock = threading.Lock()

    def driver_of(self, kind: Kind) -> Driver:
        """The driver of ``kind``, made on first use.

        Made lazily so each driver's libraries (SQLAlchemy for the database) are
        imported in that kind's observe thread, overlapping the other kinds' network
        waits, and not at all when no target of the kind is touched.
        """
        with self._drivers_lock:
            if kind not in self._drivers:
                self._drivers[kind] = self._make_driver(kind)
            return self._drivers[kind]

    def _make_driver(self, kind: Kind) -> Driver:
        targets = self.config.model.targets

        def of(model: type[Any]) -> dict[str, Any]:
            return {n: t for n, t in targets.items() if isinstance(t, model)}

        if kind is Kind.FRONTEND:
            from daemon.drivers.frontend import FrontendDriver

            return FrontendDriver(of(FrontendTarget), self.clients, self.config)
        if kind is Kind.ECS:
            from daemon.drivers.ecs import EcsDriver

            return EcsDriver(of(EcsTarget), self.clients, self.config.model.daemon.concurrency)
        if kind is Kind.LAMBDA:
            from daemon.drivers.aws_lambda import LambdaDriver

            return LambdaDriver(
                of(LambdaTarget), self.clients, self.config.model.daemon.concurrency
            )
        from daemon.drivers.database import DatabaseDriver

        return DatabaseDriver(of(AlembicTarget), self.config)

    def driver(self, target: str) -> Driver:
        return self.driver_of(self.config.kind_of(target))

    def names(self, only: str | None = None) -> list[str]:
        if only is None:
            return list(self.config.model.targets)
        if only not in self.config.model.targets:
            declared = ", ".join(self.config.model.targets)
            raise PinbackError(f"no target named {only!r} in the config (declared: {declared})")
        return [only]

    # -- observe and plan -------------------------------------------------------------

    def observe(self, names: Sequence[str]) -> dict[str, Observed]:
        """Live state of ``names``, each kind in its own thread, batched within a kind."""
        by_kind: dict[Kind, list[str]] = {}
        for name in names:
            by_kind.setdefault(self.config.kind_of(name), []).append(name)
        observed: dict[str, Observed] = {}
        with ThreadPoolExecutor(max_workers=len(Kind)) as pool:
            futures = [pool.submit(self._observe_kind, k, ns) for k, ns in by_kind.items()]
            for future in futures:
                observed.update(future.result())
        return {name: observed[name] for name in names}

    def _observe_kind(self, kind: Kind, names: list[str]) -> dict[str, Observed]:
        try:
            return self.driver_of(kind).observe(names)
        except (ClientError, BotoCoreError) as exc:
            return {n: Observed(n, kind, None, error=error_message(exc)) for n in names}
        except PinbackError as exc:
            return {n: Observed(n, kind, None, error=str(exc)) for n in names}

    def snapshot(
        self, desired: DesiredState, only: str | None = None, among: Iterable[str] | None = None
    ) -> Snapshot:
        """Observe, check every drifted pin against what exists, and plan; ``only`` one
        target, or ``among`` some (a replica's shards), else all."""
        chosen = set(among) if among is not None else None
        names = self.names(only) if chosen is None else [n for n in self.names() if n in chosen]
        observed = self.observe(names)
        checkable = [
            n
            for n in names
            if (pin := desired.pins.get(n)) is not None
            and pin.version is not None
            and observed[n].error is None
        ]
        workers = self.config.model.daemon.concurrency
        checks = fan_out(lambda n: self._preflight(n, desired, observed[n]), checkable, workers)
        resolved: dict[str, Resolved] = {}
        for name, check in zip(checkable, checks, strict=True):
            if isinstance(check, Resolved):
                resolved[name] = check
            else:
                observed[name] = check
        plan = make_plan(self.intents(desired, names), observed, resolved)
        return Snapshot(plan, observed, resolved)

    def _preflight(self, name: str, desired: DesiredState, seen: Observed) -> Resolved | Observed:
        """The pin checked against what exists, or the observation turned into an error."""
        pin = desired.pins[name]
        try:
            return self.driver(name).preflight(name, pin, seen)
        except (ClientError, BotoCoreError) as exc:
            error = f"preflight failed: {error_message(exc)}"
        except PinbackError as exc:
            error = str(exc)
        return Observed(name, seen.kind, seen.live, error=error)

    def intents(self, desired: DesiredState, names: Iterable[str]) -> list[Intent]:
        targets = self.config.model.targets
        frozen = freeze.active(
            [w.window() for w in self.config.model.freeze], dt.datetime.now(dt.UTC)
        )
        return [
            Intent(
                target=name,
                kind=self.config.kind_of(name),
                pin=desired.pins.get(name),
                mode=self.config.mode_of(name),
                after=_after(targets[name].after),
                frozen=frozen,
            )
            for name in names
        ]

    def versions(self, target: str, limit: int) -> list[VersionInfo]:
        self.names(target)
        try:
            return self.driver(target).versions(target, limit)
        except (ClientError, BotoCoreError) as exc:
            raise ObserveFailed(
                f"listing the versions of {target} failed: {error_message(exc)}"
            ) from None

    # -- apply ------------------------------------------------------------------------

    def apply(
        self, plan: Plan, progress: Progress = no_progress, context: ApplyContext = ApplyContext()
    ) -> list[Result]:
        """Apply ``plan`` in order; returns one ``Result`` per action, in plan order."""
        results: dict[str, Result] = {}
        pending = {a.target: a for a in plan.actions}
        running: dict[Future[Result], str] = {}
        workers = max(1, min(self.config.model.daemon.concurrency, len(pending) or 1))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            while pending or running:
                for name, action in list(pending.items()):
                    waiting_on = [p for p in action.after if p in pending or p in running.values()]
                    if waiting_on:
                        continue
                    failed = [
                        p
                        for p in action.after
                        if p in results and results[p].outcome in (Outcome.FAILED, Outcome.BLOCKED)
                    ]
                    del pending[name]
                    if action.blocked is not None or failed:
                        reason = (
                            action.blocked or f"waits on {', '.join(failed)}, which did not apply"
                        )
                        results[name] = _unchanged(action, Outcome.BLOCKED, reason)
                        progress(name, f"blocked: {reason}")
                        self.record(Event.BLOCKED, action, context, error=reason)
                        continue
                    apply = fencing.in_context(self.apply_one)  # the caller's fence goes along
                    future = pool.submit(apply, action, progress, None, context)
                    running[future] = name
                if running:
                    done, _ = wait(list(running), return_when=FIRST_COMPLETED)
                    for future in done:
                        results[running.pop(future)] = future.result()
        return [results[a.target] for a in plan.actions]

    def apply_one(
        self,
        action: Action,
        progress: Progress = no_progress,
        stop: threading.Event | None = None,
        context: ApplyContext = ApplyContext(),
    ) -> Result:
        """Apply one action, wait until it has taken, verify, run its gates. Never raises
        for target errors.

        With an audit trail, ``apply_started`` is committed before the first mutating
        call, and an apply whose start cannot be recorded is not made; it ends in exactly
        one of ``apply_succeeded``, ``apply_failed`` or ``health_failed``. Setting ``stop``
        ends the wait early (shutdown, or a newer pin superseding this one); the change
        already made stays, and the next pass observes where it got to.
        """
        try:
            fencing.confirm()  # a replica that no longer leads neither records nor changes
        except Fenced as exc:
            progress(action.target, f"not applied: {exc}")
            return _unchanged(action, Outcome.FAILED, f"not applied: {exc}")
        settings = self.config.model.targets[action.target].health
        alarms_before, seen = self._alarm_states(settings)
        try:
            self.record(
                Event.APPLY_STARTED, _noted(action, f"alarms before: {seen}", seen), context
            )
        except AuditUnavailable as exc:
            progress(action.target, f"not applied: {exc}")
            return _unchanged(action, Outcome.FAILED, f"not applied: {exc}")
        result = self._apply_one(action, progress, stop)
        if result.outcome is not Outcome.APPLIED or settings is None:
            self._record_outcome(action, context, result, progress)
            return result
        return self._gate(action, result, settings, alarms_before, progress, stop, context)

    def _alarm_states(self, settings: HealthSettings | None) -> tuple[dict[str, str], str]:
        """The health alarms' states just before the change (ROLLBACK.md 7.1): what the
        gate judges the change against, and the same as a note for the audit trail."""
        if settings is None or not settings.cloudwatch_alarms:
            return {}, ""
        try:
            answer = self.clients.client("cloudwatch").describe_alarms(
                AlarmNames=list(settings.cloudwatch_alarms)
            )
        except (ClientError, BotoCoreError) as exc:
            return {}, f"unreadable ({error_message(exc)})"
        states = {a["AlarmName"]: a["StateValue"] for a in answer.get("MetricAlarms", [])}
        return states, ", ".join(f"{name}={state}" for name, state in states.items())

    def _record_outcome(
        self, action: Action, context: ApplyContext, result: Result, progress: Progress
    ) -> None:
        event = Event.APPLY_SUCCEEDED if result.outcome is Outcome.APPLIED else Event.APPLY_FAILED
        try:
            self.record(event, action, context, result=result)
        except AuditUnavailable as exc:
            progress(action.target, f"the outcome was not recorded: {exc}")

    def _gate(
        self,
        action: Action,
        result: Result,
        settings: HealthSettings,
        alarms_before: Mapping[str, str],
        progress: Progress,
        stop: threading.Event | None,
        context: ApplyContext,
    ) -> Result:
        """Health gates after a change took: pass, or hold there, or revert once to the last
        version that passed its gates (``daemon.core.gates``)."""
        progress(action.target, "health checks")
        cloudwatch = self.clients.client("cloudwatch") if settings.cloudwatch_alarms else None
        verdict = health.check(
            action.target,
            settings,
            result.live_after or action.to_version,
            cloudwatch,
            stop,
            alarms_before,
        )
        if verdict.ok:
            progress(action.target, "healthy")
            passed = _noted(action, f"alarms: {verdict.alarms}", verdict.alarms)
            self._record_outcome(passed, context, result, progress)
            return result
        progress(action.target, f"unhealthy: {verdict.reason}")
        why = verdict.reason
        if verdict.alarms and verdict.alarms not in why:  # an HTTP or smoke failure
            why = f"{why} (alarms: {verdict.alarms})"
        try:  # the outcome of this apply: the change took, its gate failed
            self.record(Event.HEALTH_FAILED, action, context, result=result, error=why)
        except AuditUnavailable as exc:
            progress(action.target, f"the health failure was not recorded: {exc}")
        failed = replace(result, outcome=Outcome.FAILED, held=True)
        at = result.live_after
        if settings.on_failure != "revert":
            return replace(
                failed,
                error=f"{verdict.reason}; held at {at}",
                detail={"health": "failed", "held": "yes"},
            )
        if action.kind is Kind.ALEMBIC:
            error = f"{verdict.reason}; held at {at} (a database change is never reverted automatically)"
            return replace(failed, error=error, detail={"health": "failed", "held": "yes"})
        good = self._last_passed(action.target, action.to_version)
        if good is None:
            error = f"{verdict.reason}; held at {at}: no earlier version of {action.target} is known to have passed its gates"
            return replace(failed, error=error, detail={"health": "failed", "held": "yes"})
        return self._revert(action, failed, good, verdict.reason, progress, stop, context)

    def _last_passed(self, target: str, failing: str) -> str | None:
        """The last version of ``target`` that passed its gates, from the audit trail."""
        if self.audit is None:
            return None
        try:
            history = self.audit.history(target, (Event.APPLY_SUCCEEDED, Event.HEALTH_FAILED))
        except AuditUnavailable:
            return None
        return gates.revert_to(history, failing)

    def _revert(
        self,
        action: Action,
        failed: Result,
        good: str,
        why: str,
        progress: Progress,
        stop: threading.Event | None,
        context: ApplyContext,
    ) -> Result:
        """Apply ``good`` over the version whose gate just failed, once, recorded."""
        flipped = Direction.BACK if action.direction is Direction.FORWARD else Direction.FORWARD
        back = replace(
            action,
            from_version=action.to_version,
            to_version=good,
            direction=flipped if good == action.from_version else Direction.BACK,
            wait_only=False,
            after=(),
            reason=f"revert: health check failed for {action.to_version}",
        )
        progress(action.target, f"reverting to {good}, the last version that passed its gates")
        try:
            self.record(Event.APPLY_STARTED, back, context)
        except AuditUnavailable as exc:
            error = f"{why}; not reverted: {exc}; held at {failed.live_after}"
            return replace(failed, error=error, detail={"health": "failed", "held": "yes"})
        reverted = self._apply_one(back, progress, stop)
        self._record_outcome(back, context, reverted, progress)
        took = reverted.outcome is Outcome.APPLIED
        outcome = "reverted to" if took else "revert failed, live is"
        return replace(
            failed,
            live_after=reverted.live_after,
            error=f"{why}; {outcome} {reverted.live_after}",
            detail={"health": "failed", "reverted": "yes" if took else "failed"},
        )

    def record(
        self,
        event: Event,
        action: Action,
        context: ApplyContext,
        result: Result | None = None,
        error: str | None = None,
    ) -> None:
        """One audit record about ``action``; a no-op without an audit trail."""
        if self.audit is None:
            return
        self.audit.append(
            [
                Entry(
                    event=event,
                    target=action.target,
                    kind=action.kind.value,
                    desired=action.to_version,
                    live_before=action.from_version,
                    live_after=result.live_after if result else None,
                    actor=context.actor,
                    pin_commit=context.pin_commit,
                    reason=action.reason,
                    correlation_id=context.correlation_id,
                    duration_s=round(result.duration_s, 3) if result else None,
                    error=(result.error if result else None) or error,
                    epoch=context.epoch,
                )
            ]
        )

    def _apply_one(
        self, action: Action, progress: Progress, stop: threading.Event | None
    ) -> Result:
        started = time.monotonic()
        driver = self.driver(action.target)
        timeout = self.config.model.targets[action.target].timeout
        try:
            if not action.wait_only:
                driver.apply(action.target, action, progress)
            driver.wait(action.target, action, progress, started + timeout, stop)
            after = driver.verify(action.target, action)
            if after.error is not None:
                raise ApplyFailed(f"verifying failed: {after.error}")
            if after.live != action.to_version:
                raise ApplyFailed(
                    f"after the change the live version is {after.live}, not {action.to_version}"
                )
        except PinbackError as exc:  # every pinback error ends this apply, recorded
            return self._failed(action, started, str(exc), progress, held=isinstance(exc, Held))
        except (ClientError, BotoCoreError) as exc:
            return self._failed(action, started, error_message(exc), progress)
        duration = time.monotonic() - started
        progress(action.target, f"now at {after.live}")
        return Result(
            action.target,
            action.kind,
            Outcome.APPLIED,
            action.to_version,
            action.from_version,
            after.live,
            duration,
            detail=after.detail,
        )

    def _failed(
        self, action: Action, started: float, error: str, progress: Progress, held: bool = False
    ) -> Result:
        progress(action.target, f"{'held' if held else 'failed'}: {error}")
        try:
            live_after = self.driver(action.target).observe([action.target])[action.target].live
        except Exception:  # the failure being reported matters more than this read
            live_after = None
        return Result(
            action.target,
            action.kind,
            Outcome.FAILED,
            action.to_version,
            action.from_version,
            live_after,
            time.monotonic() - started,
            error=error,
            held=held,
        )


def _unchanged(action: Action, outcome: Outcome, error: str) -> Result:
    """A result for an action that changed nothing: not applied, or blocked."""
    before = action.from_version
    return Result(
        action.target, action.kind, outcome, action.to_version, before, before, 0.0, error=error
    )


def _noted(action: Action, note: str, when: str) -> Action:
    """``action`` with ``[note]`` added to its reason for the audit trail, when ``when``."""
    if not when:
        return action
    return replace(action, reason=f"{action.reason or ''} [{note}]".strip())


def _after(names: list[str] | None) -> tuple[str, ...] | None:
    return tuple(names) if names is not None else None
