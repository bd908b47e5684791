"""Rollback readiness, checked before the incident (DESIGN §11).

Teams find out during the incident that the build, image or revision they need is gone:
an ECR lifecycle policy expired the tag, an S3 rule deleted the artifacts, someone
deregistered the revision, or the migration back drops a table. Every
``daemon.readinessInterval`` this checks the ``readinessDepth`` versions before each
target's live one, as a rollback to each would be checked (``Engine.readiness``), and
says how many steps back are possible: ``pinback_rollback_ready_steps``, the
``PinbackRollbackNotReady`` alert, ``/status`` and the page. Only the replica that applies
a target checks it, so replicas do not multiply the read calls.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from daemon.adapters.logs import LogEvent
from daemon.controller.leases import Leases
from daemon.controller.metrics import Metrics
from daemon.controller.shared import Shared
from daemon.core.model import VersionInfo
from daemon.errors import PinbackError

IDLE_CHECK = 60.0  # with the check off, how often to look whether the config turned it on
FIRST_CHECK = 60.0  # seconds after the first pass (or the interval, when shorter)


def ready_steps(older: Sequence[VersionInfo]) -> tuple[int, str | None]:
    """How many steps back a rollback can go, one version at a time (the first version
    not ready ends them), and why the next one cannot."""
    for steps, version in enumerate(older):
        if not version.ready:
            return steps, f"{version.version}: {version.why}"
    return len(older), None


@dataclass(eq=False)
class ReadinessChecker:
    shared: Shared
    leases: Leases
    metrics: Metrics
    log: Any

    def loop(self) -> None:
        """The first check waits for the first pass and then ``FIRST_CHECK`` more (a
        controller restarted during an incident reconciles first, and the check's reads
        never compete with its first observation); then one check every interval."""
        shared = self.shared
        while shared.health.passes == 0:
            if shared.stopping.wait(1.0):
                return
        first = True
        while not shared.stopping.is_set():
            interval = shared.config.model.daemon.readiness_interval
            pause = min(interval, FIRST_CHECK) if first else interval
            if shared.stopping.wait(pause if interval > 0 else IDLE_CHECK):
                return
            if interval > 0:
                try:
                    self.check()
                except Exception as exc:  # a bug here must not end the checks for good
                    self.log.error(LogEvent.READINESS_FAILED, error=repr(exc))
                first = False

    def check(self) -> None:
        """Check every target this replica applies (one batched observation, then each
        target's versions), dropping what is left the moment the controller stops; a
        target that cannot be read keeps its last answer and the error is logged."""
        shared = self.shared
        depth = shared.config.model.daemon.readiness_depth
        names = [n for n in shared.config.model.targets if self.leases.applies(n)]
        started = time.monotonic()
        answers = shared.engine.readiness(names, depth, shared.stopping.is_set)
        if shared.stopping.is_set():
            return
        not_ready = [name for name in names if self._record(name, answers[name]) == 0]
        self.log.info(
            LogEvent.READINESS_CHECKED,
            targets=len(names),
            not_ready=not_ready,
            seconds=round(time.monotonic() - started, 3),
        )
        shared.changed()

    def _record(self, name: str, older: list[VersionInfo] | PinbackError) -> int | None:
        if isinstance(older, PinbackError):
            self.log.warning(LogEvent.READINESS_FAILED, target=name, error=str(older))
            return None
        steps, why = ready_steps(older) if older else (None, None)
        with self.shared.lock:
            state = self.shared.target(name)
            state.ready_steps, state.not_ready = steps, why
        self.metrics.ready(name, steps)
        return steps
