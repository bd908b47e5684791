"""The controller: keeps live state equal to the pins, level-triggered, until told to stop.

Two halves, as in controller-runtime:

- the **pass** (one thread) re-reads both files, observes every target in batches,
  plans, updates the metrics, and queues each target that is not at its pin. It runs
  on a pin-file or config change (watchfiles, debounced), on the resync timer (with
  jitter), on ``POST /reconcile``, and after every apply. It never acts on a
  remembered event: what it queues comes from what it just observed.
- the **workers** (``daemon.concurrency`` threads) take one target at a time from the
  keyed work queue and reconcile it: observe it afresh, plan, apply, wait, verify. A
  target waits for the targets the plan puts before it. A failure is retried with
  per-target exponential backoff (1 s doubling to 5 min, jittered); a newer pin
  resets the backoff and ends the wait of the apply it supersedes at once.

An invalid file changes nothing: the last valid pins stay in force and
``pinback_desired_state_valid`` drops to 0 until the file is valid again.
"""

from __future__ import annotations

import collections
import datetime as dt
import hashlib
import hmac
import os
import random
import signal
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from daemon.adapters import logs
from daemon.adapters.attribution import Attribution
from daemon.adapters.audit import AuditLog, AuditUnavailable, resolve_url
from daemon.adapters.notify import Notifier
from daemon.controller import handover
from daemon.controller.leadership import Leadership, LeaseStore
from daemon.controller.metrics import Metrics
from daemon.controller.readcache import ReadCache
from daemon.controller.sources import FileSource, GitSource, source_for
from daemon.controller.workqueue import ShutDown, WorkQueue
from daemon.core import fencing, shards
from daemon.core.durations import format_duration
from daemon.core.model import Action, Observed, Outcome, Pin, Plan, Result
from daemon.core.records import Entry, Event, Record
from daemon.engine.engine import ApplyContext, Engine, Snapshot
from daemon.errors import ConfigError, Fenced, PinbackError, SpecError
from daemon.spec import DesiredState, LoadedConfig, absolute, load_config, load_desired
from daemon.views.status import status_document

# A worker acts on the pass's observation when it is this fresh and no apply of the target
# has ended since; otherwise it observes the target again itself.
FRESH_FOR = 2.0
# A pin file written less than this long ago is not acted on yet (see _reload).
PAGE_EVENTS = 50  # the status page's timeline
PAGE_APPLIES = 20  # recent applies per target, drawn as its duration chart
PAGE_VERSIONS = 20
SETTLE = 0.02  # the same quiet interval the file watcher waits for
READS_PER_MINUTE = 30  # AWS reads on behalf of /versions readers, all targets together
SIGNAL_CHECK = 0.2  # how often the main thread wakes to run signal handlers
WATCH_TICK = 1.0  # the file watcher wakes at least this often (and first, once armed)


@dataclass
class TargetState:
    """What the controller remembers of one target between passes."""

    last_result: Result | None = None
    failed_pin: Pin | None = None
    stop: threading.Event | None = None
    superseded: bool = False
    waiting_on: tuple[str, ...] = ()
    settled_at: float = 0.0
    attribution: Attribution | None = None
    drifting: bool = False
    blocked: str | None = None
    held_pin: Pin | None = None
    held_reason: str | None = None
    applying_since: float | None = None  # time.time() of the running apply's start
    step: str | None = None  # its last progress message
    in_sync_at: float | None = None  # time.time() of the last pass that found it at its pin
    verified_at: float | None = None  # time.monotonic() when its last apply was verified


@dataclass
class Health:
    heartbeat: float = field(default_factory=time.monotonic)
    passes: int = 0
    desired_error: str | None = None


