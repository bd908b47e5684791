"""Every Prometheus metric of DESIGN.md §6, in one place, with label values made up front.

Label values for every configured target exist from the first scrape (zeros, not
gaps), so alerts and dashboards never see a missing series. AWS calls are counted
from botocore's events (``daemon.adapters.aws.CallCounter``), never by hand.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)

from daemon.core.model import Outcome

DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)


class Metrics:
    def __init__(self, targets: Mapping[str, str]) -> None:
        """``targets`` maps each configured target to its kind."""
        disable_created_metrics()  # type: ignore[no-untyped-call]  # *_created series are noise
        self.registry = CollectorRegistry()
        r = self.registry
        self.drift = Gauge(
            "pinback_target_drift",
            "1 while live differs from desired",
            ["target", "kind"],
            registry=r,
        )
        self.info = Gauge(
            "pinback_target_info",
            "Current versions (always 1)",
            ["target", "kind", "desired", "live"],
            registry=r,
        )
        self.reconciles = Counter(
            "pinback_reconcile_total",
            "Reconcile passes by result",
            ["target", "kind", "result"],
            registry=r,
        )
        self.duration = Histogram(
            "pinback_reconcile_duration_seconds",
            "One pass of one target, observe to verify",
            ["target", "kind"],
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.last_success = Gauge(
            "pinback_last_success_timestamp_seconds",
            "Last pass that ended in sync",
            ["target"],
            registry=r,
        )
        self.desired_valid = Gauge(
            "pinback_desired_state_valid", "0 while the pin file or config is invalid", registry=r
        )
        self.aws_calls = Counter(
            "pinback_aws_api_calls_total",
            "AWS API calls",
            ["service", "operation", "outcome"],
            registry=r,
        )
        self.queue_depth = Gauge(
            "pinback_workqueue_depth", "Targets waiting for a worker", registry=r
        )
        self.leader = Gauge("pinback_leader", "1 on the replica that applies", registry=r)
        self.leader_shards = Gauge(
            "pinback_leader_shards", "Shards whose lease this replica holds", registry=r
        )
        self.shards = Gauge("pinback_shards", "Shards the targets are spread over", registry=r)
        self.health_failed = Gauge(
            "pinback_target_health_failed",
            "1 while a target is held (or was reverted) after a failed health check, until its pin changes",
            ["target"],
            registry=r,
        )
        self.suspended = Gauge(
            "pinback_target_suspended", "1 when the pin says suspend", ["target"], registry=r
        )
        self._info_labels: dict[str, tuple[str, str, str, str]] = {}
        self._lock = threading.Lock()
        self.targets = dict(targets)
        for target, kind in self.targets.items():
            self.drift.labels(target, kind).set(0)
            self.duration.labels(target, kind)
            self.last_success.labels(target)
            self.suspended.labels(target).set(0)
            self.health_failed.labels(target).set(0)
            for outcome in Outcome:
                self.reconciles.labels(target, kind, outcome.value)
        self.desired_valid.set(1)
        self.leading(1, 1)

    def leading(self, held: int, shards: int) -> None:
        """How many of the shards' leases this replica holds (without leadership: all)."""
        self.leader.set(1 if held else 0)
        self.leader_shards.set(held)
        self.shards.set(shards)

    def aws_call(self, service: str, operation: str, outcome: str) -> None:
        """A ``daemon.adapters.aws.CallCounter`` listener."""
        self.aws_calls.labels(service, operation, outcome).inc()

    def versions(self, target: str, desired: str | None, live: str | None) -> None:
        """Set ``pinback_target_info``, removing the series of the versions it replaces."""
        labels = (target, self.targets[target], desired or "", live or "")
        with self._lock:
            old = self._info_labels.get(target)
            if old == labels:
                return
            if old is not None:
                self.info.remove(*old)
            self.info.labels(*labels).set(1)
            self._info_labels[target] = labels

    def result(self, target: str, outcome: Outcome, seconds: float, in_sync: bool) -> None:
        kind = self.targets[target]
        self.reconciles.labels(target, kind, outcome.value).inc()
        self.duration.labels(target, kind).observe(seconds)
        if in_sync:
            self.last_success.labels(target).set(time.time())

    def suspend(self, suspended: Iterable[str]) -> None:
        chosen = set(suspended)
        for target in self.targets:
            self.suspended.labels(target).set(1 if target in chosen else 0)

    def render(self) -> bytes:
        return generate_latest(self.registry)
