"""The workers: ``daemon.concurrency`` threads, each taking one target at a time from the
keyed work queue and reconciling it: observe (or reuse the pass's fresh observation), plan,
apply, wait, verify, record, then decide what comes next from the outcome.

A target waits for the targets the plan puts before it. A failure is retried with
per-target exponential backoff (1 s doubling to 5 min, jittered); a held pin (a failed
health gate, a circuit-breaker rollback) is left alone until the pin changes; a newer pin
ends the wait of the apply it supersedes at once and is queued again.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

from daemon.adapters.logs import LogEvent
from daemon.controller.leases import Leases
from daemon.controller.metrics import Metrics
from daemon.controller.shared import Shared, TargetState
from daemon.controller.workqueue import ShutDown, WorkQueue
from daemon.core import fencing, ordering
from daemon.core.model import Outcome, Plan, Result
from daemon.core.ordering import Step
from daemon.core.records import Event
from daemon.engine.engine import Engine
from daemon.engine.values import ApplyContext, Snapshot
from daemon.errors import Then
from daemon.spec import DesiredState

# A worker acts on the pass's observation when it is this fresh and no apply of the target
# has ended since; otherwise it observes the target again itself.
FRESH_FOR = 2.0


@dataclass(frozen=True)
class Ended:
    """One apply that has ended, as the handler of what comes next reads it."""

    name: str
    desired: DesiredState
    result: Result
    superseded: bool  # a newer pin ended its wait
    started: float  # time.monotonic() when the worker took the target
    log: Any

    def seconds(self) -> float:
        return time.monotonic() - self.started


@dataclass(eq=False)
class Workers:
    shared: Shared
    leases: Leases
    metrics: Metrics
    queue: WorkQueue
    log: Any

    def loop(self) -> None:
        while True:
            try:
                name = self.queue.get()
            except ShutDown:
                return
            if name is None:
                continue
            try:
                self.reconcile(name)
            except Exception as exc:  # one target's surprise must not kill a worker
                self.log.error(
                    LogEvent.RECONCILE_CRASHED,
                    target=name,
                    error=f"{exc.__class__.__name__}: {exc}",
                )
                self.queue.add_after(name, self.queue.backoff(name))
            finally:
                self.queue.done(name)
                self.metrics.depth(self.queue.depth())

    def reconcile(self, name: str) -> None:
        """One target, one pass: observe afresh, plan, apply, wait, verify, record."""
        shared = self.shared
        with shared.lock:
            desired, engine, snapshot = shared.desired, shared.engine, shared.snapshot
            observed_at, basis = shared.basis
            state = shared.target(name)
        if (
            desired is None
            or shared.stopping.is_set()
            or name not in engine.config.model.targets
            or not self.leases.applies(name)
            or (state.held_pin is not None and state.held_pin == desired.pins.get(name))
        ):
            return  # a held pin was queued again while its apply ran: it stays held
        correlation = uuid.uuid4().hex[:12]
        log = self.log.bind(target=name, correlation_id=correlation)
        if snapshot is not None and self._waiting(name, snapshot, log):
            return
        started = time.monotonic()
        reusable = (
            snapshot is not None
            and basis is desired
            and observed_at > state.settled_at
            and started - observed_at < FRESH_FOR
        )
        plan = (
            snapshot.plan
            if reusable and snapshot is not None
            else engine.snapshot(desired, name).plan
        )
        try:
            self._reconcile(name, desired, engine, plan, started, state, log, correlation)
        finally:
            with shared.lock:
                state.settled_at = time.monotonic()

    def _reconcile(
        self,
        name: str,
        desired: DesiredState,
        engine: Engine,
        plan: Plan,
        started: float,
        state: TargetState,
        log: Any,
        correlation: str,
    ) -> None:
        if name in plan.unobserved:
            self._failed(name, desired, plan.unobserved[name], started, log)
            return
        action = next((a for a in plan.actions if a.target == name), None)
        if action is None:
            self.metrics.result(name, Outcome.NOOP, time.monotonic() - started, in_sync=True)
            self.queue.forget(name)
            return
        if action.blocked is not None:
            self.metrics.result(name, Outcome.BLOCKED, time.monotonic() - started, in_sync=False)
            return
        shared = self.shared
        stop = threading.Event()
        with shared.lock:
            state.stop, state.superseded = stop, False
            state.applying_since, state.step = time.time(), "starting"
        shared.changed()

        def progress(target: str, message: str) -> None:
            log.info(LogEvent.PROGRESS, message=message)
            state.step = message
            shared.changed()

        log.info(
            Event.APPLY_STARTED,
            desired=action.to_version,
            live_before=action.from_version,
            wait_only=action.wait_only,
        )
        who = state.attribution
        epoch, fence = self.leases.fence(name)
        context = ApplyContext(
            actor=who.author if who else "pinback controller",
            pin_commit=who.commit if who else None,
            correlation_id=correlation,
            epoch=epoch,
        )
        token = fencing.current.set(fence)
        try:
            result = engine.apply_one(action, progress, stop, context)
        finally:
            fencing.current.reset(token)
        with shared.lock:
            state.stop = None
            state.applying_since = state.step = None
            state.last_result = result
            superseded = state.superseded
            if result.outcome is Outcome.APPLIED:
                state.in_sync_at, state.verified_at = time.time(), time.monotonic()
        shared.changed()
        self._after_apply(name, desired, result, superseded, started, log)

    def _after_apply(
        self,
        name: str,
        desired: DesiredState,
        result: Result,
        superseded: bool,
        started: float,
        log: Any,
    ) -> None:
        """What the outcome means for the target: in sync, or what the error's type says
        comes next (``daemon.errors.Then``). A wait ended by a newer pin, a shutdown or a
        lost lease resumes whatever the error, unless the target is held."""
        shared = self.shared
        if result.outcome is Outcome.APPLIED:
            self._in_sync(name, result, started, log)
        else:
            then = result.then
            if then is not Then.HOLD and (
                superseded or shared.stopping.is_set() or not self.leases.applies(name)
            ):
                then = Then.RESUME
            handlers = {Then.HOLD: self._hold, Then.RESUME: self._resume, Then.RETRY: self._retry}
            handlers[then](Ended(name, desired, result, superseded, started, log))
        if result.live_after is not None:
            pin = desired.pins.get(name)
            self.metrics.versions(name, pin.version if pin else None, result.live_after)
        with shared.lock:
            waited_on = any(name in s.waiting_on for s in shared.targets.values())
        if waited_on:
            shared.request_pass()  # the targets ordered after this one move on now

    def _in_sync(self, name: str, result: Result, started: float, log: Any) -> None:
        log.info(
            Event.APPLY_SUCCEEDED,
            desired=result.desired,
            live_after=result.live_after,
            seconds=round(result.duration_s, 3),
        )
        self.metrics.result(name, Outcome.APPLIED, time.monotonic() - started, in_sync=True)
        self.metrics.drifting(name, False)
        with self.shared.lock:
            self.shared.target(name).failed_pin = None
        self.queue.forget(name)

    def _hold(self, ended: Ended) -> None:
        """Held (or reverted) until the pin changes: retrying the same pin would loop."""
        name, result = ended.name, ended.result
        event = Event.HEALTH_FAILED if result.gate_failed else LogEvent.HELD
        ended.log.error(event, error=result.error, live_after=result.live_after)
        self.metrics.result(name, Outcome.FAILED, ended.seconds(), in_sync=False)
        self.metrics.health(name, True)
        with self.shared.lock:
            state = self.shared.target(name)
            state.held_pin = ended.desired.pins.get(name)
            state.held_reason = result.error

    def _resume(self, ended: Ended) -> None:
        """Ended on purpose: a newer pin is queued at once; a stopping or deposed replica
        leaves the change to whoever observes it next."""
        why = (
            "superseded by a newer pin"
            if ended.superseded
            else "controller stopping"
            if self.shared.stopping.is_set()
            else "this replica lost its lease"
        )
        ended.log.info(LogEvent.APPLY_INTERRUPTED, reason=why, live_after=ended.result.live_after)
        if ended.superseded:
            self.queue.add(ended.name)

    def _retry(self, ended: Ended) -> None:
        error = ended.result.error or "failed"
        self._failed(ended.name, ended.desired, error, ended.started, ended.log)

    def _waiting(self, name: str, snapshot: Snapshot, log: Any) -> bool:
        """True when the target must not apply now (``daemon.core.ordering``): a target the
        plan puts before it is not at its pin yet, or is blocked or held (the pass reports
        that block; here it only keeps the apply from starting)."""
        action = next((a for a in snapshot.plan.actions if a.target == name), None)
        if action is None or not action.after:
            return False
        running = [p for p in action.after if self.queue.busy(p)]
        decision = ordering.decide(
            action, self.shared.planned(snapshot), self.shared.held(), running
        )
        ahead = decision.on if decision.step is Step.WAIT else ()
        with self.shared.lock:
            state = self.shared.target(name)
            changed = ahead != state.waiting_on
            state.waiting_on = ahead
        if ahead and changed:
            log.info(LogEvent.WAITING_FOR, targets=list(ahead))
        return decision.step is not Step.GO

    def _failed(
        self, name: str, desired: DesiredState, error: str, started: float, log: Any
    ) -> None:
        delay = self.queue.backoff(name)
        log.error(Event.APPLY_FAILED, error=error, retry_in_s=round(delay, 1))
        self.metrics.result(name, Outcome.FAILED, time.monotonic() - started, in_sync=False)
        with self.shared.lock:
            self.shared.target(name).failed_pin = desired.pins.get(name)
        self.queue.add_after(name, delay)
