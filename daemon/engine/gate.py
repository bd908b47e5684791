"""Health gates after a change took: pass, hold there, or revert once to the last version
that passed its gates (the verdict's rules are ``daemon.core.gates``; the checks are
``daemon.adapters.health``).

A failed gate is the apply's one outcome (``health_failed``). The revert is a new apply,
recorded as one (``apply_started`` then its outcome). A database is never reverted
automatically, and with no version known to have passed, the target is held.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace
from types import MappingProxyType

from daemon.adapters import health
from daemon.adapters.audit import AuditLog
from daemon.adapters.aws import AwsClients
from daemon.adapters.verdicts import Baseline
from daemon.core import gates
from daemon.core.model import Action, Direction, Kind, Outcome, Result
from daemon.core.records import Event
from daemon.drivers.base import Progress
from daemon.engine.trail import Trail, noted
from daemon.engine.values import ApplyContext
from daemon.errors import AuditUnavailable, Then
from daemon.spec import HealthSettings

Change = Callable[[Action, Progress, threading.Event | None], Result]
Settle = Callable[[Action, Result, Progress, threading.Event | None], Result]
HELD = MappingProxyType({"health": "failed", "held": "yes"})
UNDECIDED = MappingProxyType({"health": "undecided", "held": "yes"})


class HealthGate:
    def __init__(
        self,
        clients: AwsClients,
        trail: Trail,
        audit: AuditLog | None,
        change: Change,
        settle: Settle,
    ) -> None:
        self.clients = clients
        self.trail = trail
        self.audit = audit
        self.change = change
        self.settle = settle

    def before(self, action: Action, settings: HealthSettings | None) -> Baseline:
        """Every check read just before the change (ROLLBACK.md 7.1, DESIGN section 13),
        against the version live then: what the gate judges the change against. Nothing to
        read for a target without gates, or for a wait on a rollout already under way."""
        if settings is None:
            return Baseline()
        cloudwatch = self.clients.client("cloudwatch") if settings.cloudwatch_alarms else None
        live = None if action.wait_only else action.from_version
        return health.baseline(action.target, settings, live, cloudwatch)

    def judge(
        self,
        action: Action,
        result: Result,
        settings: HealthSettings,
        before: Baseline,
        progress: Progress,
        stop: threading.Event | None,
        context: ApplyContext,
    ) -> Result:
        """Run the gates on a change that took, and record the apply's outcome."""
        progress(action.target, "health checks")
        cloudwatch = self.clients.client("cloudwatch") if settings.cloudwatch_alarms else None
        verdict = health.check(
            action.target,
            settings,
            result.live_after or action.to_version,
            cloudwatch,
            stop,
            before,
        )
        if verdict.ok:
            progress(action.target, "healthy")
            settled = self.settle(action, result, progress, stop)  # AWS's own end of it
            passed = noted(action, f"alarms: {verdict.alarms}", verdict.alarms)
            excused = "; ".join(verdict.excused)
            passed = noted(passed, f"failing before the change too: {excused}", excused)
            self.trail.outcome(passed, context, settled, progress)
            return settled
        if verdict.undecided:  # nothing says the change was bad: held, never reverted
            return self._undecided(action, result, verdict.reason, progress, context)
        progress(action.target, f"unhealthy: {verdict.reason}")
        why = verdict.reason
        if verdict.alarms and verdict.alarms not in why:  # an HTTP or smoke failure
            why = f"{why} (alarms: {verdict.alarms})"
        try:  # the outcome of this apply: the change took, its gate failed
            self.trail.record(Event.HEALTH_FAILED, action, context, result=result, error=why)
        except AuditUnavailable as exc:
            progress(action.target, f"the health failure was not recorded: {exc}")
        failed = replace(result, outcome=Outcome.FAILED, then=Then.HOLD, gate_failed=True)
        at = result.live_after
        if settings.on_failure != "revert":
            return replace(failed, error=f"{verdict.reason}; held at {at}", detail=HELD)
        if action.kind == Kind.ALEMBIC:
            error = f"{verdict.reason}; held at {at} (a database change is never reverted automatically)"
            return replace(failed, error=error, detail=HELD)
        good = self._last_good(action, before)
        if good is None:
            error = f"{verdict.reason}; held at {at}: no earlier version of {action.target} is known to have passed its gates"
            return replace(failed, error=error, detail=HELD)
        return self._revert(action, failed, good, verdict.reason, progress, stop, context)

    def _undecided(
        self,
        action: Action,
        result: Result,
        why: str,
        progress: Progress,
        context: ApplyContext,
    ) -> Result:
        """A gate that could not read its checks: the apply ends failed and held (a person
        looks), recorded as such; the version is not marked as having failed its gates."""
        error = f"health gate undecided: {why}; held at {result.live_after}"
        progress(action.target, error)
        undecided = replace(
            result, outcome=Outcome.FAILED, then=Then.HOLD, error=error, detail=UNDECIDED
        )
        self.trail.outcome(action, context, undecided, progress)
        return undecided

    def _last_good(self, action: Action, before: Baseline) -> str | None:
        """Where a failed gate goes back to: the version live before the change when its
        checks passed just before it, else the last that passed its gates by the trail."""
        live = action.from_version
        if before.passed and live is not None and live != action.to_version:
            return live
        return self._last_passed(action.target, action.to_version)

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
            self.trail.record(Event.APPLY_STARTED, back, context)
        except AuditUnavailable as exc:
            error = f"{why}; not reverted: {exc}; held at {failed.live_after}"
            return replace(failed, error=error, detail=HELD)
        reverted = self.change(back, progress, stop)
        self.trail.outcome(back, context, reverted, progress)
        took = reverted.outcome is Outcome.APPLIED
        outcome = "reverted to" if took else "revert failed, live is"
        return replace(
            failed,
            live_after=reverted.live_after,
            error=f"{why}; {outcome} {reverted.live_after}",
            detail={"health": "failed", "reverted": "yes" if took else "failed"},
        )
