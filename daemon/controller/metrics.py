"""Every Prometheus metric of DESIGN.md §6, in one place, with label values made up front.

One process runs every environment of its config and serves one ``/metrics``: the metric
families (``Families``) are made once per process and each environment writes its own
series through a ``Metrics`` of its own, which puts ``environment`` on every series it
touches. Label values for every configured target exist from the first scrape (zeros,
not gaps), so alerts and dashboards never see a missing series. AWS calls are counted
from botocore's events (``daemon.adapters.aws.CallCounter``), never by hand, for the
whole process.
"""

from __future__ import annotations

import contextlib
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
DEFAULT_ENVIRONMENT = "default"  # DESIGN §10: a config without environments has this one


class Families:
    """The metric families of one process (one registry, one ``/metrics``)."""

    def __init__(self) -> None:
        disable_created_metrics()  # type: ignore[no-untyped-call]  # *_created series are noise
        self.registry = r = CollectorRegistry()
        env = "environment"
        self.drift = Gauge(
            "pinback_target_drift",
            "1 while live differs from desired",
            [env, "target", "kind"],
            registry=r,
        )
        self.info = Gauge(
            "pinback_target_info",
            "Current versions (always 1)",
            [env, "target", "kind", "desired", "live"],
            registry=r,
        )
        self.reconciles = Counter(
            "pinback_reconcile_total",
            "Reconcile passes by result",
            [env, "target", "kind", "result"],
            registry=r,
        )
        self.duration = Histogram(
            "pinback_reconcile_duration_seconds",
            "One pass of one target, observe to verify",
            [env, "target", "kind"],
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.last_success = Gauge(
            "pinback_last_success_timestamp_seconds",
            "Last pass that ended in sync",
            [env, "target"],
            registry=r,
        )
        self.desired_valid = Gauge(
            "pinback_desired_state_valid",
            "0 while the pin file or config is invalid",
            [env],
            registry=r,
        )
        self.aws_calls = Counter(
            "pinback_aws_api_calls_total",
            "AWS API calls",
            ["service", "operation", "outcome"],
            registry=r,
        )
        self.queue_depth = Gauge(
            "pinback_workqueue_depth", "Targets waiting for a worker", [env], registry=r
        )
        self.leader = Gauge("pinback_leader", "1 on the replica that applies", [env], registry=r)
        self.leader_shards = Gauge(
            "pinback_leader_shards", "Shards whose lease this replica holds", [env], registry=r
        )
        self.shards = Gauge(
            "pinback_shards", "Shards the targets are spread over", [env], registry=r
        )
        self.health_failed = Gauge(
            "pinback_target_health_failed",
            "1 while a target is held (or was reverted) after a failed health check, until its pin changes",
            [env, "target"],
            registry=r,
        )
        self.suspended = Gauge(
            "pinback_target_suspended", "1 when the pin says suspend", [env, "target"], registry=r
        )
        self.ready_steps = Gauge(
            "pinback_rollback_ready_steps",
            "How many versions back a rollback could go now, one at a time (absent until checked, "
            "and for a target with no earlier version)",
            [env, "target"],
            registry=r,
        )

        # DESIGN §12: on the replica that writes the audit anchors, for the one bucket.
        self.anchor_age = Gauge(
            "pinback_audit_anchor_age_seconds",
            "Seconds since this replica last wrote an audit anchor (since its start, before "
            "the first); only on the replica that writes them",
            ["bucket"],
            registry=r,
        )
        self.anchors = Counter(
            "pinback_audit_anchors_total",
            "Audit anchors written, and attempts that failed",
            ["result"],
            registry=r,
        )

    def aws_call(self, service: str, operation: str, outcome: str) -> None:
        """A ``daemon.adapters.aws.CallCounter`` listener."""
        self.aws_calls.labels(service, operation, outcome).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)


class Metrics:
    """One environment's series, each labelled with its name."""

    def __init__(
        self,
        targets: Mapping[str, str],
        environment: str = DEFAULT_ENVIRONMENT,
        families: Families | None = None,
    ) -> None:
        """``targets`` maps each configured target to its kind."""
        self.families = f = families or Families()
        self.environment = environment
        self._info_labels: dict[str, tuple[str, ...]] = {}
        self._lock = threading.Lock()
        self.targets = dict(targets)
        for target in self.targets:
            self.add_target(target, self.targets[target])
        f.desired_valid.labels(environment).set(1)
        f.queue_depth.labels(environment).set(0)
        self.leading(1, 1)

    def add_target(self, target: str, kind: str) -> None:
        """Zeros for a target, so its series exist before anything happens to it."""
        f, env = self.families, self.environment
        self.targets[target] = kind
        f.drift.labels(env, target, kind).set(0)
        f.duration.labels(env, target, kind)
        f.last_success.labels(env, target)
        f.suspended.labels(env, target).set(0)
        f.health_failed.labels(env, target).set(0)
        for outcome in Outcome:
            f.reconciles.labels(env, target, kind, outcome.value)

    def leading(self, held: int, shards: int) -> None:
        """How many of the shards' leases this replica holds (without leadership: all)."""
        f, env = self.families, self.environment
        f.leader.labels(env).set(1 if held else 0)
        f.leader_shards.labels(env).set(held)
        f.shards.labels(env).set(shards)

    def aws_call(self, service: str, operation: str, outcome: str) -> None:
        self.families.aws_call(service, operation, outcome)

    def valid(self, valid: bool) -> None:
        self.families.desired_valid.labels(self.environment).set(1 if valid else 0)

    def depth(self, waiting: int) -> None:
        self.families.queue_depth.labels(self.environment).set(waiting)

    def drifting(self, target: str, drifted: bool) -> None:
        kind = self.targets[target]
        self.families.drift.labels(self.environment, target, kind).set(1 if drifted else 0)

    def health(self, target: str, failed: bool) -> None:
        self.families.health_failed.labels(self.environment, target).set(1 if failed else 0)

    def ready(self, target: str, steps: int | None) -> None:
        """``pinback_rollback_ready_steps``; None (nothing before the live version) removes it."""
        gauge = self.families.ready_steps
        if steps is not None:
            gauge.labels(self.environment, target).set(steps)
            return
        with contextlib.suppress(KeyError):  # never set
            gauge.remove(self.environment, target)

    def versions(self, target: str, desired: str | None, live: str | None) -> None:
        """Set ``pinback_target_info``, removing the series of the versions it replaces."""
        labels = (self.environment, target, self.targets[target], desired or "", live or "")
        with self._lock:
            old = self._info_labels.get(target)
            if old == labels:
                return
            if old is not None:
                self.families.info.remove(*old)
            self.families.info.labels(*labels).set(1)
            self._info_labels[target] = labels

    def result(self, target: str, outcome: Outcome, seconds: float, in_sync: bool) -> None:
        f, env, kind = self.families, self.environment, self.targets[target]
        f.reconciles.labels(env, target, kind, outcome.value).inc()
        f.duration.labels(env, target, kind).observe(seconds)
        if in_sync:
            f.last_success.labels(env, target).set(time.time())

    def suspend(self, suspended: Iterable[str]) -> None:
        chosen = set(suspended)
        for target in self.targets:
            self.families.suspended.labels(self.environment, target).set(
                1 if target in chosen else 0
            )

    def render(self) -> bytes:
        return self.families.render()
