"""Reading the pins at the start of every pass: the newest valid pins, or the last valid
ones with the reason the files on disk were not taken.

A burst of writes is taken once it has stood still for ``SETTLE`` (so a storm of edits is
applied once, not once per write). A changed config is adopted for the next pass; running
applies finish on the old one. Each changed pin is recorded with who changed it (git
author and commit of the pin file), and a newer pin ends the wait of the apply it replaces
and the backoff of the one that failed. On the first load the audit trail is the memory:
a pin changed while no controller ran is recorded once, and a pin held after a failed
health check before a restart stays held.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from daemon.adapters.audit import AuditLog
from daemon.adapters.logs import LogEvent
from daemon.controller.leases import Leases
from daemon.controller.metrics import Metrics
from daemon.controller.recording import Recorder
from daemon.controller.shared import Shared
from daemon.controller.sources import FileSource, source_for
from daemon.controller.workqueue import WorkQueue
from daemon.core.model import Pin
from daemon.core.records import Entry, Event
from daemon.engine.engine import Engine
from daemon.errors import AuditUnavailable, ConfigError, PinbackError, SpecError
from daemon.spec import DesiredState, LoadedConfig, load_config, load_desired

SETTLE = 0.02  # the same quiet interval the file watcher waits for


@dataclass(eq=False)
class PinReloader:
    shared: Shared
    metrics: Metrics
    audit: AuditLog
    recorder: Recorder
    queue: WorkQueue
    leases: Leases
    # (target, version) pairs the trail already records as denied
    _denials_recorded: set[tuple[str | None, str | None]] = field(default_factory=set, init=False)

    def reload(self, log: Any) -> DesiredState | None:
        """The newest valid pins; on an invalid file, the last valid ones (or None)."""
        shared = self.shared
        try:
            pins = shared.source.read()
            raw = (shared.config_path.read_bytes(), pins.raw)
        except OSError as exc:
            return self._invalid(f"cannot read {exc.filename}: {exc.strerror}", log)
        except PinbackError as exc:
            return self._invalid(str(exc), log)
        if raw == shared.files and shared.desired is not None:
            return shared.desired
        settling = self._settling() if shared.desired is not None else 0.0
        if settling > 0:
            # Written less than SETTLE ago: a burst may still be going on. Keep the pins in
            # force and look again once it has stood still.
            threading.Timer(settling, shared.request_pass).start()
            return shared.desired
        try:
            config = load_config(shared.config_path).select(shared.config.environment)
            path = shared.state_override or config.state_path
            desired = load_desired(path, config, content=pins.raw, name=pins.name)
        except SpecError as exc:
            return self._invalid("; ".join(str(i) for i in exc.issues), log)
        except ConfigError as exc:  # this controller's environment is gone from the config
            return self._invalid(str(exc), log)
        if config.model != shared.config.model:
            log.info(LogEvent.CONFIG_CHANGED)
            self._adopt(config)
        if shared.desired is None or desired.pins != shared.desired.pins:
            self._pins_changed(desired, log)
        self._record_denials(desired, log)
        shared.files = raw
        shared.desired = desired
        shared.health.desired_error = None
        self.metrics.valid(True)
        self.metrics.suspend(n for n, p in desired.pins.items() if p.suspend)
        return desired

    def _settling(self) -> float:
        """Seconds until the files have stood still for SETTLE (0 when they have)."""
        source = self.shared.source
        if not isinstance(source, FileSource):
            return 0.0
        try:
            written = max(source.path.stat().st_mtime, self.shared.config_path.stat().st_mtime)
        except OSError:
            return 0.0
        return max(0.0, SETTLE - (time.time() - written))

    def _invalid(self, error: str, log: Any) -> DesiredState | None:
        """Keep the last valid pins in force and say why the files were not taken."""
        health = self.shared.health
        if health.desired_error != error:
            keeping = "last valid pins" if self.shared.desired else "nothing yet"
            log.error(Event.DESIRED_INVALID, error=error, keeping=keeping)
            self.recorder.record(log, Entry(event=Event.DESIRED_INVALID, error=error))
        health.desired_error = error
        self.metrics.valid(False)
        return self.shared.desired

    def _adopt(self, config: LoadedConfig) -> None:
        """A changed config takes effect for the next pass; running applies finish on the old one."""
        shared = self.shared
        with shared.lock:
            shared.config = config
            shared.engine = Engine(config, shared.engine.clients, self.audit)
            shared.source = source_for(config, shared.state_override or config.state_path)
            self.leases.reassign(config)
            for name, target in config.model.targets.items():
                shared.target(name)
                if name not in self.metrics.targets:
                    self.metrics.add_target(name, target.kind)

    def _pins_changed(self, desired: DesiredState, log: Any) -> None:
        """Record who changed which pin, and let a newer pin supersede a failing one."""
        shared = self.shared
        who = shared.source.attribution()
        first = shared.desired is None
        if shared.desired is None:
            log.info(LogEvent.DESIRED_LOADED, pins={n: p.version for n, p in desired.pins.items()})
            old = self._recorded_pins(log)
        else:
            old = dict(shared.desired.pins)
        entries = []
        unchanged = []
        for name, pin in desired.pins.items():
            state = shared.target(name)
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
            kind = shared.config.model.targets[name].kind
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
                entries.append(
                    Entry(
                        event=Event.SUSPENDED if pin.suspend else Event.RESUMED,
                        target=name,
                        kind=kind,
                        reason=pin.reason,
                        actor=who.author if who else None,
                    )
                )
            with shared.lock:
                if state.failed_pin is not None and state.failed_pin != pin:
                    state.failed_pin = None
                    self.queue.forget(name)  # a newer pin never waits out the old one's backoff
                if state.stop is not None and not state.stop.is_set():
                    state.superseded = True
                    state.stop.set()  # end the wait of the apply this pin replaces
        self.recorder.record(log, *entries)
        if first:
            self._restore_holds(desired, unchanged, log)

    def _record_denials(self, desired: DesiredState, log: Any) -> None:
        """A version newly in a ``deny:`` list is recorded once (``denied``), with who
        added it; the block sentence quotes that record. ``pinback rollback --deny`` may
        have recorded it already."""
        wanted = {(n, v) for n, pin in desired.pins.items() for v in pin.denied}
        if not wanted - self._denials_recorded:
            return
        try:
            self._denials_recorded |= {
                (r.target, r.desired) for r in self.audit.query(event_name=Event.DENIED)
            }
        except AuditUnavailable as exc:
            log.error(LogEvent.AUDIT_UNAVAILABLE, error=str(exc))
            return
        who = self.shared.source.attribution()
        entries = [
            Entry(
                event=Event.DENIED,
                target=name,
                kind=self.shared.config.model.targets[name].kind,
                desired=version,
                actor=who.author if who else None,
                pin_commit=who.commit if who else None,
                reason=desired.pins[name].reason or (who.message if who else None),
            )
            for name, version in sorted(wanted - self._denials_recorded)
        ]
        for entry in entries:
            log.info(Event.DENIED, target=entry.target, version=entry.desired, actor=entry.actor)
        self.recorder.record(log, *entries)
        # Once asked for (a failed write is logged); the replica that leads a target's shard
        # is the one that writes its records.
        self._denials_recorded |= {(e.target, e.desired) for e in entries if self.leases.writes(e)}

    def _restore_holds(self, desired: DesiredState, unchanged: list[str], log: Any) -> None:
        """A pin whose gate failed before a restart stays held: its ``health_failed`` record
        is newer than the last change of the pin, so applying it again would only fail (and
        revert) again. The trail is the controller's memory across restarts."""
        try:
            last = self.audit.latest((Event.HEALTH_FAILED, Event.DESIRED_CHANGED))
        except AuditUnavailable as exc:
            log.error(LogEvent.AUDIT_UNAVAILABLE, error=str(exc))
            return
        for name in unchanged:
            record = last.get(name)
            if record is None or record.event != Event.HEALTH_FAILED:
                continue
            reason = f"{record.error} (recorded {record.ts}, before a restart)"
            log.info(LogEvent.HELD, target=name, reason=reason)
            with self.shared.lock:
                state = self.shared.target(name)
                state.held_pin, state.held_reason = desired.pins[name], reason
            self.metrics.health(name, True)

    def _recorded_pins(self, log: Any) -> dict[str, Pin]:
        """The pins as the audit trail last recorded them, so a change made while no
        controller ran is still recorded once, and a restart records nothing new."""
        try:
            last = self.audit.latest((Event.DESIRED_CHANGED,))
            states = self.audit.latest((Event.SUSPENDED, Event.RESUMED))
        except AuditUnavailable as exc:
            log.error(LogEvent.AUDIT_UNAVAILABLE, error=str(exc))
            return {}
        return {
            target: Pin(
                version=record.desired,
                suspend=states[target].event == Event.SUSPENDED if target in states else False,
                reason=record.reason,
            )
            for target, record in last.items()
        }


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
