"""ECS services whose deployments take time, with the service deployments API moto lacks.

What AWS does and moto does not (moto 5.2.5 completes a deployment at once, drops
``deploymentConfiguration``, and has no ``ListServiceDeployments``,
``DescribeServiceDeployments``, ``DescribeServiceRevisions``, ``StopServiceDeployment`` or
``ContinueServiceDeployment``):

- **Rolling** (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/deployment-type-ecs.html):
  after ``UpdateService`` the new revision's tasks start and pass their health checks
  (``Timing.start``), then the old ones drain (``Timing.drain``, the target group's
  deregistration delay); ``DescribeServices`` shows a ``PRIMARY`` deployment ``IN_PROGRESS``
  with ``runningCount`` rising beside the ``ACTIVE`` old one, then ``COMPLETED``.
- **The service deployments API** (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/service-deployment.html):
  every deployment with its source and target service revisions, status
  (``PENDING`` ... ``ROLLBACK_SUCCESSFUL``), lifecycle stage, rollback and circuit breaker.
- **Stopping with a rollback** (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/stop-service-deployment.html):
  ``StopServiceDeployment(stopType=ROLLBACK)`` on a ``PENDING`` or ``IN_PROGRESS``
  deployment moves it to ``ROLLBACK_REQUESTED``, then ``ROLLBACK_IN_PROGRESS``; the source
  revision's tasks still run, so it takes the new tasks' drain, not a new rollout. A
  completed deployment cannot be stopped (``ConflictException``).
- **Blue/green, linear, canary** (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/blue-green-deployment-how-it-works.html):
  the lifecycle stages in order, production traffic shifted (in steps for ``LINEAR`` and
  ``CANARY``), ``BAKE_TIME`` with blue still up, then ``CLEAN_UP``. A rollback before
  ``CLEAN_UP`` shifts traffic back to blue (``Timing.shift``). A ``PAUSE`` lifecycle hook
  holds the deployment at its stage until ``ContinueServiceDeployment`` or its timeout.
- **The circuit breaker** (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/deployment-circuit-breaker.html):
  a revision whose tasks fail to start trips it after ``Timing.fail``; with rollback on, ECS
  takes the service back to the source revision and ``DescribeServices`` shows the failed
  deployment ``FAILED`` beside the rollback for ``Timing.forget`` seconds, after which only
  the deployments API remembers it; without rollback the deployment stays ``FAILED``.
- **Scale events**: autoscaling and task replacement change a completed service's counts
  with ``rolloutState`` still ``COMPLETED`` (``EcsWorld.scale``).

Seconds stand for AWS's minutes in the deployment configuration: ``bakeTimeInMinutes: 1``
is reported as such, and baked for ``Timing.minute`` seconds.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from tests.stands.realistic import Answer, Call

ACCOUNT = "123456789012"
REGION = "ap-northeast-2"
PREFIX = "AmazonEC2ContainerServiceV20141113."
CIRCUIT_BREAKER_REASON = "ECS deployment circuit breaker: tasks failed to start."
ONGOING = ("PENDING", "IN_PROGRESS", "STOP_REQUESTED", "ROLLBACK_REQUESTED", "ROLLBACK_IN_PROGRESS")
ROLLING_STAGES = ("SCALE_UP", "CLEAN_UP")
SHIFTED = (
    "PRODUCTION_TRAFFIC_SHIFT",
    "POST_PRODUCTION_TRAFFIC_SHIFT",
    "BAKE_TIME",
)


@dataclass(frozen=True)
class Timing:
    """How long each part of a deployment takes here, in seconds."""

    start: float = 1.0  # new tasks start and pass their health checks
    drain: float = 1.0  # old tasks drain (the deregistration delay)
    shift: float = 0.3  # production traffic moves from blue to green, or back
    fail: float = 0.6  # a revision whose tasks cannot start trips the circuit breaker
    forget: float = 3600.0  # DescribeServices lists a failed deployment this long
    minute: float = 1.0  # one minute of the deployment configuration


@dataclass(frozen=True)
class Pause:
    """A ``PAUSE`` lifecycle hook: the deployment waits at ``stage`` for
    ``ContinueServiceDeployment`` or ``timeout_minutes``, then takes ``action``."""

    stage: str
    timeout_minutes: int = 60
    action: str = "ROLLBACK"


@dataclass
class Stage:
    name: str
    seconds: float
    pause: Pause | None = None


@dataclass
class Deployment:
    arn: str
    target: str  # task-definition ARN
    sources: list[str]
    created: float  # time.time()
    schedule: list[Stage]
    stage_started: float  # time.monotonic()
    strategy: str
    status: str = "IN_PROGRESS"
    stage: str = ""
    reason: str = ""
    bad: bool = False  # its tasks fail to start
    rollback: dict[str, Any] | None = None
    circuit: str = "MONITORING"
    failed_tasks: int = 0
    finished: float | None = None  # time.time()
    finished_mono: float | None = None
    hook: dict[str, Any] | None = None  # the PAUSE hook waited at, if any
    continued: set[str] = field(default_factory=set)  # stages whose hook was answered
    revision_arn: str = ""
    source_revision_arns: list[str] = field(default_factory=list)

    @property
    def ongoing(self) -> bool:
        return self.status in ONGOING

    @property
    def undone(self) -> bool:
        return self.status.startswith("ROLLBACK")


@dataclass
class Service:
    cluster: str
    name: str
    desired: int
    strategy: str
    timing: Timing
    circuit_breaker: dict[str, bool]
    bake_minutes: int
    steps: int  # traffic-shift steps for LINEAR and CANARY
    pauses: tuple[Pause, ...]
    bad: set[int]
    deployments: list[Deployment] = field(default_factory=list)  # oldest first
    scaled: tuple[int, int] | None = None  # (running, desired) after a scale event
    revisions: int = 0

    @property
    def arn(self) -> str:
        return f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/{self.cluster}/{self.name}"


def task_definition_arn(value: str) -> str:
    """``web:7`` or an ARN -> the ARN AWS stores."""
    if value.startswith("arn:"):
        return value
    return f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/{value}"


def revision_of(arn: str) -> int:
    return int(arn.rsplit(":", 1)[1])


class EcsWorld:
    """The services a test animates; every other ECS call goes to moto untouched."""

    def __init__(self) -> None:
        self.services: dict[tuple[str, str], Service] = {}
        self.lock = threading.Lock()
        self.stops: list[str] = []  # StopServiceDeployment calls, by deployment ARN
        self.continues: list[tuple[str, str]] = []

    def animate(
        self,
        cluster: str,
        service: str,
        current: int,
        *,
        strategy: str = "ROLLING",
        desired: int = 2,
        timing: Timing | None = None,
        circuit_breaker: tuple[bool, bool] = (False, False),
        bake_minutes: int = 0,
        steps: int = 1,
        pauses: Iterable[Pause] = (),
        bad: Iterable[int] = (),
    ) -> Service:
        """Take over ``cluster/service`` (running revision ``current``, deployed before the
        test, SUCCESSFUL). ``bad`` revisions' tasks fail to start."""
        family = service
        animated = Service(
            cluster,
            service,
            desired,
            strategy,
            timing or Timing(),
            {"enable": circuit_breaker[0], "rollback": circuit_breaker[1]},
            bake_minutes,
            steps,
            tuple(pauses),
            set(bad),
        )
        first = self._deployment(
            animated, task_definition_arn(f"{family}:{current}"), [], time.time() - 3600
        )
        first.status, first.stage, first.schedule = "SUCCESSFUL", "", []
        first.finished = first.created + 60
        first.finished_mono = time.monotonic() - 3540
        animated.deployments.append(first)
        with self.lock:
            self.services[(cluster, service)] = animated
        return animated

    def scale(self, cluster: str, service: str, running: int, desired: int) -> None:
        """Autoscaling or task replacement: the counts change, no deployment starts."""
        with self.lock:
            self.services[(cluster, service)].scaled = (running, desired)

    def deployments(self, cluster: str, service: str) -> list[Deployment]:
        with self.lock:
            found = self.services[(cluster, service)]
            for deployment in found.deployments:
                self._advance(found, deployment, time.monotonic())
            return list(found.deployments)

    # -- the proxy's two questions --------------------------------------------------

    def answer(self, call: Call) -> Answer | None:
        if not call.operation or not self.services:
            return None
        operation = call.operation
        handlers = {
            "ListServiceDeployments": self._list,
            "DescribeServiceDeployments": self._describe_deployments,
            "DescribeServiceRevisions": self._describe_revisions,
            "StopServiceDeployment": self._stop,
            "ContinueServiceDeployment": self._continue,
        }
        handler = handlers.get(operation)
        if handler is None:
            return None
        with self.lock:
            return handler(call.json())

    def rewrite(self, call: Call, answer: Answer) -> Answer:
        if call.operation not in ("UpdateService", "DescribeServices") or answer.status != 200:
            return answer
        document = answer.document()
        with self.lock:
            if call.operation == "UpdateService":
                self._updated(call.json(), document)
                return answer
            for entry in document.get("services", []):
                cluster = entry.get("clusterArn", "").rsplit("/", 1)[-1]
                service = self.services.get((cluster, entry.get("serviceName", "")))
                if service is not None:
                    self._shown(service, entry)
        return answer.with_document(document)

    # -- the state machine ------------------------------------------------------------

    def _deployment(
        self, service: Service, target: str, sources: list[str], created: float
    ) -> Deployment:
        ident = uuid.uuid4().hex[:20]
        service.revisions += 1
        base = f"arn:aws:ecs:{REGION}:{ACCOUNT}"
        return Deployment(
            arn=f"{base}:service-deployment/{service.cluster}/{service.name}/{ident}",
            target=target,
            sources=sources,
            created=created,
            schedule=self._schedule(service, revision_of(target) in service.bad),
            stage_started=time.monotonic(),
            strategy=service.strategy,
            bad=revision_of(target) in service.bad,
            revision_arn=f"{base}:service-revision/{service.cluster}/{service.name}/{ident}",
        )

    def _schedule(self, service: Service, bad: bool) -> list[Stage]:
        timing = service.timing
        if bad:  # tasks start, fail, and the circuit breaker counts them
            return [Stage("SCALE_UP", timing.fail)]
        if service.strategy == "ROLLING":
            stages = [Stage("SCALE_UP", timing.start), Stage("CLEAN_UP", timing.drain)]
        else:
            shift = timing.shift * (service.steps if service.strategy != "BLUE_GREEN" else 1)
            stages = [
                Stage("PRE_SCALE_UP", 0.0),
                Stage("SCALE_UP", timing.start),
                Stage("POST_SCALE_UP", 0.0),
                Stage("TEST_TRAFFIC_SHIFT", 0.0),
                Stage("POST_TEST_TRAFFIC_SHIFT", 0.0),
                Stage("PRODUCTION_TRAFFIC_SHIFT", shift),
                Stage("POST_PRODUCTION_TRAFFIC_SHIFT", 0.0),
                Stage("BAKE_TIME", service.bake_minutes * timing.minute),
                Stage("CLEAN_UP", timing.drain),
            ]
        pauses = {p.stage: p for p in service.pauses}
        for stage in stages:
            stage.pause = pauses.get(stage.name)
        return stages

    def _advance(self, service: Service, deployment: Deployment, now: float) -> None:
        """Walk the deployment's schedule up to ``now``."""
        while deployment.ongoing:
            if deployment.status == "ROLLBACK_REQUESTED":
                deployment.status = "ROLLBACK_IN_PROGRESS"
                return  # one read shows it requested, the next in progress
            if not deployment.schedule:
                self._finish(service, deployment, now)
                return
            stage = deployment.schedule[0]
            deployment.stage = stage.name
            if stage.pause is not None and stage.name not in deployment.continued:
                if self._paused(service, deployment, stage, now):
                    return
                continue
            ends = deployment.stage_started + stage.seconds
            if now < ends:
                return
            deployment.schedule.pop(0)
            deployment.stage_started = ends

    def _paused(self, service: Service, deployment: Deployment, stage: Stage, now: float) -> bool:
        """True while the deployment waits at a PAUSE hook; its timeout takes its action."""
        pause = stage.pause
        assert pause is not None
        if deployment.hook is None or deployment.hook["stage"] != stage.name:
            deployment.hook = {
                "hookId": uuid.uuid4().hex[:12],
                "stage": stage.name,
                "since": now,
                "expires": time.time() + pause.timeout_minutes * service.timing.minute,
                "expiresMono": now + pause.timeout_minutes * service.timing.minute,
                "status": "AWAITING_ACTION",
            }
        hook = deployment.hook
        if now < hook["expiresMono"]:
            return True
        hook["status"] = "TIMED_OUT"
        self._resolve_hook(service, deployment, pause.action, hook["expiresMono"])
        return False

    def _resolve_hook(
        self, service: Service, deployment: Deployment, action: str, at: float
    ) -> None:
        hook = deployment.hook
        assert hook is not None
        deployment.continued.add(hook["stage"])
        deployment.stage_started = at
        if action == "ROLLBACK":
            self._roll_back(service, deployment, "Lifecycle hook action: ROLLBACK", at)

    def _finish(self, service: Service, deployment: Deployment, now: float) -> None:
        deployment.finished, deployment.finished_mono = time.time(), now
        deployment.stage = "" if deployment.strategy == "ROLLING" else "CLEAN_UP"
        if deployment.status == "ROLLBACK_IN_PROGRESS":
            deployment.status = "ROLLBACK_SUCCESSFUL"
        elif deployment.bad:
            deployment.circuit = "TRIGGERED"
            deployment.failed_tasks = service.desired
            if service.circuit_breaker["rollback"]:
                deployment.finished = deployment.finished_mono = None
                self._roll_back(service, deployment, CIRCUIT_BREAKER_REASON, now)
            else:
                deployment.status = "STOPPED"
                deployment.reason = CIRCUIT_BREAKER_REASON
        else:
            deployment.status = "SUCCESSFUL"
            deployment.reason = "Service deployment completed."

    def _roll_back(self, service: Service, deployment: Deployment, why: str, now: float) -> None:
        """Back to the source revision, whose tasks (mostly) still run."""
        timing = service.timing
        shifted = deployment.stage in SHIFTED
        if deployment.strategy == "ROLLING":
            drained = 0.0
            if deployment.stage == "CLEAN_UP" and deployment.schedule:
                drained = min(1.0, (now - deployment.stage_started) / max(timing.drain, 1e-9))
            schedule = [Stage("SCALE_UP", timing.start * drained), Stage("CLEAN_UP", timing.drain)]
        elif shifted or deployment.stage == "PRODUCTION_TRAFFIC_SHIFT":
            schedule = [Stage("PRODUCTION_TRAFFIC_SHIFT", timing.shift)]
        elif deployment.stage == "CLEAN_UP":
            schedule = [
                Stage("SCALE_UP", timing.start),
                Stage("PRODUCTION_TRAFFIC_SHIFT", timing.shift),
            ]
        else:  # green never took traffic: it is simply stopped
            schedule = [Stage("CLEAN_UP", 0.1)]
        deployment.schedule, deployment.stage_started = schedule, now
        deployment.status = (
            "ROLLBACK_REQUESTED" if why != CIRCUIT_BREAKER_REASON else "ROLLBACK_IN_PROGRESS"
        )
        deployment.reason = why
        deployment.rollback = {
            "reason": why,
            "startedAt": time.time(),
            "serviceRevisionArn": deployment.source_revision_arns[0]
            if deployment.source_revision_arns
            else "",
        }

    def _updated(self, request: dict[str, Any], document: dict[str, Any]) -> None:
        entry = document.get("service", {})
        cluster = entry.get("clusterArn", "").rsplit("/", 1)[-1]
        service = self.services.get((cluster, entry.get("serviceName", "")))
        if service is None or "taskDefinition" not in request:
            return
        now = time.monotonic()
        for old in service.deployments:
            self._advance(service, old, now)
        current = self._serving(service)
        sources = [current] if current else []
        new = self._deployment(
            service, task_definition_arn(request["taskDefinition"]), sources, time.time()
        )
        previous = [d for d in service.deployments if d.ongoing]
        for old in previous:  # superseded: its tasks drain under the new deployment
            old.status, old.reason = "STOPPED", "Superseded by a newer service deployment."
            old.finished, old.finished_mono = time.time(), now
        new.source_revision_arns = [self._revision_arn_of(service, s) for s in sources]
        service.deployments.append(new)
        service.scaled = None

    def _revision_arn_of(self, service: Service, task_definition: str) -> str:
        for deployment in reversed(service.deployments):
            if deployment.target == task_definition:
                return deployment.revision_arn
        return ""

    def _serving(self, service: Service) -> str:
        """The task definition the service is on now, as ``DescribeServices`` says: the
        newest deployment's target, or its source once that deployment was rolled back."""
        if not service.deployments:
            return ""
        latest = service.deployments[-1]
        if latest.undone and latest.sources:
            return latest.sources[0]
        return latest.target

    # -- DescribeServices -------------------------------------------------------------

    def _shown(self, service: Service, entry: dict[str, Any]) -> None:
        now = time.monotonic()
        for deployment in service.deployments:
            self._advance(service, deployment, now)
        latest = service.deployments[-1]
        n = service.desired
        entry["taskDefinition"] = self._serving(service)
        entry["deploymentConfiguration"] = self._configuration(service)
        entry["deploymentController"] = {"type": "ECS"}
        shown: list[dict[str, Any]] = []
        elapsed = now - latest.stage_started
        stage = latest.schedule[0] if latest.schedule else None
        fraction = min(1.0, elapsed / stage.seconds) if stage and stage.seconds > 0 else 1.0
        source = latest.sources[0] if latest.sources else None
        if latest.ongoing and not latest.undone:
            new_running = round(n * fraction) if latest.stage in ("SCALE_UP", "PRE_SCALE_UP") else n
            if latest.bad:
                new_running = 0
            old_running = round(n * (1 - fraction)) if latest.stage == "CLEAN_UP" else n
            shown.append(
                _deployment(latest.target, "PRIMARY", "IN_PROGRESS", n, new_running, latest)
            )
            if source:
                shown.append(_deployment(source, "ACTIVE", "COMPLETED", 0, old_running, None))
        elif latest.ongoing:  # rolling back: the source is primary again
            back = source or latest.target
            shown.append(_deployment(back, "PRIMARY", "IN_PROGRESS", n, n, None))
            shown.append(_deployment(latest.target, "ACTIVE", "IN_PROGRESS", 0, 0, latest))
        elif latest.status == "ROLLBACK_SUCCESSFUL":
            shown.append(_deployment(source or latest.target, "PRIMARY", "COMPLETED", n, n, None))
            remembered = (
                latest.finished_mono is not None
                and now - latest.finished_mono < service.timing.forget
            )
            if latest.circuit == "TRIGGERED" and remembered:
                failed = _deployment(latest.target, "ACTIVE", "FAILED", 0, 0, latest)
                failed["rolloutStateReason"] = CIRCUIT_BREAKER_REASON
                failed["failedTasks"] = latest.failed_tasks
                shown.append(failed)
        elif latest.status == "STOPPED" and latest.circuit == "TRIGGERED":
            failed = _deployment(latest.target, "PRIMARY", "FAILED", n, 0, latest)
            failed["rolloutStateReason"] = CIRCUIT_BREAKER_REASON
            failed["failedTasks"] = latest.failed_tasks
            shown.append(failed)
            if source:
                shown.append(_deployment(source, "ACTIVE", "COMPLETED", 0, n, None))
        else:
            running, desired = service.scaled or (n, n)
            primary = _deployment(latest.target, "PRIMARY", "COMPLETED", desired, running, latest)
            shown.append(primary)
        entry["deployments"] = shown
        primary = shown[0]
        entry["desiredCount"] = primary["desiredCount"] if shown else n
        entry["runningCount"] = sum(d["runningCount"] for d in shown)

    def _configuration(self, service: Service) -> dict[str, Any]:
        configuration: dict[str, Any] = {
            "deploymentCircuitBreaker": dict(service.circuit_breaker),
            "maximumPercent": 200,
            "minimumHealthyPercent": 100,
            "strategy": service.strategy,
        }
        if service.strategy != "ROLLING":
            configuration["bakeTimeInMinutes"] = service.bake_minutes
        if service.strategy == "LINEAR":
            configuration["linearConfiguration"] = {
                "stepPercent": round(100 / service.steps, 1),
                "stepBakeTimeInMinutes": 0,
            }
        if service.strategy == "CANARY":
            configuration["canaryConfiguration"] = {
                "canaryPercent": 10.0,
                "canaryBakeTimeInMinutes": 0,
            }
        if service.pauses:
            configuration["lifecycleHooks"] = [
                {
                    "targetType": "PAUSE",
                    "lifecycleStages": [p.stage],
                    "timeoutConfiguration": {
                        "timeoutInMinutes": p.timeout_minutes,
                        "action": p.action,
                    },
                }
                for p in service.pauses
            ]
        return configuration

    # -- the service deployments API ------------------------------------------------------

    def _find(self, arn: str) -> tuple[Service, Deployment] | None:
        for service in self.services.values():
            for deployment in service.deployments:
                if deployment.arn == arn:
                    self._advance(service, deployment, time.monotonic())
                    return service, deployment
        return None

    def _list(self, request: dict[str, Any]) -> Answer:
        cluster = str(request.get("cluster", "default")).rsplit("/", 1)[-1]
        name = str(request["service"]).rsplit("/", 1)[-1]
        service = self.services.get((cluster, name))
        if service is None:
            return Answer.json({"serviceDeployments": []})
        wanted = set(request.get("status") or [])
        now = time.monotonic()
        briefs = []
        for deployment in reversed(service.deployments):
            self._advance(service, deployment, now)
            if wanted and deployment.status not in wanted:
                continue
            briefs.append(
                {
                    "serviceDeploymentArn": deployment.arn,
                    "serviceArn": service.arn,
                    "clusterArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{cluster}",
                    "startedAt": deployment.created,
                    "createdAt": deployment.created,
                    **({"finishedAt": deployment.finished} if deployment.finished else {}),
                    "targetServiceRevisionArn": deployment.revision_arn,
                    "status": deployment.status,
                    **({"statusReason": deployment.reason} if deployment.reason else {}),
                }
            )
        limit = int(request.get("maxResults") or 20)
        return Answer.json({"serviceDeployments": briefs[:limit]})

    def _describe_deployments(self, request: dict[str, Any]) -> Answer:
        found, failures = [], []
        for arn in request.get("serviceDeploymentArns", []):
            pair = self._find(arn)
            if pair is None:
                failures.append({"arn": arn, "reason": "MISSING"})
                continue
            service, deployment = pair
            found.append(self._full(service, deployment))
        return Answer.json({"serviceDeployments": found, "failures": failures})

    def _full(self, service: Service, deployment: Deployment) -> dict[str, Any]:
        n = service.desired
        document: dict[str, Any] = {
            "serviceDeploymentArn": deployment.arn,
            "serviceArn": service.arn,
            "clusterArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{service.cluster}",
            "createdAt": deployment.created,
            "startedAt": deployment.created,
            "updatedAt": time.time(),
            "sourceServiceRevisions": [
                {"arn": arn, "requestedTaskCount": 0, "runningTaskCount": n, "pendingTaskCount": 0}
                for arn in deployment.source_revision_arns
            ],
            "targetServiceRevision": {
                "arn": deployment.revision_arn,
                "requestedTaskCount": n,
                "runningTaskCount": 0 if deployment.bad else n,
                "pendingTaskCount": 0,
            },
            "status": deployment.status,
            "deploymentConfiguration": self._configuration(service),
            "deploymentCircuitBreaker": {
                "status": deployment.circuit if service.circuit_breaker["enable"] else "DISABLED",
                "failureCount": deployment.failed_tasks,
                "threshold": 10,
            },
        }
        if deployment.stage:
            document["lifecycleStage"] = deployment.stage
        if deployment.reason:
            document["statusReason"] = deployment.reason
        if deployment.finished:
            document["finishedAt"] = deployment.finished
        if deployment.rollback:
            document["rollback"] = deployment.rollback
        hook = deployment.hook
        if hook is not None:
            document["lifecycleHookDetails"] = [
                {
                    "hookId": hook["hookId"],
                    "targetType": "PAUSE",
                    "status": hook["status"],
                    "expiresAt": hook["expires"],
                    "timeoutAction": next(
                        p.action for p in service.pauses if p.stage == hook["stage"]
                    ),
                }
            ]
        return document

    def _describe_revisions(self, request: dict[str, Any]) -> Answer:
        found, failures = [], []
        for arn in request.get("serviceRevisionArns", []):
            match = next(
                (
                    (service, deployment)
                    for service in self.services.values()
                    for deployment in service.deployments
                    if deployment.revision_arn == arn
                ),
                None,
            )
            if match is None:
                failures.append({"arn": arn, "reason": "MISSING"})
                continue
            service, deployment = match
            found.append(
                {
                    "serviceRevisionArn": arn,
                    "serviceArn": service.arn,
                    "clusterArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{service.cluster}",
                    "taskDefinition": deployment.target,
                    "launchType": "FARGATE",
                    "createdAt": deployment.created,
                }
            )
        return Answer.json({"serviceRevisions": found, "failures": failures})

    def _stop(self, request: dict[str, Any]) -> Answer:
        arn = str(request.get("serviceDeploymentArn"))
        self.stops.append(arn)
        pair = self._find(arn)
        if pair is None:
            return Answer.error("ServiceDeploymentNotFoundException", f"{arn} not found")
        service, deployment = pair
        if deployment.undone and deployment.ongoing:
            return Answer.json({"serviceDeploymentArn": arn})  # the rollback goes on
        if not deployment.ongoing:
            return Answer.error(
                "ConflictException",
                f"The service deployment is {deployment.status} and cannot be stopped.",
            )
        self._roll_back(
            service,
            deployment,
            "Service deployment rolled back by StopServiceDeployment.",
            time.monotonic(),
        )
        return Answer.json({"serviceDeploymentArn": arn})

    def _continue(self, request: dict[str, Any]) -> Answer:
        arn = str(request.get("serviceDeploymentArn"))
        pair = self._find(arn)
        if pair is None:
            return Answer.error("ServiceDeploymentNotFoundException", f"{arn} not found")
        service, deployment = pair
        hook = deployment.hook
        if (
            hook is None
            or hook["hookId"] != request.get("hookId")
            or hook["status"] != "AWAITING_ACTION"
        ):
            return Answer.error("InvalidParameterException", "No lifecycle hook awaits an action.")
        action = str(request.get("action") or "CONTINUE")
        self.continues.append((arn, action))
        hook["status"] = "SUCCEEDED"
        self._resolve_hook(service, deployment, action, time.monotonic())
        return Answer.json({"serviceDeploymentArn": arn})


def _deployment(
    task_definition: str,
    status: str,
    rollout: str,
    desired: int,
    running: int,
    source: Deployment | None,
) -> dict[str, Any]:
    ident = (
        source.arn.rsplit("/", 1)[-1]
        if source
        else uuid.uuid5(uuid.NAMESPACE_URL, task_definition).hex[:20]
    )
    return {
        "id": f"ecs-svc/{ident}",
        "status": status,
        "taskDefinition": task_definition,
        "desiredCount": desired,
        "pendingCount": max(0, desired - running),
        "runningCount": running,
        "failedTasks": 0,
        "createdAt": source.created if source else time.time() - 3600,
        "updatedAt": time.time(),
        "launchType": "FARGATE",
        "rolloutState": rollout,
        "rolloutStateReason": f"ECS deployment ecs-svc/{ident} {rollout.lower().replace('_', ' ')}.",
    }
