"""What the controller shows: the ``/status`` document, the status page's view and
``/versions/T``, read from the shared state without ever holding up a pass or an apply.

During an incident a room of people refresh the page: versions are read through a shared
budget (``ReadCache``), and a target whose apply was verified after the last pass is shown
at the version the apply verified rather than the pass's older reading.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from daemon.adapters.audit import AuditLog
from daemon.adapters.logs import LogEvent
from daemon.controller import handover
from daemon.controller.leases import Leases
from daemon.controller.readcache import ReadCache
from daemon.controller.shared import Shared
from daemon.controller.watchers import Watchers
from daemon.core.durations import format_duration
from daemon.core.model import Action, Observed, Result
from daemon.errors import AuditUnavailable
from daemon.spec import absolute
from daemon.views.status import status_document

PAGE_EVENTS = 50  # the status page's timeline
PAGE_APPLIES = 20  # recent applies per target, drawn as its duration chart
PAGE_VERSIONS = 20
READS_PER_MINUTE = 30  # AWS reads on behalf of /versions readers, all targets together


@dataclass(eq=False)
class StatusView:
    shared: Shared
    leases: Leases
    watchers: Watchers
    audit: AuditLog
    log: Any
    reads: ReadCache[list[dict[str, Any]]] = field(init=False)

    def __post_init__(self) -> None:
        self.reads = ReadCache(self.shared.config.model.daemon.resync_interval, READS_PER_MINUTE)

    def status(self) -> dict[str, Any]:
        shared = self.shared
        with shared.lock:
            snapshot, desired, config = shared.snapshot, shared.desired, shared.config
            results: Mapping[str, Result] = {
                n: s.last_result for n, s in shared.targets.items() if s.last_result is not None
            }
            held = {
                n: s.held_reason or "held"
                for n, s in shared.targets.items()
                if s.held_pin is not None
            }
            applying = {n for n, s in shared.targets.items() if s.applying_since is not None}
            ordered_out = {n: s.blocked for n, s in shared.targets.items() if s.blocked}
        observed = dict(snapshot.observed) if snapshot else {}
        actions = {a.target: a for a in snapshot.plan.actions} if snapshot else {}
        for name, why in ordered_out.items():  # blocked by the pass (a predecessor held)
            action = actions.get(name)
            if action is not None and action.blocked is None and not action.wait_only:
                actions[name] = replace(action, blocked=why)
        in_sync = set(snapshot.plan.in_sync) if snapshot else set()
        self._show_verified_applies(observed, actions, in_sync)
        extra: dict[str, Any] = {
            "desiredStateValid": shared.health.desired_error is None,
            "watching": self.watchers.watching.is_set(),
            "passes": shared.health.passes,
            "identity": self._identity(),
        }
        if shared.health.desired_error:
            extra["desiredStateError"] = shared.health.desired_error
        leadership = self.leases.status()
        if leadership is not None:
            extra["leadership"] = leadership
        document = status_document(
            config, desired, observed, actions, in_sync, results, extra, held, applying
        )
        self._annotate(document["targets"], results, held)
        return document

    def _annotate(
        self, rows: list[dict[str, Any]], results: Mapping[str, Result], held: Mapping[str, str]
    ) -> None:
        """What only the controller knows: whose shard, the running apply, the last time in
        sync, and why a target is held."""
        now = time.time()
        mine = self.leases.observed_here()
        for row in rows:
            if mine is not None and row["target"] not in mine:
                shard = self.shared.shard_map.get(row["target"], 0)
                row["state"] = f"observed by the replica that leads shard {shard}"
                row["ledElsewhere"] = True
            state = self.shared.targets.get(row["target"])
            if state is not None and state.applying_since is not None:
                elapsed = format_duration(now - state.applying_since)
                row["applying"] = {"step": state.step or "starting", "elapsed": elapsed}
            if state is not None and state.in_sync_at is not None:
                row["lastInSync"] = _iso(state.in_sync_at)
            if state is not None and state.ready_steps is not None:
                row["rollbackReadySteps"] = state.ready_steps
                if state.not_ready is not None:
                    row["rollbackNotReady"] = state.not_ready
            if row["target"] in held:
                last = results.get(row["target"])
                row["healthFailed"] = bool(last and last.gate_failed)
                cause = "health failed, " if row["healthFailed"] else ""
                row["state"] = f"{cause}held until the pin changes: {held[row['target']]}"

    def _show_verified_applies(
        self, observed: dict[str, Observed], actions: dict[str, Action], in_sync: set[str]
    ) -> None:
        """A target whose apply was verified after the last pass observed it is shown at the
        version the apply verified, in sync: the pass's reading is older than the apply, and
        the next pass may be a resync interval away while people refresh the page. Only while
        the pin is the one that apply was for."""
        shared = self.shared
        with shared.lock:
            observed_at, basis = shared.basis
            desired = shared.desired
            verified = {
                name: state.last_result
                for name, state in shared.targets.items()
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
        shared = self.shared
        config = shared.files[0] if shared.files is not None else shared.config_path.read_bytes()
        return handover.identity(absolute(shared.config_path), absolute(shared.state_path), config)

    def page_view(self) -> dict[str, Any]:
        """What ``daemon.views.page`` draws: the status document and the recent audit records."""
        view: dict[str, Any] = {
            "status": self.status(),
            "now": page_time(),
        }
        try:
            view["events"] = [r.as_json() for r in self.audit.query(limit=PAGE_EVENTS)]
            view["durations"] = self.audit.recent_durations(per_target=PAGE_APPLIES)
        except AuditUnavailable as exc:
            view["events"], view["durations"] = [], {}
            self.log.error(LogEvent.AUDIT_UNAVAILABLE, error=str(exc))
        return view

    def versions_json(self, target: str) -> dict[str, Any]:
        """``GET /versions/T``: shared by every reader through ``self.reads`` (at most one
        fetch per target per resync interval, ``READS_PER_MINUTE`` in all), so a room of
        people refreshing the page during an incident costs the account no API rate."""

        def fetch() -> list[dict[str, Any]]:
            return [v.as_json() for v in self.shared.engine.versions(target, PAGE_VERSIONS)]

        answer = self.reads.get(target, fetch)
        return {"target": target, "versions": answer.value, "ageSeconds": round(answer.age_s, 1)}


def page_time() -> str:
    """When the page was drawn, as the page shows it."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _iso(moment: float) -> str:
    return dt.datetime.fromtimestamp(moment, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
