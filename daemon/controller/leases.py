"""Which targets this replica may change, observe and record: the controller's side of
leadership (the leases themselves live in ``daemon.controller.leadership``).

Without ``leadership:`` configured, the replica is the only controller and does everything.
With it, a replica applies only the shards whose lease it holds, every mutating AWS request
confirms the lease's epoch first (``fence``), and the records of a target are written by
the leader of its shard. Gaining a shard closes the applies a dead leader left open;
losing one ends the waits of its applies at once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from daemon.adapters import environment
from daemon.adapters.audit import AuditLog
from daemon.adapters.logs import LogEvent
from daemon.controller.leadership import Leadership, LeaseStore, namespace_for
from daemon.controller.metrics import Metrics
from daemon.controller.shared import Shared
from daemon.core import fencing, shards
from daemon.core.records import Entry, Event
from daemon.errors import AuditUnavailable, ConfigError, Fenced
from daemon.spec import LoadedConfig

RecordEntries = Callable[..., None]  # Recorder.record: (log, *entries)


@dataclass(eq=False)
class Leases:
    shared: Shared
    metrics: Metrics
    audit: AuditLog
    log: Any
    record: RecordEntries
    leadership: Leadership | None = field(init=False)

    def __post_init__(self) -> None:
        self.leadership = self._leadership(self.shared.config)

    def _leadership(self, config: LoadedConfig) -> Leadership | None:
        settings = config.model.leadership
        if settings is None:
            return None
        url = environment.named(settings.url_env)
        if not url:
            raise ConfigError(
                f"leadership.urlEnv: the environment variable {settings.url_env} is not set"
            )
        self.shared.shard_map = shards.assign(config.model, settings.shards)
        self.shared.engine.clients.fenced = True  # every mutating AWS request confirms its epoch
        self.metrics.leading(0, settings.shards)
        return Leadership(
            LeaseStore(url, settings.lease_seconds),
            settings.shards,
            self._on_acquired,
            self._on_lost,
            namespace=namespace_for(config.environment),
        )

    def start(self, done: threading.Event) -> None:
        if self.leadership is not None:
            threading.Thread(
                target=self.leadership.run, args=(done,), name="leadership", daemon=True
            ).start()

    def release_all(self) -> None:
        if self.leadership is not None:
            self.leadership.release_all()  # a successor takes over now, not a lease later

    def reassign(self, config: LoadedConfig) -> None:
        """A changed config may move targets between shards (called under the shared lock)."""
        if self.leadership is not None:
            self.shared.shard_map = shards.assign(config.model, self.leadership.shards)

    # -- what this replica may do -------------------------------------------------------

    def applies(self, name: str) -> bool:
        """May this replica change ``name`` now (it leads the target's shard)?"""
        if self.leadership is None:
            return True
        return self.leadership.epoch(self.shared.shard_map.get(name, 0)) is not None

    def fence(self, name: str) -> tuple[int | None, fencing.Fence | None]:
        """The epoch to record and the fence each mutating AWS request confirms."""
        if self.leadership is None:
            return None, None
        shard = self.shared.shard_map.get(name, 0)
        epoch = self.leadership.epoch(shard)
        if epoch is None:
            return None, _Refuse(shard)
        return epoch, self.leadership.fence(shard, epoch)

    def observed_here(self) -> set[str] | None:
        """The targets this replica observes each pass; None for all of them.

        With one shard every replica observes everything (a follower reports drift and
        is ready to take over). With several, a replica that leads shards observes only
        theirs, so N replicas split the observing as well as the applying; one that
        leads none observes everything, as a standby. Prometheus takes the maximum over
        replicas, so each target's drift comes from whoever leads it.
        """
        if self.leadership is None or self.leadership.shards == 1:
            return None
        mine = {n for n in self.shared.config.model.targets if self.applies(n)}
        return mine or None

    def writes(self, entry: Entry) -> bool:
        """Whether this replica writes ``entry``: the leader of the target's shard does."""
        if self.leadership is None or entry.event in (Event.LEADER_ACQUIRED, Event.LEADER_LOST):
            return True
        return self.applies(entry.target) if entry.target else self.leadership.leads_any()

    # -- lease callbacks (the leadership thread) ------------------------------------------

    def _on_acquired(self, shard: int, epoch: int) -> None:
        assert self.leadership is not None
        log = self.log.bind(shard=shard, epoch=epoch)
        log.info(Event.LEADER_ACQUIRED, holder=self.leadership.holder)
        mine = {n for n, s in self.shared.shard_map.items() if s == shard}
        self.record(
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
            log.error(LogEvent.AUDIT_UNAVAILABLE, error=str(exc))
            opened = {}
        with self.shared.lock:
            self.shared.open_starts.update({t: r for t, r in opened.items() if t in mine})
            for name in mine:  # drift seen as a follower is recorded anew by the leader
                state = self.shared.target(name)
                state.drifting, state.blocked = False, None
        self._count_shards()
        self.shared.request_pass()

    def _on_lost(self, shard: int, epoch: int, why: str) -> None:
        assert self.leadership is not None
        log = self.log.bind(shard=shard, epoch=epoch)
        released = why == "released at shutdown"
        (log.info if released else log.error)(Event.LEADER_LOST, reason=why)
        with self.shared.lock:  # stop applying at once: end the waits of this shard's applies
            for name, state in self.shared.targets.items():
                if self.shared.shard_map.get(name, 0) == shard and state.stop is not None:
                    state.stop.set()
        self.record(
            log,
            Entry(event=Event.LEADER_LOST, epoch=epoch, actor=self.leadership.holder, reason=why),
        )
        self._count_shards()

    def _count_shards(self) -> None:
        assert self.leadership is not None
        held = sum(1 for s in range(self.leadership.shards) if self.leadership.epoch(s) is not None)
        self.metrics.leading(held, self.leadership.shards)

    # -- the status view's part ---------------------------------------------------------

    def status(self) -> dict[str, Any] | None:
        """Who holds each shard, for ``/status``; None without leadership."""
        leadership = self.leadership
        if leadership is None:
            return None
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


class _Refuse:
    """The fence of a shard this replica does not lead: every change is refused."""

    def __init__(self, shard: int) -> None:
        self.shard = shard

    def confirm(self) -> None:
        raise Fenced(f"this replica does not lead shard {self.shard}")
