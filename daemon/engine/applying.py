"""Applying: the plan's actions in order, and one action from start to verified.

Applies run in the plan's order, independent targets in parallel up to
``daemon.concurrency``; a target whose predecessor failed or was blocked is blocked in turn
(it would run against the wrong schema or code): ``daemon.core.ordering`` decides. A failing target never stops the
independent ones. Each apply is the audit-first sequence: confirm the lease, record
``apply_started`` (no record, no change), change, wait until it has taken, verify, then
the health gate; it ends in exactly one outcome record.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import replace

from daemon.core import fencing, ordering
from daemon.core.model import Action, Outcome, Plan, Result
from daemon.core.ordering import Step
from daemon.core.records import Event
from daemon.drivers.base import NOTHING_STARTED, Progress, Waiting, no_progress, settle
from daemon.engine.drivers import DriverSet
from daemon.engine.gate import HealthGate
from daemon.engine.trail import Trail, noted
from daemon.engine.values import NO_CONTEXT, ApplyContext
from daemon.errors import ApplyFailed, AuditUnavailable, Fenced, PinbackError, Then


class Applier:
    def __init__(self, drivers: DriverSet, trail: Trail) -> None:
        self.drivers = drivers
        self.config = drivers.config
        self.trail = trail
        self.gate = HealthGate(drivers.clients, trail, trail.audit, self.change, self.settle)

    def apply(
        self, plan: Plan, progress: Progress = no_progress, context: ApplyContext = NO_CONTEXT
    ) -> list[Result]:
        """Apply ``plan`` in order; returns one ``Result`` per action, in plan order.

        The plan is recorded first (a ``plan`` record per action, one commit): the trail
        then knows every target this apply found out of sync, not only those it reached."""
        try:
            self.trail.plan(plan.actions, context)
        except AuditUnavailable as exc:  # each apply_started will refuse on its own
            progress("plan", f"not recorded: {exc}")
        results: dict[str, Result] = {}
        pending = {a.target: a for a in plan.actions}
        planned = dict(pending)
        running: dict[Future[Result], str] = {}
        workers = max(1, min(self.config.model.daemon.concurrency, len(pending) or 1))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            while pending or running:
                for name, action in list(pending.items()):
                    settled = {t: r.outcome for t, r in results.items()}
                    decision = ordering.decide(action, planned, settled, running.values())
                    if decision.step is Step.WAIT:
                        continue
                    del pending[name]
                    if decision.step is Step.BLOCK:
                        reason = decision.reason or "blocked"
                        results[name] = unchanged(action, Outcome.BLOCKED, reason)
                        progress(name, f"blocked: {reason}")
                        self.trail.record(Event.BLOCKED, action, context, error=reason)
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
        context: ApplyContext = NO_CONTEXT,
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
            return unchanged(action, Outcome.FAILED, f"not applied: {exc}")
        settings = self.config.model.targets[action.target].health
        before = self.gate.before(action, settings)
        try:
            started = noted(action, f"alarms before: {before.alarms_note}", before.alarms_note)
            failing = before.failing()
            started = noted(started, f"checks failing before: {failing}", failing)
            self.trail.record(Event.APPLY_STARTED, started, context)
        except AuditUnavailable as exc:
            progress(action.target, f"not applied: {exc}")
            return unchanged(action, Outcome.FAILED, f"not applied: {exc}")
        result = self.change(action, progress, stop, gated=settings is not None)
        if result.outcome is not Outcome.APPLIED or settings is None:
            self.trail.outcome(action, context, result, progress)
            return result
        return self.gate.judge(action, result, settings, before, progress, stop, context)

    def change(
        self,
        action: Action,
        progress: Progress,
        stop: threading.Event | None,
        gated: bool = False,
    ) -> Result:
        """Make the change, wait until it has taken, and verify it; never raises for it.
        ``gated``: health gates follow, so the wait may end while the change can still be
        undone cheaply (a blue/green deployment baking); ``settle`` then finishes it."""
        started = time.monotonic()
        driver = self.drivers.of(action.target)
        timeout = self.config.model.targets[action.target].timeout
        try:
            watch = NOTHING_STARTED
            if not action.wait_only:
                watch = driver.apply(action.target, action, progress)
            waiting = Waiting(progress, started + timeout, stop, watch, gated)
            driver.wait(action.target, action, waiting)
            after = driver.verify(action.target, action)
            if after.error is not None:
                raise ApplyFailed(f"verifying failed: {after.error}")
            if after.live != action.to_version:
                raise ApplyFailed(
                    f"after the change the live version is {after.live}, not {action.to_version}"
                )
        except PinbackError as exc:  # every pinback error ends this apply, recorded
            return self._failed(action, started, str(exc), progress, exc.then)
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

    def settle(
        self, action: Action, result: Result, progress: Progress, stop: threading.Event | None
    ) -> Result:
        """After the gates passed: wait for what is left of the change (a deployment's clean
        up after its bake time), so success is recorded once AWS says it is done."""
        started = time.monotonic()
        timeout = self.config.model.targets[action.target].timeout
        try:
            waiting = Waiting(progress, started + timeout, stop)
            settle(self.drivers.of(action.target), action.target, action, waiting)
        except PinbackError as exc:
            return self._failed(action, started, str(exc), progress, exc.then)
        return replace(result, duration_s=result.duration_s + time.monotonic() - started)

    def _failed(
        self, action: Action, started: float, error: str, progress: Progress, then: Then
    ) -> Result:
        progress(action.target, f"{'held' if then is Then.HOLD else 'failed'}: {error}")
        try:
            live_after = self.drivers.of(action.target).observe([action.target])[action.target].live
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
            then=then,
        )


def unchanged(action: Action, outcome: Outcome, error: str) -> Result:
    """A result for an action that changed nothing: not applied, or blocked."""
    before = action.from_version
    return Result(
        action.target, action.kind, outcome, action.to_version, before, before, 0.0, error=error
    )
