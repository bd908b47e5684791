"""Writing the audit chain's head to the anchors' bucket (DESIGN §12), every
``audit.anchor.every`` and at shutdown.

One anchor per interval for the whole trail (every environment shares one chain): written
by the replica that leads shard 0 of the config's first environment, or by the only
controller without leadership. A write that fails is logged (``anchor_failed``), counted
(``pinback_audit_anchors_total{result="failed"}``) and tried again at the next interval; it
never touches a reconcile: this thread holds no lock a pass or an apply waits on, and its
S3 calls time out in seconds. ``pinback_audit_anchor_age_seconds`` says how long ago the
last anchor was written (since the start, before the first), on the writer alone, so
``PinbackAuditAnchorStale`` fires when anchors stop whoever the writer is.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from daemon.adapters.anchors import AnchorStore, Written, anchor_now
from daemon.adapters.audit import AuditLog
from daemon.adapters.logs import LogEvent
from daemon.controller.metrics import Families
from daemon.errors import AnchorUnavailable, AuditUnavailable, ConfigError


@dataclass
class Anchoring:
    store: AnchorStore
    trail: AuditLog
    families: Families
    log: Any
    writes: Callable[[], bool]  # whether this replica is the one that writes anchors
    changed: Callable[[], None]  # something the page shows changed

    def __post_init__(self) -> None:
        self.started = time.time()
        self.last: Written | None = None
        self.last_at: float | None = None  # time.time() of the last anchor written
        self.last_error: str | None = None
        self._lock = threading.Lock()
        self._locked_checked = False
        self.store.clients.counter.listeners.append(self.families.aws_call)
        self.families.anchors.labels("written")
        self.families.anchors.labels("failed")

    def check_bucket(self) -> None:
        """At start: refuse (``ConfigError``) a bucket that cannot keep anchors; a bucket
        that does not answer now is logged and checked again before the first write."""
        try:
            self.store.require_lock()
            self._locked_checked = True
        except AnchorUnavailable as exc:
            self._failed(str(exc))

    def loop(self, stopping: threading.Event) -> None:
        """An anchor at once (a restarted writer re-anchors straight away), then one every
        interval while this replica is the writer."""
        every = self.store.settings.every
        while not stopping.is_set():
            self.tick()
            if stopping.wait(every):
                return

    def tick(self) -> None:
        """One interval: write when this replica is the writer, and keep the age series
        on the writer alone."""
        bucket = self.store.settings.bucket
        if not self.writes():
            with contextlib.suppress(KeyError):  # not the writer (any more)
                self.families.anchor_age.remove(bucket)
            return
        self.families.anchor_age.labels(bucket).set_function(self.age)
        self.write()

    def write(self) -> Written | None:
        """Write the chain's head now; None (logged, counted) when it could not be."""
        try:
            if not self._locked_checked:
                self.store.require_lock()
                self._locked_checked = True
            written = self.store.write(anchor_now(self.trail), self.trail.controller)
        except (AnchorUnavailable, AuditUnavailable, ConfigError) as exc:
            # ConfigError: the bucket lost its lock (or this role its permission) since the
            # start; logged and counted like a failed write, and the alert follows.
            self._failed(str(exc))
            return None
        with self._lock:
            self.last, self.last_at, self.last_error = written, time.time(), None
        self.families.anchors.labels("written").inc()
        self.log.info(LogEvent.ANCHOR_WRITTEN, seq=written.anchor.seq, key=written.key)
        self.changed()
        return written

    def _failed(self, error: str) -> None:
        with self._lock:
            self.last_error = error
        self.families.anchors.labels("failed").inc()
        self.log.warning(LogEvent.ANCHOR_FAILED, error=error)
        self.changed()

    def age(self) -> float:
        """Seconds since the last anchor was written (since the start, before the first)."""
        with self._lock:
            since = self.last_at if self.last_at is not None else self.started
        return max(0.0, time.time() - since)

    def status(self) -> dict[str, Any]:
        """What ``/status`` and the page say of the anchors."""
        with self._lock:
            last, last_at, error = self.last, self.last_at, self.last_error
        document: dict[str, Any] = {"where": self.store.where, "writer": self.writes()}
        if last is not None and last_at is not None:
            document["lastWritten"] = last.anchor.shown_time
            document["seq"] = last.anchor.seq
            document["ageSeconds"] = round(self.age(), 1)
        if error is not None:
            document["lastError"] = error
        return document
