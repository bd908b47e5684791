"""The pass: one thread that re-reads both files, observes every target in batches, plans,
updates the metrics, records what changed, and queues each target not at its pin.

It runs on a file change, on the resync timer, on ``POST /reconcile`` and when an apply
others wait on ends. It never acts on a remembered event: what it queues comes from what it
just observed. Targets another replica leads are observed (and reported) by that replica.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from daemon.adapters.logs import LogEvent
from daemon.controller.leases import Leases
from daemon.controller.metrics import Metrics
from daemon.controller.pins import PinReloader
from daemon.controller.recording import Recorder
from daemon.controller.shared import Shared
from daemon.controller.workqueue import WorkQueue
from daemon.core import ordering
from daemon.core.model import Action, Outcome
from daemon.core.ordering import Step
from daemon.core.records import Entry, Event, Record
from daemon.engine.trail import action_entry
from daemon.engine.values import Snapshot
from daemon.spec import DesiredState


@dataclass(eq=False)
class PassRunner:
    shared: Shared
    pins: PinReloader
    recorder: Recorder
    leases: Leases
    metrics: Metrics
    queue: WorkQueue
    log: Any
    _to_queue: list[str] = field(default_factory=list, init=False)

    def loop(self) -> None:
        shared = self.shared
        while not shared.stopping.is_set():
            shared.health.heartbeat = time.monotonic()
            if not shared.wake.wait(timeout=1.0):
                continue
            shared.wake.clear()
            if shared.stopping.is_set():
                return
            try:
                self.run()
            except Exception as exc:  # a pass must never kill the loop
                self.log.error(LogEvent.PASS_CRASHED, error=f"{exc.__class__.__name__}: {exc}")

    def run(self) -> None:
        """One pass; what it saw is recorded even when it ends early."""
        self.recorder.hold()
        try:
            self._pass()
        finally:
            self.recorder.flush(self.log)

    def _pass(self) -> None:
        shared = self.shared
        log = self.log.bind(correlation_id=uuid.uuid4().hex[:12])
        started = time.monotonic()
        shared.pass_started = started
        desired = self.pins.reload(log)
        if desired is None:
            return
        observed_at = time.monotonic()
        mine = self.leases.observed_here()
        snapshot = shared.engine.snapshot(desired, among=mine)
        with shared.lock:
            shared.snapshot = snapshot
            shared.basis = (observed_at, desired)
            shared.health.passes += 1
        actions = {a.target: a for a in snapshot.plan.actions}
        elapsed = time.monotonic() - started
        self._to_queue = []
        for name in shared.config.model.targets:
            if mine is None or name in mine:
                self._after_observe(name, desired, snapshot, actions.get(name), elapsed, log)
            else:  # another replica's: its drift is reported by the replica that leads it
                self.metrics.drifting(name, False)
        self.recorder.flush(log)  # one commit, before any target is queued
        for name in self._to_queue:
            self.queue.add(name)
        self.metrics.depth(self.queue.depth())
        shared.changed()
        log.info(
            LogEvent.PASS_FINISHED,
            changes=snapshot.plan.changes,
            in_sync=len(snapshot.plan.in_sync),
            unobserved=len(snapshot.plan.unobserved),
            seconds=round(elapsed, 3),
        )

    def _after_observe(
        self,
        name: str,
        desired: DesiredState,
        snapshot: Snapshot,
        action: Action | None,
        seconds: float,
        log: Any,
    ) -> None:
        """Metrics, transitions worth recording, and queueing, for one target after a pass."""
        observed = snapshot.observed.get(name)
        pin = desired.pins.get(name)
        if observed is not None:
            self.metrics.versions(name, pin.version if pin else None, observed.live)
        opened = self.shared.open_starts.get(name) if self.leases.applies(name) else None
        if opened is not None and observed is not None and observed.error is None:
            # Only once the target could be read: a restart's first observation may fail
            # (AWS throttling the thundering start), and the next pass closes it then.
            self.shared.open_starts.pop(name, None)
            self._close_open_start(opened, observed.live, log)
        if name in snapshot.plan.unobserved:
            self._queue_unless_backing_off(name)
            return
        if pin is None or pin.version is None:  # observed only: nothing to drift from
            self.metrics.drifting(name, False)
            return
        state = self.shared.target(name)
        if state.held_pin is not None and state.held_pin != pin:
            state.held_pin = state.held_reason = None  # a new pin: health is judged afresh
            self.metrics.health(name, False)
        drifted = action is not None and not action.wait_only
        self.metrics.drifting(name, drifted)
        if state.held_pin is not None:
            # Health failed for this pin: touch nothing until the pin changes.
            self.metrics.result(name, Outcome.BLOCKED, seconds, in_sync=False)
            return
        if action is None:
            state.drifting, state.blocked = False, None
            state.in_sync_at = time.time()
            self.metrics.result(name, Outcome.NOOP, seconds, in_sync=True)
            self.queue.forget(name)
            return
        if drifted and not state.drifting:
            log.info(
                Event.DRIFT_DETECTED,
                target=name,
                desired=action.to_version,
                live=action.from_version,
            )
            self.recorder.record(log, action_entry(Event.DRIFT_DETECTED, action))
        state.drifting = drifted
        blocked = None if action.wait_only else action.blocked
        if blocked is None and action.after:  # a predecessor held: blocked in turn
            decision = ordering.decide(action, self.shared.planned(snapshot), self.shared.held())
            blocked = decision.reason if decision.step is Step.BLOCK else None
        if blocked is not None and blocked != state.blocked:
            log.warning(Event.BLOCKED, target=name, reason=blocked)
            self.recorder.record(log, action_entry(Event.BLOCKED, action, error=blocked))
        state.blocked = blocked
        if blocked is not None:
            self.metrics.result(name, Outcome.BLOCKED, seconds, in_sync=False)
            return
        self._queue_unless_backing_off(name)

    def _close_open_start(self, opened: Record, live: str | None, log: Any) -> None:
        """A controller died during this apply: record what is live now, once."""
        took = opened.desired is not None and live == opened.desired
        event = Event.APPLY_SUCCEEDED if took else Event.APPLY_FAILED
        log.info(LogEvent.OPEN_APPLY_CLOSED, target=opened.target, outcome=event, live=live)
        self.recorder.record(
            log,
            Entry(
                event=event,
                target=opened.target,
                kind=opened.kind,
                desired=opened.desired,
                live_before=opened.live_before,
                live_after=live,
                actor=opened.actor,
                pin_commit=opened.pin_commit,
                reason="outcome observed after a restart" if took else opened.reason,
                correlation_id=opened.correlation_id,
                error=None if took else f"interrupted by a restart; live is {live}",
                epoch=self.leases.fence(opened.target or "")[0],
            ),
        )

    def _queue_unless_backing_off(self, name: str) -> None:
        if self.queue.failures(name) == 0 and self.leases.applies(name):
            self._to_queue.append(name)
