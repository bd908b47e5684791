"""Where an ECS service's rollout stands, read from ECS's own answers. No I/O: the reads are
``ecs_deployments`` and ``ecs``; this module only interprets them, so its rules are tested
by tables.

Two sources, best first:

- **the service deployments API** (``DescribeServiceDeployments``; developerguide
  service-deployment.html): a deployment's status (``PENDING`` ... ``ROLLBACK_SUCCESSFUL``),
  lifecycle stage, source and target revisions, rollback and its reason, the circuit
  breaker's and the deployment alarms' verdicts, and a ``PAUSE`` hook awaiting
  ``ContinueServiceDeployment``. A deployment is done when ECS says ``SUCCESSFUL``.
- **``DescribeServices``** where that API is not answered (an old endpoint, no permission):
  the ``PRIMARY`` deployment's ``rolloutState``.

Rules a person on call relies on:

- a service whose current deployment is complete is not rolling out, whatever its running
  count says: autoscaling and replaced tasks move ``runningCount`` with ``rolloutState``
  still ``COMPLETED`` (a scale event is not a rollout, and never a reason to gate or revert);
- a deployment that failed without a rollback is not in sync: it is *failed*, with ECS's
  reason, and the pin is held until it changes;
- a deployment ECS rolled back by itself (circuit breaker, deployment alarms) names the
  revision it undid, so that revision is not deployed again under the same pin; a rollback
  pinback asked for (``StopServiceDeployment``) is not ECS's verdict on the revision.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

ONGOING = frozenset(
    {"PENDING", "IN_PROGRESS", "STOP_REQUESTED", "ROLLBACK_REQUESTED", "ROLLBACK_IN_PROGRESS"}
)
STOPPABLE = frozenset({"PENDING", "IN_PROGRESS"})
TRIGGERED = "TRIGGERED"
BEFORE_CLEAN_UP_STRATEGIES = frozenset({"BLUE_GREEN", "LINEAR", "CANARY"})


def revision_of(task_definition: str) -> int:
    """``arn:...:task-definition/web:7`` or ``web:7`` -> 7."""
    return int(task_definition.rsplit(":", 1)[1])


@dataclass(frozen=True)
class Hook:
    """A ``PAUSE`` lifecycle hook the deployment waits at."""

    hook_id: str
    status: str
    expires: dt.datetime | None
    timeout_action: str

    @property
    def awaiting(self) -> bool:
        return self.status == "AWAITING_ACTION"


@dataclass(frozen=True)
class Deployment:
    """One service deployment, as ECS's deployment API describes it."""

    arn: str
    status: str
    created: dt.datetime | None
    target: int | None  # the task-definition revision being deployed
    sources: tuple[int, ...]  # the revisions it replaces
    stage: str | None = None  # lifecycle stage (BAKE_TIME, ...)
    strategy: str = "ROLLING"
    reason: str = ""
    rollback_reason: str | None = None  # set when it was rolled back (by anyone)
    undone_by_ecs: bool = False  # the circuit breaker or the deployment alarms decided
    bake_minutes: int = 0
    shift_minutes: int = 0  # LINEAR and CANARY: the steps' bake times
    hook: Hook | None = None

    @property
    def ongoing(self) -> bool:
        return self.status in ONGOING

    @property
    def can_roll_back(self) -> bool:
        """Whether ``StopServiceDeployment(ROLLBACK)`` takes the service back to its source
        without starting anything new: in flight and, for blue/green, linear and canary,
        still before ``CLEAN_UP`` (blue not yet gone)."""
        if self.status not in STOPPABLE:
            return False
        if self.strategy in BEFORE_CLEAN_UP_STRATEGIES:
            return self.stage != "CLEAN_UP"
        return True

    @property
    def failed(self) -> str | None:
        """ECS's reason when the deployment failed and stayed failed (no rollback)."""
        if self.status in ("STOPPED", "ROLLBACK_FAILED") and self.undone_by_ecs:
            return self.reason or self.status
        if self.status == "ROLLBACK_FAILED":
            return self.reason or "the rollback failed"
        return None

    @property
    def rolled_back_by_ecs(self) -> str | None:
        """ECS's reason when ECS itself rolled this deployment back."""
        undone = self.status.startswith("ROLLBACK") and self.status != "ROLLBACK_FAILED"
        if undone and self.undone_by_ecs:
            return self.rollback_reason or self.reason or "rolled back by ECS"
        return None

    @property
    def own_time(self) -> float:
        """Seconds the deployment spends baking and stepping by its own configuration: a
        wait on it is at least this long plus the target's timeout."""
        return 60.0 * (self.bake_minutes + self.shift_minutes)

    def line(self) -> str:
        """One line for progress and ``/status``."""
        parts = [self.status]
        if self.stage:
            parts.append(self.stage)
        if self.hook is not None and self.hook.awaiting:
            until = f" until {self.hook.expires:%H:%M:%S}Z" if self.hook.expires else ""
            parts.append(
                f"waiting for ContinueServiceDeployment (hook {self.hook.hook_id}{until}, "
                f"then {self.hook.timeout_action})"
            )
        return ", ".join(parts)


