"""Writing the controller's audit records: at once from the workers and the lease callbacks,
held and written in one commit at the end of a pass from the pass thread.

A pass sees many transitions (drift here, a block there, pins that changed); writing each
as it is seen would cost one durable commit apiece. The pass thread holds its entries and
writes them together before any target is queued, so an apply's ``apply_started`` is always
later in the trail than the drift that caused it. Only the replica that leads a target's
shard writes its records (``writes``), so three replicas seeing one drift record it once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from daemon.adapters.audit import AuditLog
from daemon.adapters.logs import LogEvent
from daemon.core.records import Entry
from daemon.errors import AuditUnavailable


class Recorder:
    def __init__(self, audit: AuditLog, writes: Callable[[Entry], bool]) -> None:
        self.audit = audit
        self._writes = writes
        self._pass = threading.local()  # .held: the entries of this thread's pass

    def hold(self) -> None:
        """From now on this thread's entries wait for ``flush`` (the pass thread only)."""
        self._pass.held = []

    def flush(self, log: Any) -> None:
        """Write what this thread held, in one commit, and stop holding."""
        held: list[Entry] = getattr(self._pass, "held", None) or []
        self._pass.held = None
        self.record(log, *held)

    def record(self, log: Any, *entries: Entry) -> None:
        """Append to the audit trail; a failure is logged (applies refuse on their own)."""
        entries = tuple(e for e in entries if self._writes(e))
        if not entries:
            return
        held: list[Entry] | None = getattr(self._pass, "held", None)
        if held is not None:
            held.extend(entries)
            return
        try:
            self.audit.append(entries)
        except AuditUnavailable as exc:
            log.error(LogEvent.AUDIT_UNAVAILABLE, error=str(exc))