class Controller:
    def __init__(self, config_path: Path, state_path: Path | None = None) -> None:
        self.config_path = config_path
        self.state_override = state_path
        self.config: LoadedConfig = load_config(config_path)
        self.audit = AuditLog(resolve_url(self.config.audit_url(), self.config.base_dir))
        self.engine = Engine(self.config, audit=self.audit)
        self._open_starts: dict[str, Record] = {}
        self.source = source_for(self.config, self.state_path)
        self.metrics = Metrics({n: t.kind for n, t in self.config.model.targets.items()})
        self.engine.clients.counter.listeners.append(self.metrics.aws_call)
        self.queue = WorkQueue()
        self.log = logs.get()
        self.desired: DesiredState | None = None
        self.snapshot: Snapshot | None = None
        self._snapshot_basis: tuple[float, DesiredState | None] = (0.0, None)
        self.targets: dict[str, TargetState] = {n: TargetState() for n in self.config.model.targets}
        self.health = Health()
        self.stopping = threading.Event()
        self._wake = threading.Event()
        self._lock = threading.RLock()
        self._threads: list[threading.Thread] = []
        self._files: tuple[bytes, bytes] | None = None
        self._deliveries: collections.deque[str] = collections.deque(maxlen=1000)
        self._pass_local = threading.local()  # .held: audit entries of this thread's pass
        self._to_queue: list[str] = []
        self.notifier = Notifier(self.config, self.log, self.stopping)
        self.audit.listeners.append(self.notifier.on_record)
        self.shard_map: dict[str, int] = {}
        self.leadership = self._leadership()
        self._changes = threading.Condition()
        self._change_seq = 0
        self.audit.listeners.append(lambda record: self.changed())
        self._leases_done = threading.Event()
        self.reads: ReadCache[list[dict[str, Any]]] = ReadCache(
            self.config.model.daemon.resync_interval, READS_PER_MINUTE
        )
        self.watching = threading.Event()  # the file watcher is armed
        self._armed_at_pass = 0

    def _leadership(self) -> Leadership | None:
        """With ``leadership:`` configured, this replica applies only the shards whose
        lease it holds; without it, it is the only controller and applies everything."""
        settings = self.config.model.leadership
        if settings is None:
            return None
        url = os.environ.get(settings.url_env)
        if not url:
            raise ConfigError(
                f"leadership.urlEnv: the environment variable {settings.url_env} is not set"
            )
        self.shard_map = shards.assign(self.config.model, settings.shards)
        self.engine.clients.fenced = True  # every mutating AWS request confirms its epoch
        self.metrics.leading(0, settings.shards)
        return Leadership(
            LeaseStore(url, settings.lease_seconds),
            settings.shards,
            self._on_acquired,
            self._on_lost,
        )

    # -- lifecycle -------------------------------------------------------------------

    @property
    def state_path(self) -> Path:
        return self.state_override or self.config.state_path

    def start(self) -> None:
        """Start the pass loop, the workers, the resync timer and the file watcher."""
        try:
            self._open_starts = self.audit.open_starts()
        except (AuditUnavailable, Exception) as exc:
            self.log.error("audit_unavailable", error=str(exc))
        if self.leadership is not None:
            leadership = self.leadership
            threading.Thread(
                target=leadership.run, args=(self._leases_done,), name="leadership", daemon=True
            ).start()
        self._spawn("pass-loop", self._pass_loop)
        self._spawn("resync", self._resync_loop)
        self._spawn("watch", self._watch_loop)
        if isinstance(self.source, GitSource):
            self._spawn("git-poll", self._git_loop)
        for index in range(self.config.model.daemon.concurrency):
            self._spawn(f"worker-{index}", self._worker_loop)
        self.request_pass()

    def _spawn(self, name: str, target: Any) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def run_until_signalled(self) -> list[str]:
        """Run until SIGTERM or SIGINT, then stop; returns the threads still running."""
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.stopping.set())
        self.start()
        # With a timeout: a signal the kernel hands to another thread runs its Python handler
        # only once the main thread runs bytecode again, and a wait with no timeout never does.
        while not self.stopping.wait(SIGNAL_CHECK):
            pass
        return self.stop()

    def stop(self) -> list[str]:
        """Take no new work, end the waits of running applies at a safe point, then return
        the names of the threads that did not finish within the grace period.

        A wait interrupted here leaves the change in AWS to finish by itself; the next
        controller observes it and waits on it, never issuing it again.
        """
        self.log.info("shutdown_started")
        self.stopping.set()
        self.changed()  # ends the /events streams
        self._wake.set()
        self.queue.shut_down()
        with self._lock:
            for state in self.targets.values():
                if state.stop is not None:
                    state.stop.set()
        deadline = time.monotonic() + self.config.model.daemon.shutdown_grace
        for thread in self._threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        alive = [t.name for t in self._threads if t.is_alive()]
        self._leases_done.set()
        if self.leadership is not None:
            self.leadership.release_all()  # a successor takes over now, not a lease later
        self.log.info("shutdown_finished", still_running=alive)
        return alive

    def request_pass(self) -> None:
        self._wake.set()

    def reconcile_now(self, target: str | None = None) -> None:
        """``POST /reconcile``: reset the target's backoff (or all) and run a pass now."""
        for name in [target] if target else list(self.targets):
            self.queue.forget(name)
        self.request_pass()

    # -- the pass --------------------------------------------------------------------

    def _pass_loop(self) -> None:
        while not self.stopping.is_set():
            self.health.heartbeat = time.monotonic()
            if not self._wake.wait(timeout=1.0):
                continue
            self._wake.clear()
            if self.stopping.is_set():
                return
            try:
                self.run_pass()
            except Exception as exc:  # a pass must never kill the loop
                self.log.error("pass_crashed", error=f"{exc.__class__.__name__}: {exc}")

    def run_pass(self) -> None:
        self._pass_local.held = []
        try:
            self._pass()
        finally:
            held, self._pass_local.held = self._pass_local.held, None
            if held:  # a pass that ended early still records what it saw
                self._record(self.log, *held)

    def _pass(self) -> None:
        correlation = uuid.uuid4().hex[:12]
        log = self.log.bind(correlation_id=correlation)
        started = time.monotonic()
        desired = self._reload(log)
        if desired is None:
            return
        observed_at = time.monotonic()
        mine = self._observed_here()
        snapshot = self.engine.snapshot(desired, among=mine)
        with self._lock:
            self.snapshot = snapshot
            self._snapshot_basis = (observed_at, desired)
            self.health.passes += 1
        actions = {a.target: a for a in snapshot.plan.actions}
        elapsed = time.monotonic() - started
        self._to_queue = []
        for name in self.config.model.targets:
            if mine is None or name in mine:
                self._after_observe(name, desired, snapshot, actions.get(name), elapsed, log)
            else:  # another replica's: its drift is reported by the replica that leads it
                self.metrics.drift.labels(name, self.metrics.targets[name]).set(0)
        held, self._pass_local.held = self._pass_local.held or [], None
        self._record(log, *held)
        for name in self._to_queue:
            self.queue.add(name)
        self.metrics.queue_depth.set(self.queue.depth())
        self.changed()
        log.info(
            "pass_finished",
            changes=snapshot.plan.changes,
            in_sync=len(snapshot.plan.in_sync),
            unobserved=len(snapshot.plan.unobserved),
            seconds=round(elapsed, 3),
        )

    def _reload(self, log: Any) -> DesiredState | None:
        """The newest valid pins; on an invalid file, the last valid ones (or None)."""
        try:
            pins = self.source.read()
            raw = (self.config_path.read_bytes(), pins.raw)
        except OSError as exc:
            return self._invalid(f"cannot read {exc.filename}: {exc.strerror}", log)
        except PinbackError as exc:
            return self._invalid(str(exc), log)
        if raw == self._files and self.desired is not None:
            return self.desired
        settling = self._settling() if self.desired is not None else 0.0
        if settling > 0:
            # Written less than SETTLE ago: a burst may still be going on. Keep the pins in
            # force and look again once it has stood still, so a storm of writes is applied
            # once, not once per write.
            threading.Timer(settling, self.request_pass).start()
            return self.desired
        try:
            config = load_config(self.config_path)
            path = self.state_override or config.state_path
            desired = load_desired(path, config, content=pins.raw, name=pins.name)
        except SpecError as exc:
            return self._invalid("; ".join(str(i) for i in exc.issues), log)
        if config.model != self.config.model:
            log.info("config_changed")
            self._adopt(config)
        if self.desired is None or desired.pins != self.desired.pins:
            self._pins_changed(desired, log)
        self._files = raw
        self.desired = desired
        self.health.desired_error = None
        self.metrics.desired_valid.set(1)
        self.metrics.suspend(n for n, p in desired.pins.items() if p.suspend)
        return desired

    def _record(self, log: Any, *entries: Entry) -> None:
        """Append to the audit trail; a failure is logged (applies refuse on their own).

        During a pass the entries are held and written in one commit at its end, before
        any target is queued, so a pass costs one durable write, not one per event.
        """
        entries = tuple(e for e in entries if self._records(e))
        if not entries:
            return
        held: list[Entry] | None = getattr(self._pass_local, "held", None)
        if held is not None:  # only the pass's own thread holds; workers and leases write now
            held.extend(entries)
            return
        try:
            self.audit.append(entries)
        except AuditUnavailable as exc:
            log.error("audit_unavailable", error=str(exc))

    def _settling(self) -> float:
        """Seconds until the files have stood still for SETTLE (0 when they have)."""
        if not isinstance(self.source, FileSource):
            return 0.0
        try:
            written = max(self.source.path.stat().st_mtime, self.config_path.stat().st_mtime)
        except OSError:
            return 0.0
        return max(0.0, SETTLE - (time.time() - written))

    def _invalid(self, error: str, log: Any) -> DesiredState | None:
        """Keep the last valid pins in force and say why the files were not taken."""
        if self.health.desired_error != error:
            keeping = "last valid pins" if self.desired else "nothing yet"
            log.error(Event.DESIRED_INVALID, error=error, keeping=keeping)
            self._record(log, Entry(event=Event.DESIRED_INVALID, error=error))
        self.health.desired_error = error
        self.metrics.desired_valid.set(0)
        return self.desired

    def _adopt(self, config: LoadedConfig) -> None:
        """A changed config takes effect for the next pass; running applies finish on the old one."""
        with self._lock:
            self.config = config
            engine = Engine(config, self.engine.clients, self.audit)
            self.engine = engine
            self.source = source_for(config, self.state_override or config.state_path)
            if self.leadership is not None:
                self.shard_map = shards.assign(config.model, self.leadership.shards)
            for name, target in config.model.targets.items():
                self.targets.setdefault(name, TargetState())
                if name not in self.metrics.targets:
                    self.metrics.targets[name] = target.kind

    def _pins_changed(self, desired: DesiredState, log: Any) -> None:
        """Record who changed which pin, and let a newer pin supersede a failing one."""
        who = self.source.attribution()
        if self.desired is None:
            log.info("desired_loaded", pins={n: p.version for n, p in desired.pins.items()})
            old = self._recorded_pins(log)
        else:
            old = dict(self.desired.pins)
        first = self.desired is None
        entries = []
        unchanged = []
        for name, pin in desired.pins.items():
            state = self.targets.setdefault(name, TargetState())
            previous = old.get(name)
            same = _pin_key(previous) == _pin_key(pin) if first else previous == pin
            if same:
                unchanged.append(name)
                if state.attribution is None:
                    state.attribution = who
                continue
            state.attribution = who
            log.info(
                Event.DESIRED_CHANGED,
                target=name,
                desired=pin.version,
                before=previous.version if previous else None,
                reason=pin.reason,
                actor=who.author if who else None,
                pin_commit=who.commit if who else None,
            )
            kind = self.config.model.targets[name].kind
            entries.append(
                Entry(
                    event=Event.DESIRED_CHANGED,
                    target=name,
                    kind=kind,
                    desired=pin.version,
                    live_before=previous.version if previous else None,
                    actor=who.author if who else None,
                    pin_commit=who.commit if who else None,
                    reason=_with_flags(pin, pin.reason or (who.message if who else None)),
                )
            )
            if pin.suspend != (previous.suspend if previous else False):
                event = Event.SUSPENDED if pin.suspend else Event.RESUMED
                entries.append(
                    Entry(
                        event=event,
                        target=name,
                        kind=kind,
                        reason=pin.reason,
                        actor=who.author if who else None,
                    )
                )
            with self._lock:
                if state.failed_pin is not None and state.failed_pin != pin:
                    state.failed_pin = None
                    self.queue.forget(name)  # a newer pin never waits out the old one's backoff
                if state.stop is not None and not state.stop.is_set():
                    state.superseded = True
                    state.stop.set()  # end the wait of the apply this pin replaces
        self._record(log, *entries)
        if first:
            self._restore_holds(desired, unchanged, log)

    def _restore_holds(self, desired: DesiredState, unchanged: list[str], log: Any) -> None:
        """A pin whose gate failed before a restart stays held: its ``health_failed`` record
        is newer than the last change of the pin, so applying it again would only fail (and
        revert) again. The trail is the controller's memory across restarts."""
        try:
            last = self.audit.latest((Event.HEALTH_FAILED, Event.DESIRED_CHANGED))
        except AuditUnavailable as exc:
            log.error("audit_unavailable", error=str(exc))
            return
        for name in unchanged:
            record = last.get(name)
            if record is None or record.event != Event.HEALTH_FAILED:
                continue
            reason = f"{record.error} (recorded {record.ts}, before a restart)"
            log.info("held", target=name, reason=reason)
            with self._lock:
                state = self.targets[name]
                state.held_pin, state.held_reason = desired.pins[name], reason
            self.metrics.health_failed.labels(name).set(1)

    def _recorded_pins(self, log: Any) -> dict[str, Pin]:
        """The pins as the audit trail last recorded them, so a change made while no
        controller ran is still recorded once, and a restart records nothing new."""
        try:
            last = self.audit.latest((Event.DESIRED_CHANGED,))
            states = self.audit.latest((Event.SUSPENDED, Event.RESUMED))
        except AuditUnavailable as exc:
            log.error("audit_unavailable", error=str(exc))
            return {}
        return {
            target: Pin(
                version=record.desired,
                suspend=states[target].event == Event.SUSPENDED if target in states else False,
                reason=record.reason,
            )
            for target, record in last.items()
        }

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
        kind = self.metrics.targets[name]
        if observed is not None:
            self.metrics.versions(name, pin.version if pin else None, observed.live)
        opened = self._open_starts.pop(name, None) if self._applies(name) else None
        if opened is not None and observed is not None and observed.error is None:
            self._close_open_start(opened, observed.live, log)
        if name in snapshot.plan.unobserved:
            self._queue_unless_backing_off(name)
            return
        if pin is None or pin.version is None:  # observed only: nothing to drift from
            self.metrics.drift.labels(name, kind).set(0)
            return
        state = self.targets.setdefault(name, TargetState())
        if state.held_pin is not None and state.held_pin != pin:
            state.held_pin = state.held_reason = None  # a new pin: health is judged afresh
            self.metrics.health_failed.labels(name).set(0)
        drifted = action is not None and not action.wait_only
        self.metrics.drift.labels(name, kind).set(1 if drifted else 0)
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
            self._record(
                log,
                Entry(
                    event=Event.DRIFT_DETECTED,
                    target=name,
                    kind=kind,
                    desired=action.to_version,
                    live_before=action.from_version,
                    reason=action.reason,
                ),
            )
        state.drifting = drifted
        blocked = None if action.wait_only else action.blocked
        if blocked is not None and blocked != state.blocked:
            log.warning(Event.BLOCKED, target=name, reason=blocked)
            self._record(
                log,
                Entry(
                    event=Event.BLOCKED,
                    target=name,
                    kind=kind,
                    desired=action.to_version,
                    live_before=action.from_version,
                    error=blocked,
                    reason=action.reason,
                ),
            )
        state.blocked = blocked
        if blocked is not None:
            self.metrics.result(name, Outcome.BLOCKED, seconds, in_sync=False)
            return
        self._queue_unless_backing_off(name)

    def _close_open_start(self, opened: Record, live: str | None, log: Any) -> None:
        """A controller died during this apply: record what is live now, once."""
        took = opened.desired is not None and live == opened.desired
        event = Event.APPLY_SUCCEEDED if took else Event.APPLY_FAILED
        note = "outcome observed after a restart"
        log.info("open_apply_closed", target=opened.target, outcome=event, live=live)
        self._record(
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
                reason=note if took else opened.reason,
                correlation_id=opened.correlation_id,
                error=None if took else f"interrupted by a restart; live is {live}",
                epoch=self._fence(opened.target or "")[0],
            ),
        )

    def _queue_unless_backing_off(self, name: str) -> None:
        if self.queue.failures(name) == 0 and self._applies(name):
            self._to_queue.append(name)

    # -- the workers -----------------------------------------------------------------

    def _worker_loop(self) -> None:
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
                    "reconcile_crashed", target=name, error=f"{exc.__class__.__name__}: {exc}"
                )
                self.queue.add_after(name, self.queue.backoff(name))
            finally:
                self.queue.done(name)
                self.metrics.queue_depth.set(self.queue.depth())

    def reconcile(self, name: str) -> None:
        """One target, one pass: observe afresh, plan, apply, wait, verify, record."""
        with self._lock:
            desired, engine, snapshot = self.desired, self.engine, self.snapshot
            observed_at, basis = self._snapshot_basis
            state = self.targets.setdefault(name, TargetState())
        if (
            desired is None
            or self.stopping.is_set()
            or name not in engine.config.model.targets
            or not self._applies(name)
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
            with self._lock:
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
        stop = threading.Event()
        with self._lock:
            state.stop, state.superseded = stop, False
            state.applying_since, state.step = time.time(), "starting"
        self.changed()

        def progress(target: str, message: str) -> None:
            log.info("progress", message=message)
            state.step = message
            self.changed()

        log.info(
            Event.APPLY_STARTED,
            desired=action.to_version,
            live_before=action.from_version,
            wait_only=action.wait_only,
        )
        who = state.attribution
        epoch, fence = self._fence(name)
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
        with self._lock:
            state.stop = None
            state.applying_since = state.step = None
            state.last_result = result
            superseded = state.superseded
            if result.outcome is Outcome.APPLIED:
                state.in_sync_at, state.verified_at = time.time(), time.monotonic()
        self.changed()
        if result.outcome is Outcome.APPLIED:
            log.info(
                Event.APPLY_SUCCEEDED,
                desired=result.desired,
                live_after=result.live_after,
                seconds=round(result.duration_s, 3),
            )
            self.metrics.result(name, Outcome.APPLIED, time.monotonic() - started, in_sync=True)
            self.metrics.drift.labels(name, self.metrics.targets[name]).set(0)
            with self._lock:
                state.failed_pin = None
            self.queue.forget(name)
        elif result.held:
            # Held (or reverted) until the pin changes: retrying the same pin would loop.
            event = Event.HEALTH_FAILED if result.detail.get("health") == "failed" else "held"
            log.error(event, error=result.error, live_after=result.live_after)
            self.metrics.result(name, Outcome.FAILED, time.monotonic() - started, in_sync=False)
            self.metrics.health_failed.labels(name).set(1)
            with self._lock:
                state.held_pin = desired.pins.get(name)
                state.held_reason = result.error
        elif superseded or self.stopping.is_set() or not self._applies(name):
            why = (
                "superseded by a newer pin"
                if superseded
                else "controller stopping"
                if self.stopping.is_set()
                else "this replica lost its lease"
            )
            log.info("apply_interrupted", reason=why, live_after=result.live_after)
            if superseded:
                self.queue.add(name)
        else:
            self._failed(name, desired, result.error or "failed", started, log)
        if result.live_after is not None:
            pin = desired.pins.get(name)
            self.metrics.versions(name, pin.version if pin else None, result.live_after)
        with self._lock:
            waited_on = any(name in s.waiting_on for s in self.targets.values())
        if waited_on:
            self.request_pass()  # the targets ordered after this one move on now

    def _waiting(self, name: str, snapshot: Snapshot, log: Any) -> bool:
        """True when a target the plan puts before this one is not at its pin yet."""
        action = next((a for a in snapshot.plan.actions if a.target == name), None)
        if action is None or not action.after:
            return False
        pending = {a.target for a in snapshot.plan.actions if a.blocked is None}
        ahead = tuple(p for p in action.after if p in pending or self.queue.busy(p))
        with self._lock:
            state = self.targets[name]
            changed = ahead != state.waiting_on
            state.waiting_on = ahead
        if ahead and changed:
            log.info("waiting_for", targets=list(ahead))
        return bool(ahead)

    def _failed(
        self, name: str, desired: DesiredState, error: str, started: float, log: Any
    ) -> None:
        delay = self.queue.backoff(name)
        log.error(Event.APPLY_FAILED, error=error, retry_in_s=round(delay, 1))
        self.metrics.result(name, Outcome.FAILED, time.monotonic() - started, in_sync=False)
        with self._lock:
            self.targets[name].failed_pin = desired.pins.get(name)
        self.queue.add_after(name, delay)

    # -- leadership ----------------------------------------------------------------------

    def _applies(self, name: str) -> bool:
        """May this replica change ``name`` now (it leads the target's shard)?"""
        if self.leadership is None:
            return True
        return self.leadership.epoch(self.shard_map.get(name, 0)) is not None

    def _fence(self, name: str) -> tuple[int | None, fencing.Fence | None]:
        if self.leadership is None:
            return None, None
        shard = self.shard_map.get(name, 0)
        epoch = self.leadership.epoch(shard)
        if epoch is None:
            return None, _Refuse(shard)
        return epoch, self.leadership.fence(shard, epoch)

    def _observed_here(self) -> set[str] | None:
        """The targets this replica observes each pass; None for all of them.

        With one shard every replica observes everything (a follower reports drift and
        is ready to take over). With several, a replica that leads shards observes only
        theirs, so N replicas split the observing as well as the applying; one that
        leads none observes everything, as a standby. Prometheus takes the maximum over
        replicas, so each target's drift comes from whoever leads it.
        """
        if self.leadership is None or self.leadership.shards == 1:
            return None
        mine = {n for n in self.config.model.targets if self._applies(n)}
        return mine or None

    def _records(self, entry: Entry) -> bool:
        """Whether this replica writes ``entry``: the leader of the target's shard does, so
        three replicas seeing one drift record it once."""
        if self.leadership is None or entry.event in (Event.LEADER_ACQUIRED, Event.LEADER_LOST):
            return True
        return self._applies(entry.target) if entry.target else self.leadership.leads_any()

    def _on_acquired(self, shard: int, epoch: int) -> None:
        assert self.leadership is not None
        log = self.log.bind(shard=shard, epoch=epoch)
        log.info(Event.LEADER_ACQUIRED, holder=self.leadership.holder)
        mine = {n for n, s in self.shard_map.items() if s == shard}
        self._record(
            log,
            Entry(
                event=Event.LEADER_ACQUIRED,
                epoch=epoch,
                actor=self.leadership.holder,
                reason=f"shard {shard} of {self.leadership.shards}: {', '.join(sorted(mine))}",
            ),
        )
        try:  # the applies a dead leader left open are this replica's to close now
            opened = self.audit.open_starts()
        except AuditUnavailable as exc:
            log.error("audit_unavailable", error=str(exc))
            opened = {}
        with self._lock:
            self._open_starts.update({t: r for t, r in opened.items() if t in mine})
            for name in mine:  # drift seen as a follower is recorded anew by the leader
                state = self.targets.setdefault(name, TargetState())
                state.drifting, state.blocked = False, None
        self._count_shards()
        self.request_pass()

    def _on_lost(self, shard: int, epoch: int, why: str) -> None:
        assert self.leadership is not None
        log = self.log.bind(shard=shard, epoch=epoch)
        released = why == "released at shutdown"
        (log.info if released else log.error)(Event.LEADER_LOST, reason=why)
        with self._lock:  # stop applying at once: end the waits of this shard's applies
            for name, state in self.targets.items():
                if self.shard_map.get(name, 0) == shard and state.stop is not None:
                    state.stop.set()
        self._record(
            log,
            Entry(event=Event.LEADER_LOST, epoch=epoch, actor=self.leadership.holder, reason=why),
        )
        self._count_shards()

    def _count_shards(self) -> None:
        assert self.leadership is not None
        held = sum(1 for s in range(self.leadership.shards) if self.leadership.epoch(s) is not None)
        self.metrics.leading(held, self.leadership.shards)

    # -- timers and sources ------------------------------------------------------------

    def _resync_loop(self) -> None:
        while not self.stopping.is_set():
            interval = self.config.model.daemon.resync_interval
            if self.stopping.wait(interval * random.uniform(0.9, 1.1)):
                return
            self.request_pass()

    def _git_loop(self) -> None:
        """Fetch the pin file's repository every pollInterval; a new commit at the ref starts a pass."""
        while not self.stopping.is_set():
            git = self.config.model.desired_state.git
            try:
                if self.source.refresh():
                    self.request_pass()
            except PinbackError as exc:
                self.log.error("git_fetch_failed", error=str(exc))
            if self.stopping.wait(git.poll_interval if git else 15.0):
                return

    def _watch_loop(self) -> None:
        """Wake a pass when the bytes of either file change, however they were changed.

        The folders of both the paths as configured and the files they lead to are
        watched, and any event there is checked by reading the two files: an editor that
        replaces a file, a ConfigMap volume or git-sync swapping a ``..data`` symlink to a
        new folder, and a plain write all show as new bytes. The first yield (an empty
        one, ``WATCH_TICK`` after the watcher is armed) marks the controller as watching
        and asks for a pass, so an edit saved before the watcher was armed is still read.
        The bytes are compared on every wake, with or without events, so a change made
        while one watch ends and the next is armed (a swap moves where a link leads) is
        caught within ``WATCH_TICK``, never left to the resync.
        """
        from watchfiles import watch

        seen = _contents((self.config_path, self.state_path))
        while not self.stopping.is_set():
            paths = (self.config_path, self.state_path)
            folders = _folders(paths)
            try:
                for _changes in watch(
                    *folders,
                    debounce=1000,
                    step=20,
                    stop_event=self.stopping,
                    yield_on_timeout=True,
                    rust_timeout=int(WATCH_TICK * 1000),
                ):
                    if not self.watching.is_set():
                        self._armed_at_pass = self.health.passes
                        self.watching.set()
                        self.request_pass()
                    # Every wake, events or not: what changed while no watcher was armed
                    # (between two watches, say) is caught within WATCH_TICK.
                    if (now := _contents(paths)) != seen:
                        seen = now
                        self.request_pass()
                    if (self.config_path, self.state_path) != paths or _folders(paths) != folders:
                        break  # the config moved the pin file, or a link now leads elsewhere
            except (OSError, RuntimeError) as exc:
                self.log.error("watch_failed", error=str(exc))
                self.stopping.wait(1.0)

    # -- what the HTTP endpoints serve -------------------------------------------------

    def git_webhook(self, body: bytes, headers: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
        """``POST /hooks/git``: a GitHub push signed with X-Hub-Signature-256 starts a fetch
        and a pass at once. Unsigned or badly signed: 401 and nothing happens; a delivery
        seen before: 200 and nothing happens again."""
        git = self.config.model.desired_state.git
        secret_env = git.webhook_secret_env if git else None
        secret = os.environ.get(secret_env) if secret_env else None
        if not isinstance(self.source, GitSource) or not secret:
            return 404, {
                "error": "no git webhook is configured (desiredState.git.webhookSecretEnv)"
            }
        lowered = {k.lower(): v for k, v in headers.items()}
        signature = lowered.get("x-hub-signature-256", "")
        expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(signature.encode(), expected.encode()):
            self.log.warning("git_webhook_refused", reason="missing or bad X-Hub-Signature-256")
            return 401, {"error": "bad signature"}
        delivery = lowered.get("x-github-delivery", "")
        with self._lock:
            if delivery and delivery in self._deliveries:
                return 200, {"duplicate": delivery}
            if delivery:
                self._deliveries.append(delivery)
        threading.Thread(target=self._fetch_now, name="git-webhook", daemon=True).start()
        return 202, {"fetching": self.source.ref, "delivery": delivery}

    def _fetch_now(self) -> None:
        try:
            self.source.refresh()
        except PinbackError as exc:
            self.log.error("git_fetch_failed", error=str(exc))
        self.request_pass()

    def metrics_text(self) -> bytes:
        return self.metrics.render()

    # -- the status page ---------------------------------------------------------------

    def changed(self) -> None:
        """Something a person watching would see changed: wake the ``/events`` streams."""
        with self._changes:
            self._change_seq += 1
            self._changes.notify_all()

    def wait_change(self, seen: int, timeout: float) -> int:
        """Block until the change counter passes ``seen`` (or ``timeout``); return it."""
        with self._changes:
            self._changes.wait_for(
                lambda: self._change_seq != seen or self.stopping.is_set(), timeout
            )
            return self._change_seq

    def page_view(self) -> dict[str, Any]:
        """What ``daemon.views.page`` draws: the status document and the recent audit records."""
        view: dict[str, Any] = {
            "status": self.status(),
            "now": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        }
        try:
            view["events"] = [r.as_json() for r in self.audit.query(limit=PAGE_EVENTS)]
            view["durations"] = self.audit.recent_durations(per_target=PAGE_APPLIES)
        except AuditUnavailable as exc:
            view["events"], view["durations"] = [], {}
            self.log.error("audit_unavailable", error=str(exc))
        return view

    def versions_json(self, target: str) -> dict[str, Any]:
        """``GET /versions/T``: shared by every reader through ``self.reads`` (at most one
        fetch per target per resync interval, ``READS_PER_MINUTE`` in all), so a room of
        people refreshing the page during an incident costs the account no API rate."""

        def fetch() -> list[dict[str, Any]]:
            return [v.as_json() for v in self.engine.versions(target, PAGE_VERSIONS)]

        answer = self.reads.get(target, fetch)
        return {"target": target, "versions": answer.value, "ageSeconds": round(answer.age_s, 1)}

    def healthy(self) -> bool:
        stale_after = self.config.model.daemon.liveness_timeout
        return time.monotonic() - self.health.heartbeat < stale_after

    def ready(self) -> bool:
        """Pins loaded, every target observed, and the file watcher armed with a pass run
        since: from the moment this is true, an edit saved is seen at once."""
        return (
            self.desired is not None
            and self.watching.is_set()
            and self.health.passes > self._armed_at_pass
        )

    def status(self) -> dict[str, Any]:
        with self._lock:
            snapshot, desired, config = self.snapshot, self.desired, self.config
            results: Mapping[str, Result] = {
                n: s.last_result for n, s in self.targets.items() if s.last_result is not None
            }
        observed = dict(snapshot.observed) if snapshot else {}
        actions = {a.target: a for a in snapshot.plan.actions} if snapshot else {}
        in_sync = set(snapshot.plan.in_sync) if snapshot else set()
        self._show_verified_applies(observed, actions, in_sync)
        held = {
            n: s.held_reason or "held" for n, s in self.targets.items() if s.held_pin is not None
        }
        extra: dict[str, Any] = {
            "desiredStateValid": self.health.desired_error is None,
            "watching": self.watching.is_set(),
            "passes": self.health.passes,
            "identity": self._identity(),
        }
        if self.health.desired_error:
            extra["desiredStateError"] = self.health.desired_error
        if self.leadership is not None:
            extra["leadership"] = self._leadership_status(self.leadership)
        with self._lock:
            applying = {n for n, s in self.targets.items() if s.applying_since is not None}
        document = status_document(
            config, desired, observed, actions, in_sync, results, extra, held, applying
        )
        now = time.time()
        mine = self._observed_here()
        for row in document["targets"]:
            if mine is not None and row["target"] not in mine:
                shard = self.shard_map.get(row["target"], 0)
                row["state"] = f"observed by the replica that leads shard {shard}"
            state = self.targets.get(row["target"])
            if state is not None and state.applying_since is not None:
                elapsed = format_duration(now - state.applying_since)
                row["applying"] = {"step": state.step or "starting", "elapsed": elapsed}
            if state is not None and state.in_sync_at is not None:
                row["lastInSync"] = _iso(state.in_sync_at)
            if row["target"] in held:
                last = results.get(row["target"])
                cause = "health failed, " if last and last.detail.get("health") else ""
                row["state"] = f"{cause}held until the pin changes: {held[row['target']]}"
        return document

    def _show_verified_applies(
        self, observed: dict[str, Observed], actions: dict[str, Action], in_sync: set[str]
    ) -> None:
        """A target whose apply was verified after the last pass observed it is shown at the
        version the apply verified, in sync: the pass's reading is older than the apply, and
        the next pass may be a resync interval away while people refresh the page. Only while
        the pin is the one that apply was for."""
        with self._lock:
            observed_at, basis = self._snapshot_basis
            desired = self.desired
            verified = {
                name: state.last_result
                for name, state in self.targets.items()
                if state.verified_at is not None and state.verified_at > observed_at
            }
        for name, result in verified.items():
            action, seen = actions.get(name), observed.get(name)
            if (
                result is None
                or result.live_after is None
                or action is None
                or seen is None
                or action.to_version != result.desired
                or basis is None
                or desired is None
                or basis.pins.get(name) != desired.pins.get(name)
            ):
                continue
            observed[name] = replace(seen, live=result.live_after, in_progress=None)
            del actions[name]
            in_sync.add(name)

    def _identity(self) -> dict[str, str]:
        """The files this controller runs, for a one-shot command to compare with its own
        (``daemon.controller.handover``): a command of another config must not believe this status."""
        config = self._files[0] if self._files is not None else self.config_path.read_bytes()
        return handover.identity(absolute(self.config_path), absolute(self.state_path), config)

    def _leadership_status(self, leadership: Leadership) -> dict[str, Any]:
        found: dict[str, Any] = {"holder": leadership.holder, "error": leadership.last_error}
        try:
            found["shards"] = leadership.holders()
        except Exception as exc:  # the page still shows what this replica knows
            found["shards"] = [
                {"shard": s, "mine": leadership.epoch(s) is not None}
                for s in range(leadership.shards)
            ]
            found["error"] = f"cannot read the leases: {exc.__class__.__name__}"
        return found


def _folders(paths: tuple[Path, ...]) -> list[str]:
    """The folders to watch for ``paths``: where each is, and where its links lead."""
    return sorted({str(p.parent) for p in paths} | {str(p.resolve().parent) for p in paths})


def _contents(paths: tuple[Path, ...]) -> tuple[bytes | None, ...]:
    """The files' bytes now, read through their links; None for one that cannot be read."""
    found: list[bytes | None] = []
    for path in paths:
        try:
            found.append(path.read_bytes())
        except OSError:
            found.append(None)
    return tuple(found)


def _iso(moment: float) -> str:
    return dt.datetime.fromtimestamp(moment, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class _Refuse:
    """The fence of a shard this replica does not lead: every change is refused."""

    def __init__(self, shard: int) -> None:
        self.shard = shard

    def confirm(self) -> None:
        raise Fenced(f"this replica does not lead shard {self.shard}")


def _with_flags(pin: Pin, reason: str | None) -> str | None:
    """The pin's reason, plus the permissions it grants, so the audit says who allowed what."""
    flags = [
        name
        for name, on in (("allowDestructive", pin.allow_destructive), ("override", pin.override))
        if on
    ]
    if not flags:
        return reason
    return f"{reason or ''} [{', '.join(flags)}]".strip()


def _pin_key(pin: Pin | None) -> tuple[str | None, bool, str | None] | None:
    """What the audit trail keeps of a pin: enough to tell a change across restarts."""
    return None if pin is None else (pin.version, pin.suspend, pin.reason)
