"""What the controller's threads share, and the one lock that guards it.

The pass thread, the workers, the lease callbacks and the HTTP views all read and write the
same few things: the config and engine in force, the last valid pins, the last pass's
snapshot, and what is remembered of each target between passes. They live here, in one
object handed to each collaborator, so that who may write what is visible in one place:
everything a second thread can see changes under ``lock`` (an ``RLock``: a collaborator
holding it may call another that takes it again).

Two signals ride along: ``request_pass`` wakes the pass loop, and ``changed`` wakes the
``/events`` streams of the status page.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from daemon.adapters.attribution import Attribution
from daemon.controller.sources import Source
from daemon.core.model import Action, Outcome, Pin, Result
from daemon.core.records import Record
from daemon.engine.engine import Engine
from daemon.engine.values import Snapshot
from daemon.spec import DesiredState, LoadedConfig


@dataclass
class TargetState:
    """What the controller remembers of one target between passes."""

    last_result: Result | None = None
    failed_pin: Pin | None = None
    stop: threading.Event | None = None  # ends the wait of the running apply
    superseded: bool = False  # a newer pin ended that wait
    waiting_on: tuple[str, ...] = ()  # targets the plan puts before this one, not there yet
    settled_at: float = 0.0  # time.monotonic() when its last reconcile ended
    attribution: Attribution | None = None
    drifting: bool = False
    blocked: str | None = None
    held_pin: Pin | None = None
    held_reason: str | None = None
    applying_since: float | None = None  # time.time() of the running apply's start
    step: str | None = None  # its last progress message
    in_sync_at: float | None = None  # time.time() of the last pass that found it at its pin
    verified_at: float | None = None  # time.monotonic() when its last apply was verified
    ready_steps: int | None = None  # steps back a rollback can go now (None: not checked)
    not_ready: str | None = None  # why the next step back cannot be taken


@dataclass
class Health:
    """What ``/healthz`` and ``/readyz`` judge the controller by."""

    heartbeat: float = field(default_factory=time.monotonic)  # the pass loop's last turn
    passes: int = 0
    desired_error: str | None = None  # why the files in force are not the files on disk


class Changes:
    """A counter of changes a person watching would see, and a way to wait for the next.

    One per process: every environment's controller counts into it, so one ``/events``
    stream follows them all."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._seq = 0

    def changed(self) -> None:
        with self._condition:
            self._seq += 1
            self._condition.notify_all()

    def wait(self, seen: int, timeout: float, stopping: threading.Event) -> int:
        """Block until the counter passes ``seen``, ``stopping`` is set or ``timeout``."""
        with self._condition:
            self._condition.wait_for(lambda: self._seq != seen or stopping.is_set(), timeout)
            return self._seq


class Shared:
    """The controller's state in force (see the module docstring for the locking rule)."""

    def __init__(
        self,
        config_path: Path,
        state_override: Path | None,
        config: LoadedConfig,
        engine: Engine,
        source: Source,
        changes: Changes | None = None,
    ) -> None:
        self.config_path = config_path
        self.state_override = state_override
        self.config = config
        self.engine = engine
        self.source = source
        self.desired: DesiredState | None = None
        self.snapshot: Snapshot | None = None
        # When the snapshot's observation began (time.monotonic()) and the pins it planned.
        self.basis: tuple[float, DesiredState | None] = (0.0, None)
        self.files: tuple[bytes, bytes] | None = None  # the bytes the pins in force came from
        self.targets: dict[str, TargetState] = {n: TargetState() for n in config.model.targets}
        self.open_starts: dict[str, Record] = {}  # applies a dead controller left open
        self.shard_map: dict[str, int] = {}
        self.health = Health()
        self.lock = threading.RLock()
        self.stopping = threading.Event()
        self.wake = threading.Event()
        self.pass_started = 0.0  # time.monotonic() when the last pass began
        self._soon: threading.Timer | None = None
        self.changes = changes or Changes()

    @property
    def state_path(self) -> Path:
        return self.state_override or self.config.state_path

    def target(self, name: str) -> TargetState:
        with self.lock:
            return self.targets.setdefault(name, TargetState())

    def held(self) -> dict[str, Outcome]:
        """The targets held at their current pin, as the ordering rule reads them: an apply
        that did not take, so what is ordered after them is blocked in turn."""
        with self.lock:
            desired = self.desired
            return {
                name: Outcome.FAILED
                for name, state in self.targets.items()
                if desired is not None
                and state.held_pin is not None
                and state.held_pin == desired.pins.get(name)
            }

    @staticmethod
    def planned(snapshot: Snapshot) -> dict[str, Action]:
        """A pass's actions by target."""
        return {a.target: a for a in snapshot.plan.actions}

    def request_pass(self) -> None:
        self.wake.set()

    def request_pass_soon(self, window: float) -> None:
        """A pass now, unless one is already asked for or began less than ``window``
        seconds ago: then one pass when the window ends. Many requests for a pass (``POST
        /reconcile`` from a page a hundred people refresh) make one pass a window."""
        with self.lock:
            if self.wake.is_set() or self._soon is not None:
                return
            since = time.monotonic() - self.pass_started
            if since >= window:
                self.wake.set()
                return
            self._soon = threading.Timer(window - since, self._soon_now)
            self._soon.daemon = True
            self._soon.start()

    def _soon_now(self) -> None:
        with self.lock:
            self._soon = None
        self.wake.set()

    def changed(self) -> None:
        """Something a person watching would see changed: wake the ``/events`` streams."""
        self.changes.changed()

    def wait_change(self, seen: int, timeout: float) -> int:
        """Block until the change counter passes ``seen`` (or ``timeout``); return it."""
        return self.changes.wait(seen, timeout, self.stopping)