def deployment(document: Mapping[str, Any], revisions: Mapping[str, int]) -> Deployment:
    """A ``ServiceDeployment`` document, with its service revisions' task-definition
    revisions looked up in ``revisions`` (service-revision ARN -> revision)."""
    config = document.get("deploymentConfiguration") or {}
    breaker = (document.get("deploymentCircuitBreaker") or {}).get("status")
    alarms = (document.get("alarms") or {}).get("status")
    rollback = document.get("rollback") or None
    target_arn = (document.get("targetServiceRevision") or {}).get("arn", "")
    sources = tuple(
        revisions[s["arn"]]
        for s in document.get("sourceServiceRevisions") or []
        if s.get("arn") in revisions
    )
    hooks = [
        Hook(
            str(h.get("hookId", "")),
            str(h.get("status", "")),
            h.get("expiresAt"),
            str(h.get("timeoutAction", "ROLLBACK")),
        )
        for h in document.get("lifecycleHookDetails") or []
        if h.get("targetType", "PAUSE") == "PAUSE"
    ]
    awaiting = next((h for h in hooks if h.awaiting), None)
    # A lifecycle hook that failed or timed out into a rollback is ECS's verdict too.
    hook_verdict = any(h.status in ("FAILED", "TIMED_OUT") for h in hooks)
    return Deployment(
        arn=str(document.get("serviceDeploymentArn", "")),
        status=str(document.get("status", "")),
        created=document.get("createdAt"),
        target=revisions.get(target_arn),
        sources=sources,
        stage=document.get("lifecycleStage"),
        strategy=str(config.get("strategy") or "ROLLING"),
        reason=str(document.get("statusReason") or ""),
        rollback_reason=(rollback or {}).get("reason") if rollback else None,
        undone_by_ecs=TRIGGERED in (breaker, alarms) or hook_verdict,
        bake_minutes=int(config.get("bakeTimeInMinutes") or 0),
        shift_minutes=_shift_minutes(config),
        hook=awaiting,
    )


def _shift_minutes(config: Mapping[str, Any]) -> int:
    linear = config.get("linearConfiguration") or {}
    if linear:
        steps = max(1, round(100 / float(linear.get("stepPercent") or 100)))
        return steps * int(linear.get("stepBakeTimeInMinutes") or 0)
    canary = config.get("canaryConfiguration") or {}
    return int(canary.get("canaryBakeTimeInMinutes") or 0)


@dataclass(frozen=True)
class Rollout:
    """Where a service's deployments stand."""

    status: str  # one line for progress: "COMPLETED, running 2/2"
    rolling: bool
    failed: str | None = None  # the current deployment failed and stayed failed: AWS's reason
    rolled_back: int | None = None  # a revision ECS itself rolled back (circuit breaker)
    rolled_back_reason: str = ""
    current: Deployment | None = None  # the newest deployment, from the deployments API


def rollout(service: Mapping[str, Any], newest: Deployment | None = None) -> Rollout:
    """The service's rollout from one ``DescribeServices`` entry and, when ECS's deployment
    API answered, its newest deployment (which then decides)."""
    deployments = service.get("deployments") or []
    primary = next((d for d in deployments if d.get("status") == "PRIMARY"), None)
    undone = next(
        (d for d in deployments if d is not primary and d.get("rolloutState") == "FAILED"), None
    )
    rolled_back = revision_of(undone["taskDefinition"]) if undone else None
    why = (undone or {}).get("rolloutStateReason") or "rolled back by ECS"
    running = (primary or service).get("runningCount", service.get("runningCount", 0))
    desired = (primary or service).get("desiredCount", service.get("desiredCount", 0))
    counts = f"running {running}/{desired}"
    if newest is not None:
        return _from_api(newest, counts, rolled_back, why)
    if primary is None:
        return Rollout(f"no primary deployment, {counts}", True, None, rolled_back, why)
    state = primary.get("rolloutState")
    status = f"{state or 'rolling'}, {counts}"
    if state == "FAILED":
        reason = primary.get("rolloutStateReason") or "rollout FAILED"
        return Rollout(status, False, reason, rolled_back, why)
    others_running = any(
        d is not primary and d.get("runningCount", 0) > 0 and d.get("rolloutState") != "FAILED"
        for d in deployments
    )
    # Without rolloutState (an old endpoint), old tasks still running is what rolling means.
    rolling = (state is not None and state != "COMPLETED") or others_running
    return Rollout(status, rolling, None, rolled_back, why)


def _from_api(newest: Deployment, counts: str, rolled_back: int | None, why: str) -> Rollout:
    status = f"{newest.line()}, {counts}"
    ecs_undid = newest.rolled_back_by_ecs
    if ecs_undid is not None and newest.target is not None:
        rolled_back, why = newest.target, ecs_undid
    if newest.failed is not None:
        return Rollout(status, False, newest.failed, rolled_back, why, newest)
    return Rollout(status, newest.ongoing, None, rolled_back, why, newest)
