"""CodeDeploy blue/green deployments of an ECS service as they run (moto leaves a deployment
``Created`` for ever, has no ``StopDeployment`` or ``ContinueDeployment``, and lets any number
of deployments run in one group).

- **The lifecycle** (https://docs.aws.amazon.com/codedeploy/latest/userguide/deployment-steps-ecs.html):
  ``Created``, ``InProgress`` while green starts (``Timing.install``); then, with a manual
  reroute (``deploymentReadyOption.actionOnTimeout: STOP_DEPLOYMENT``), ``Ready`` until
  ``ContinueDeployment`` or ``waitTimeInMinutes`` (then ``Stopped``); then traffic is
  rerouted to green (the service's task definition becomes green's) and the original task
  set is kept for the termination wait, ``instanceTerminationWaitTimeStarted: true`` with the
  deployment still ``InProgress`` (``Timing.termination``), then ``Succeeded``.
- **One deployment at a time per group**: another ``CreateDeployment`` meanwhile fails with
  ``DeploymentLimitExceededException``
  (https://docs.aws.amazon.com/codedeploy/latest/APIReference/API_CreateDeployment.html).
- **Stopping with a rollback** (``StopDeployment(autoRollbackEnabled=true)``,
  https://docs.aws.amazon.com/codedeploy/latest/APIReference/API_StopDeployment.html): the
  deployment is ``Stopped`` and traffic goes back to the original task set (at once while it
  still runs: before the reroute, or during the termination wait).
- **``GetDeployment`` never carries the AppSpec**: "The content property of the
  appSpecContent object in the returned revision is always null. Use GetApplicationRevision
  and the sha256 property" (botocore's model of GetDeployment); ``GetApplicationRevision``
  answers the content by its ``sha256``.
- **ListDeployments names no order**: the ids come oldest first here, so a caller must not
  take the first as the newest.
- ``DescribeServices`` shows the service's task sets and its task definition as they move.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from tests.stands.realistic import Answer, Call

ACTIVE = ("Created", "Queued", "InProgress", "Ready", "Baking")
TD = "arn:aws:ecs:ap-northeast-2:123456789012:task-definition/{}"


@dataclass(frozen=True)
class Timing:
    install: float = 0.5  # green's task set starts
    termination: float = 3600.0  # the original task set kept after the reroute
    minute: float = 1.0


@dataclass
class Deployment:
    ident: str
    group: str
    original: str  # task-definition ARN
    target: str
    created: float
    manual: bool  # waits in Ready for ContinueDeployment
    wait_minutes: int
    hooks: Any = None
    wall: float = field(default_factory=time.time)  # createTime
    status: str = "Created"
    rerouted: float | None = None
    continued: float | None = None
    stopped: bool = False
    rolled_back: bool = False


@dataclass
class Group:
    application: str
    name: str
    cluster: str
    service: str
    live: str  # the service's task definition before any deployment of the test
    timing: Timing
    manual: bool = False
    wait_minutes: int = 60
    deployments: list[Deployment] = field(default_factory=list)


class CodeDeployWorld:
    def __init__(self) -> None:
        self.groups: dict[str, Group] = {}
        self.lock = threading.Lock()
        self.created: list[dict[str, Any]] = []  # CreateDeployment requests, as sent
        self.appspecs: dict[str, str] = {}  # sha256 -> AppSpec content, as registered
        self.stops: list[dict[str, Any]] = []
        self.refused = 0  # CreateDeployment refused with DeploymentLimitExceededException
        self.ended_waits: list[str] = []  # ContinueDeployment(TERMINATION_WAIT) calls

    def animate(
        self,
        application: str,
        group: str,
        cluster: str,
        service: str,
        live: str,
        timing: Timing | None = None,
        manual: bool = False,
        wait_minutes: int = 60,
    ) -> Group:
        found = Group(
            application,
            group,
            cluster,
            service,
            TD.format(live),
            timing or Timing(),
            manual,
            wait_minutes,
        )
        with self.lock:
            self.groups[group] = found
        return found

    # -- time ---------------------------------------------------------------------------

    def _advance(self, group: Group, deployment: Deployment, now: float) -> None:
        if deployment.status not in ACTIVE:
            return
        timing = group.timing
        installed = deployment.created + timing.install
        if now < installed:
            deployment.status = "InProgress"
            return
        if deployment.manual and deployment.continued is None:
            if now >= installed + deployment.wait_minutes * timing.minute:
                deployment.status, deployment.stopped = "Stopped", True
                return
            deployment.status = "Ready"
            return
        rerouted_at = deployment.continued or installed
        deployment.rerouted = rerouted_at
        deployment.status = "InProgress"
        if now >= rerouted_at + timing.termination:
            deployment.status = "Succeeded"

    def _serving(self, group: Group) -> tuple[str, list[str]]:
        """(the service's task definition, its task sets) now."""
        now = time.monotonic()
        current, sets = group.live, [group.live]
        for deployment in group.deployments:
            self._advance(group, deployment, now)
            if deployment.rolled_back or (deployment.stopped and deployment.rerouted is None):
                current, sets = deployment.original, [deployment.original]
            elif deployment.status == "Succeeded":
                current, sets = deployment.target, [deployment.target]
            elif deployment.rerouted is not None:
                current, sets = deployment.target, [deployment.target, deployment.original]
            elif deployment.status in ACTIVE:
                current, sets = deployment.original, [deployment.original, deployment.target]
        return current, sets

    # -- the proxy's questions ---------------------------------------------------------

    def answer(self, call: Call) -> Answer | None:
        operation = call.path.rsplit("/", 1)[-1] if "/operation/" in call.path else call.operation
        if not self.groups or operation not in (
            "CreateDeployment",
            "StopDeployment",
            "ContinueDeployment",
            "ListDeployments",
            "GetDeployment",
            "BatchGetDeployments",
            "GetApplicationRevision",
        ):
            return None
        request = call.json()
        with self.lock:
            return getattr(self, f"_{operation}")(request)

    def rewrite(self, call: Call, answer: Answer) -> Answer:
        if call.operation != "DescribeServices" or answer.status != 200 or not self.groups:
            return answer
        document = answer.document()
        with self.lock:
            for entry in document.get("services", []):
                group = next(
                    (g for g in self.groups.values() if g.service == entry.get("serviceName")), None
                )
                if group is None:
                    continue
                current, sets = self._serving(group)
                entry["taskDefinition"] = current
                entry["deploymentController"] = {"type": "CODE_DEPLOY"}
                entry["taskSets"] = [
                    {
                        "id": f"ecs-svc/{i}",
                        "taskDefinition": td,
                        "status": "PRIMARY" if td == current else "ACTIVE",
                    }
                    for i, td in enumerate(sets)
                ]
                entry["loadBalancers"] = [
                    {
                        "targetGroupArn": "arn:aws:elasticloadbalancing:ap-northeast-2:123456789012:targetgroup/blue/1",
                        "containerName": "api",
                        "containerPort": 8080,
                    }
                ]
                entry["deployments"] = []
        return answer.with_document(document)

    def _CreateDeployment(self, request: dict[str, Any]) -> Answer | None:
        group = self.groups.get(str(request.get("deploymentGroupName")))
        if group is None:
            return None
        self.created.append(request)
        now = time.monotonic()
        current, _ = self._serving(group)
        if any(d.status in ACTIVE for d in group.deployments):
            self.refused += 1
            return Answer.error(
                "DeploymentLimitExceededException",
                f"The deployment group {group.name} already has an active deployment.",
            )
        content = json.loads(request["revision"]["appSpecContent"]["content"])
        properties = content["Resources"][0]["TargetService"]["Properties"]
        ident = f"d-{len(self.created):09d}"
        group.deployments.append(
            Deployment(
                ident,
                group.name,
                current,
                properties["TaskDefinition"],
                now,
                group.manual,
                group.wait_minutes,
                content.get("Hooks"),
            )
        )
        return Answer.json({"deploymentId": ident})

    def _find(self, ident: str) -> tuple[Group, Deployment] | None:
        for group in self.groups.values():
            for deployment in group.deployments:
                if deployment.ident == ident:
                    self._advance(group, deployment, time.monotonic())
                    return group, deployment
        return None

    def _GetDeployment(self, request: dict[str, Any]) -> Answer | None:
        info = self._info(str(request.get("deploymentId")))
        return None if info is None else Answer.json({"deploymentInfo": info})

    def _BatchGetDeployments(self, request: dict[str, Any]) -> Answer | None:
        found = [self._info(str(i)) for i in request.get("deploymentIds", [])]
        return Answer.json({"deploymentsInfo": [i for i in found if i is not None]})

    def _GetApplicationRevision(self, request: dict[str, Any]) -> Answer:
        sha = ((request.get("revision") or {}).get("appSpecContent") or {}).get("sha256", "")
        content = self.appspecs.get(sha)
        if content is None:
            return Answer.error("RevisionDoesNotExistException", "no such revision")
        revision = {
            "revisionType": "AppSpecContent",
            "appSpecContent": {"content": content, "sha256": sha},
        }
        return Answer.json(
            {
                "applicationName": request.get("applicationName"),
                "revision": revision,
                "revisionInfo": {},
            }
        )

    def _info(self, ident: str) -> dict[str, Any] | None:
        found = self._find(ident)
        if found is None:
            return None
        group, deployment = found
        content = json.dumps(self._appspec(deployment))
        sha = hashlib.sha256(content.encode()).hexdigest()
        self.appspecs[sha] = content
        info: dict[str, Any] = {
            "deploymentId": deployment.ident,
            "applicationName": group.application,
            "deploymentGroupName": group.name,
            "status": deployment.status,
            "instanceTerminationWaitTimeStarted": deployment.rerouted is not None
            and deployment.status == "InProgress",
            "createTime": deployment.wall,
            "revision": {"revisionType": "AppSpecContent", "appSpecContent": {"sha256": sha}},
            "deploymentStyle": {
                "deploymentType": "BLUE_GREEN",
                "deploymentOption": "WITH_TRAFFIC_CONTROL",
            },
        }
        if deployment.stopped:
            info["errorInformation"] = {
                "code": "DEPLOYMENT_STOPPED",
                "message": "The deployment was stopped.",
            }
        if deployment.rolled_back:
            info["rollbackInfo"] = {"rollbackMessage": "rolled back to the original task set"}
        return info

    def _appspec(self, deployment: Deployment) -> dict[str, Any]:
        document: dict[str, Any] = {
            "version": 0.0,
            "Resources": [
                {
                    "TargetService": {
                        "Type": "AWS::ECS::Service",
                        "Properties": {
                            "TaskDefinition": deployment.target,
                            "LoadBalancerInfo": {"ContainerName": "api", "ContainerPort": 8080},
                        },
                    }
                }
            ],
        }
        if deployment.hooks:
            document["Hooks"] = deployment.hooks
        return document

    def _ListDeployments(self, request: dict[str, Any]) -> Answer | None:
        group = self.groups.get(str(request.get("deploymentGroupName")))
        if group is None:
            return None
        wanted = set(request.get("includeOnlyStatuses") or [])
        now = time.monotonic()
        found = []
        for deployment in group.deployments:  # oldest first: AWS promises no order
            self._advance(group, deployment, now)
            if not wanted or deployment.status in wanted:
                found.append(deployment.ident)
        return Answer.json({"deployments": found})

    def _StopDeployment(self, request: dict[str, Any]) -> Answer:
        self.stops.append(request)
        found = self._find(str(request.get("deploymentId")))
        if found is None:
            return Answer.error("DeploymentDoesNotExistException", "no such deployment")
        _, deployment = found
        if deployment.status not in ACTIVE:
            return Answer.error(
                "DeploymentAlreadyCompletedException", "The deployment is already completed."
            )
        deployment.status, deployment.stopped = "Stopped", True
        deployment.rolled_back = bool(request.get("autoRollbackEnabled"))
        return Answer.json({"status": "Succeeded", "statusMessage": "stopped"})

    def _ContinueDeployment(self, request: dict[str, Any]) -> Answer:
        found = self._find(str(request.get("deploymentId")))
        if found is None:
            return Answer.error("DeploymentDoesNotExistException", "no such deployment")
        _, deployment = found
        if request.get("deploymentWaitType") == "TERMINATION_WAIT":
            if deployment.rerouted is None or deployment.status != "InProgress":
                return Answer.error("DeploymentIsNotInReadyStateException", "No termination wait.")
            deployment.status = "Succeeded"  # the original task set goes now
            self.ended_waits.append(deployment.ident)
            return Answer.json({})
        if deployment.status != "Ready":
            return Answer.error(
                "DeploymentIsNotInReadyStateException", "The deployment is not Ready."
            )
        deployment.continued = time.monotonic()
        return Answer.json({})
