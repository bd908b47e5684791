"""The controller: keeps live state equal to the pins, level-triggered, until told to stop.

Two halves, as in controller-runtime: the **pass** (``passes``: one thread re-reads both
files, observes every target in batches, plans, and queues each target not at its pin) and
the **workers** (``workers``: each takes one target from the keyed work queue and
reconciles it). Around them: the pins and who changed them (``pins``), the audit writes
(``recording``), leadership (``leases``), what starts a pass (``watchers``) and what the
endpoints show (``statusview``), all sharing one ``Shared`` state under one lock.

This class only builds them, starts and stops their threads, and answers for its
environment what the HTTP endpoints ask (``daemon.controller.fleet`` puts the answers of
every environment together) by asking the one that knows.

An invalid file changes nothing: the last valid pins stay in force and
``pinback_desired_state_valid`` drops to 0 until the file is valid again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from daemon.adapters import logs
from daemon.adapters.audit import trail_for
from daemon.adapters.logs import LogEvent
from daemon.adapters.notify import Notifier
from daemon.controller.leases import Leases
from daemon.controller.metrics import DEFAULT_ENVIRONMENT, Families, Metrics
from daemon.controller.passes import PassRunner
from daemon.controller.pins import PinReloader
from daemon.controller.readiness import ReadinessChecker
from daemon.controller.recording import Recorder
from daemon.controller.shared import Changes, Shared, TargetState
from daemon.controller.sources import GitSource, source_for
from daemon.controller.statusview import StatusView
from daemon.controller.watchers import Watchers
from daemon.controller.workers import Workers
from daemon.controller.workqueue import WorkQueue
from daemon.engine.engine import Engine
from daemon.errors import AuditUnavailable, PinbackError
from daemon.spec import LoadedConfig, load_config, load_desired

RECONCILE_WINDOW = 1.0  # seconds: POST /reconcile makes at most one pass a window


class Controller:
    """One environment's controller (``daemon.controller.fleet`` runs every environment of
    a config in one process; ``families`` and ``changes`` are what they share)."""

    def __init__(
        self,
        config_path: Path,
        state_path: Path | None = None,
        environment: str | None = None,
        families: Families | None = None,
        changes: Changes | None = None,
    ) -> None:
        config = load_config(config_path).select(environment)
        self.environment = environment_name(config, state_path or config.state_path)
        self.log = (
            logs.get().bind(environment=self.environment) if config.environment else logs.get()
        )
        self.audit = trail_for(config)
        engine = Engine(config, audit=self.audit)
        source = source_for(config, state_path or config.state_path)
        self.shared = Shared(config_path, state_path, config, engine, source, changes)
        targets = {n: t.kind for n, t in config.model.targets.items()}
        self.metrics = Metrics(targets, self.environment, families)
        engine.clients.counter.listeners.append(self.metrics.aws_call)
        self.queue = WorkQueue()
        self.notifier = Notifier(config, self.log, self.shared.stopping)
        self.audit.listeners.append(self.notifier.on_record)
        self.audit.listeners.append(lambda record: self.shared.changed())
        self.leases = Leases(
            self.shared,
            self.metrics,
            self.audit,
            self.log,
            lambda log, *e: self.recorder.record(log, *e),
        )
        self.recorder = Recorder(self.audit, self.leases.writes)
        pins = PinReloader(
            self.shared, self.metrics, self.audit, self.recorder, self.queue, self.leases
        )
        self.passes = PassRunner(
            self.shared, pins, self.recorder, self.leases, self.metrics, self.queue, self.log
        )
        self.workers = Workers(self.shared, self.leases, self.metrics, self.queue, self.log)
        self.watchers = Watchers(self.shared, self.log)
        self.readiness = ReadinessChecker(self.shared, self.leases, self.metrics, self.log)
        self.view = StatusView(self.shared, self.leases, self.watchers, self.audit, self.log)
        self._threads: list[threading.Thread] = []
        self._leases_done = threading.Event()

    # -- what the CLI and the endpoints read ----------------------------------------------

    @property
    def config(self) -> LoadedConfig:
        return self.shared.config

    @property
    def state_path(self) -> Path:
        return self.shared.state_path

    @property
    def targets(self) -> Mapping[str, TargetState]:
        return self.shared.targets

    @property
    def stopping(self) -> threading.Event:
        return self.shared.stopping

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        """Start the pass loop, the workers, the resync timer and the file watcher."""
        try:
            self.shared.open_starts = self.audit.open_starts()
        except (AuditUnavailable, Exception) as exc:
            self.log.error(LogEvent.AUDIT_UNAVAILABLE, error=str(exc))
        self.leases.start(self._leases_done)
        self._spawn("pass-loop", self.passes.loop)
        self._spawn("resync", self.watchers.resync_loop)
        self._spawn("readiness", self.readiness.loop)
        self._spawn("watch", self.watchers.watch_loop)
        if isinstance(self.shared.source, GitSource):
            self._spawn("git-poll", self.watchers.git_loop)
        for index in range(self.config.model.daemon.concurrency):
            self._spawn(f"worker-{index}", self.workers.loop)
        self.request_pass()

    def _spawn(self, name: str, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def stop(self) -> list[str]:
        """Take no new work, end the waits of running applies at a safe point, then return
        the names of the threads that did not finish within the grace period.

        A wait interrupted here leaves the change in AWS to finish by itself; the next
        controller observes it and waits on it, never issuing it again.
        """
        self.begin_stop()
        return self.finish_stop(time.monotonic() + self.config.model.daemon.shutdown_grace)

    def begin_stop(self) -> None:
        """Take no new work and end the running waits, without waiting for anything."""
        self.log.info(LogEvent.SHUTDOWN_STARTED)
        shared = self.shared
        shared.stopping.set()
        shared.changed()  # ends the /events streams
        shared.request_pass()
        self.queue.shut_down()
        with shared.lock:
            for state in shared.targets.values():
                if state.stop is not None:
                    state.stop.set()

    def finish_stop(self, deadline: float) -> list[str]:
        """Join the threads until ``deadline`` (``time.monotonic()``), release the leases;
        returns the names of the threads still running."""
        for thread in self._threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        alive = [t.name for t in self._threads if t.is_alive()]
        self._leases_done.set()
        self.leases.release_all()
        self.log.info(LogEvent.SHUTDOWN_FINISHED, still_running=alive)
        return alive

    def request_pass(self) -> None:
        self.shared.request_pass()

    def run_pass(self) -> None:
        self.passes.run()

    def reconcile_now(self, target: str | None = None) -> None:
        """``POST /reconcile``: reset the target's backoff (or all) and run a pass now, or,
        with one just begun, when ``RECONCILE_WINDOW`` ends: requests coalesce."""
        for name in [target] if target else list(self.shared.targets):
            self.queue.forget(name)
        self.shared.request_pass_soon(RECONCILE_WINDOW)

    # -- the endpoints (daemon.web.server.Served) -----------------------------------------

    def healthy(self) -> bool:
        stale_after = self.config.model.daemon.liveness_timeout
        return time.monotonic() - self.shared.health.heartbeat < stale_after

    def ready(self) -> bool:
        """Pins loaded, every target observed, and the file watcher armed with a pass run
        since: from the moment this is true, an edit saved is seen at once."""
        return (
            self.shared.desired is not None
            and self.watchers.watching.is_set()
            and self.shared.health.passes > self.watchers.armed_at_pass
        )

    def metrics_text(self) -> bytes:
        return self.metrics.render()

    def status(self) -> dict[str, Any]:
        return self.view.status()

    def page_view(self) -> dict[str, Any]:
        return self.view.page_view()

    def versions_json(self, target: str) -> dict[str, Any]:
        return self.view.versions_json(target)

    def wait_change(self, seen: int, timeout: float) -> int:
        return self.shared.wait_change(seen, timeout)

    def git_webhook(self, body: bytes, headers: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
        return self.watchers.git_webhook(body, headers)

    def git_webhook_configured(self) -> bool:
        return self.watchers.webhook_configured()


def environment_name(config: LoadedConfig, pins: Path) -> str:
    """The environment's name on metrics and rows: the config's environment, else the pin
    file's ``metadata.environment``, else "default" (DESIGN §10)."""
    if config.environment is not None:
        return config.environment
    try:
        return load_desired(pins, config).environment or DEFAULT_ENVIRONMENT
    except (PinbackError, OSError):  # an invalid file is the pass's to report
        return DEFAULT_ENVIRONMENT
