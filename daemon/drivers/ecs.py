"""ECS services (ROLLBACK.md 4.2): the live version is the service's task-definition revision.

Observation batches ``describe_services`` 10 services a call (the AWS limit) per
cluster. The service's own ``taskDefinition`` is what counts: moto stores the
literal ``family:rev`` there and keeps the old ARN on the deployment, AWS stores an
ARN; both are normalised to family and revision.
"""

from __future__ import annotations

import re
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from daemon.adapters.aws import error_code, error_message
from daemon.core.model import Action, Kind, Observed, Pin, Resolved, VersionInfo
from daemon.drivers import codedeploy
from daemon.drivers.base import (
    NOTHING_STARTED,
    AwsDriver,
    Client,
    Progress,
    Started,
    Waiting,
    checked_ahead,
    fan_out,
    wait_until,
)
from daemon.errors import ApplyFailed, Held, ObserveFailed
from daemon.spec import EcsTarget

BATCH = 10
CODE_DEPLOYMENT = "codeDeployment"  # what wait watches (Started)
ECR_IMAGE = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com/"
    r"(?P<repository>[^:@]+)(?::(?P<tag>[^@]+))?(?:@(?P<digest>sha256:[0-9a-f]{64}))?$"
)

LISTING_FRESH = 30.0  # seconds a listing of ACTIVE revisions stands for their status


def family_revision(task_definition: str) -> tuple[str, int]:
    """``arn:...:task-definition/web:7`` or ``web:7`` -> ``("web", 7)``."""
    name = task_definition.rsplit("/", 1)[-1]
    family, _, revision = name.rpartition(":")
    return family, int(revision)


class EcsDriver(AwsDriver[EcsTarget]):
    kind = Kind.ECS
    _ecs = Client("ecs")
    _ecr = Client("ecr")

    def reset_caches(self) -> None:
        self._family: dict[str, str] = {}
        self._definitions: dict[str, dict[str, Any]] = {}  # by ARN; immutable once registered
        # The ACTIVE revisions ``versions`` listed last, per family: when, and by name.
        self._listed: dict[str, tuple[float, dict[str, str]]] = {}

    def observe(self, targets: Sequence[str]) -> dict[str, Observed]:
        by_cluster: dict[str, list[str]] = defaultdict(list)
        for name in targets:
            by_cluster[self.targets[name].cluster].append(name)
        batches = [
            (cluster, names[start : start + BATCH])
            for cluster, names in by_cluster.items()
            for start in range(0, len(names), BATCH)
        ]
        observed: dict[str, Observed] = {}
        for part in fan_out(self._observe_batch, batches, self.workers):
            observed.update(part)
        return observed

    def _observe_batch(self, batch: tuple[str, list[str]]) -> dict[str, Observed]:
        cluster, names = batch
        try:
            services = self._describe(cluster, [self.targets[n].service for n in names])
        except (ClientError, BotoCoreError) as exc:
            error = f"describe_services failed: {error_message(exc)}"
            return {name: _unobserved(name, error) for name in names}
        return {
            name: self._observed(name, cluster, services.get(self.targets[name].service))
            for name in names
        }

    def _describe(self, cluster: str, services: list[str]) -> dict[str, dict[str, Any]]:
        answer = self._ecs.describe_services(cluster=cluster, services=services)
        return {s["serviceName"]: s for s in answer.get("services", [])}

    def _observed(self, name: str, cluster: str, service: dict[str, Any] | None) -> Observed:
        spec = self.targets[name]
        if service is None or service.get("status") == "INACTIVE":
            return _unobserved(name, f"ECS service {spec.service} not found in cluster {cluster}")
        family, revision = family_revision(service["taskDefinition"])
        self._family[name] = spec.family or family
        controller = _controller(service)
        rollout = _rollout(service) if controller == "ECS" else Rollout(controller, False)
        detail = {"family": family, "rollout": rollout.status, "controller": controller}
        if rollout.failed:
            detail["failed"] = rollout.failed
        if rollout.rolled_back is not None and rollout.rolled_back != revision:
            detail["rolledBack"] = str(rollout.rolled_back)
            detail["rolledBackReason"] = rollout.rolled_back_reason
        return Observed(
            target=name,
            kind=Kind.ECS,
            live=str(revision),
            rank=float(revision),
            in_progress=rollout.status if rollout.rolling else None,
            detail=detail,
        )

    def preflight(self, target: str, pin: Pin, observed: Observed) -> Resolved:
        assert pin.version is not None
        revision = int(pin.version)
        if observed.live == pin.version:
            return Resolved(target, pin.version, rank=float(revision))
        family = self._family.get(target) or self.targets[target].family or target
        name = f"{family}:{revision}"
        refused = self._controller_refusal(target, observed.detail.get("controller", "ECS"))
        if refused is not None:
            return Resolved(target, pin.version, float(revision), refused=refused)
        if observed.detail.get("rolledBack") == pin.version:
            why = observed.detail.get("rolledBackReason", "")
            return Resolved(
                target,
                pin.version,
                float(revision),
                refused=f"ECS rolled {name} back by itself ({why}); held: pin another revision",
            )
        try:
            found = (
                self._just_listed(family, name)
                or self._ecs.describe_task_definition(taskDefinition=name)["taskDefinition"]
            )
        except ClientError as exc:
            if error_code(exc) != "ClientException":
                raise
            return Resolved(
                target,
                pin.version,
                float(revision),
                refused=f"task definition {name} does not exist",
            )
        if found.get("status") != "ACTIVE":
            return Resolved(
                target,
                pin.version,
                float(revision),
                refused=f"task definition {name} is {found.get('status')} (deregistered); register it again first",
            )
        for container in found.get("containerDefinitions", []):
            gone = self._gone_from_ecr(container.get("image", ""))
            if gone is not None:
                refused = f"task definition {name} runs {container.get('image')}, but {gone}"
                return Resolved(target, pin.version, float(revision), refused=refused)
        return Resolved(target, pin.version, rank=float(revision))

    def _controller_refusal(self, target: str, controller: str) -> str | None:
        """Why a service's deployment controller stops pinback from deploying it, or None."""
        spec = self.targets[target]
        if controller == "EXTERNAL":
            return (
                f"ECS service {spec.service} uses the EXTERNAL deployment controller; its "
                "deployments are made by another tool, which pinback cannot drive"
            )
        if controller == "CODE_DEPLOY" and spec.code_deploy is None:
            return (
                f"ECS service {spec.service} is blue/green (CODE_DEPLOY), which rejects "
                "UpdateService: set codeDeploy: {application, deploymentGroup} on the target "
                "so pinback rolls back through CodeDeploy"
            )
        return None

    def _gone_from_ecr(self, image: str) -> str | None:
        """Why an image of this account's and region's ECR can no longer be pulled, or None.

        A lifecycle policy deletes old images, and a rollback to a revision that runs one
        fails mid-incident with ``CannotPullContainerError``; this finds it first. Images
        from elsewhere (Docker Hub, another region) are not checked.
        """
        match = ECR_IMAGE.match(image)
        if match is None or match["region"] != self.clients.region:
            return None
        repository = match["repository"]
        wanted = {"imageDigest": match["digest"]} if match["digest"] else {}
        if not wanted:
            wanted = {"imageTag": match["tag"] or "latest"}
        try:
            self._ecr.describe_images(
                registryId=match["account"], repositoryName=repository, imageIds=[wanted]
            )
        except ClientError as exc:
            code = error_code(exc)
            if code == "ImageNotFoundException":
                return f"that image is no longer in ECR repository {repository} (a lifecycle policy may have deleted it)"
            if code == "RepositoryNotFoundException":
                return f"ECR repository {repository} does not exist"
            raise
        return None

    def apply(self, target: str, action: Action, progress: Progress) -> Started:
        spec = self.targets[target]
        name = f"{self._family_of(target)}:{action.to_version}"
        if spec.code_deploy is not None:
            service = self._describe(spec.cluster, [spec.service]).get(spec.service)
            if service is not None and _controller(service) == "CODE_DEPLOY":
                arn = self._task_definition(name)["taskDefinitionArn"]
                settings = spec.code_deploy
                where = f"{settings.application}/{settings.deployment_group}"
                progress(target, f"CodeDeploy deployment of {where} -> {name}")
                deployment = codedeploy.start(
                    self.clients.client("codedeploy"),
                    settings,
                    service,
                    arn,
                    f"pinback: {spec.service} -> {name}",
                )
                return {CODE_DEPLOYMENT: deployment}
        progress(target, f"update_service {spec.cluster}/{spec.service} -> {name}")
        self._ecs.update_service(
            cluster=spec.cluster, service=spec.service, taskDefinition=name, forceNewDeployment=True
        )
        return NOTHING_STARTED

    def wait(self, target: str, action: Action, waiting: Waiting) -> None:
        spec = self.targets[target]
        want = int(action.to_version)
        deployment = waiting.started.get(CODE_DEPLOYMENT)
        if deployment is not None:
            client = self.clients.client("codedeploy")
            wait_until(
                lambda: codedeploy.state(client, deployment),
                target,
                "CodeDeploy deployment",
                waiting,
            )
            return

        def check() -> tuple[bool, str]:
            service = self._describe(spec.cluster, [spec.service]).get(spec.service)
            if service is None:
                raise ApplyFailed(f"ECS service {spec.service} disappeared during the rollout")
            _, revision = family_revision(service["taskDefinition"])
            rollout = _rollout(service)
            if rollout.rolled_back == want and revision != want:
                raise Held(
                    f"ECS rolled the deployment of revision {want} back to revision {revision} "
                    f"by itself: {rollout.rolled_back_reason}"
                )
            if rollout.failed:
                raise ApplyFailed(f"ECS deployment failed: {rollout.failed}")
            if revision != want:
                raise ApplyFailed(
                    f"the service moved to revision {revision} while pinback waited for {want}"
                )
            return (not rollout.rolling), rollout.status

        wait_until(check, target, "ECS deployment", waiting)

    def verify(self, target: str, action: Action) -> Observed:
        return self.observe([target])[target]

    def versions(self, target: str, limit: int, seen: Observed | None = None) -> list[VersionInfo]:
        """ACTIVE revisions, newest first; ``seen``: the target as just observed."""
        family = self._family_of(target)
        arns: list[str] = []
        paginator = self._ecs.get_paginator("list_task_definitions")
        for page in paginator.paginate(familyPrefix=family, status="ACTIVE"):
            arns.extend(a for a in page["taskDefinitionArns"] if family_revision(a)[0] == family)
        # Sorted here: not every ECS endpoint honours sort=DESC, and one family is small.
        arns.sort(key=lambda arn: family_revision(arn)[1], reverse=True)
        with self._lock:
            self._listed[family] = (time.monotonic(), {a.rsplit("/", 1)[-1]: a for a in arns})
        live = (seen or self.observe([target])[target]).live
        result = []
        for arn in arns[:limit]:
            detail = self._task_definition(arn)
            revision = str(detail["revision"])
            registered = detail.get("registeredAt")
            images = ",".join(c.get("image", "") for c in detail.get("containerDefinitions", []))
            result.append(
                VersionInfo(
                    version=revision,
                    time=registered.isoformat() if registered else None,
                    live=revision == live,
                    detail={"image": images},
                )
            )
        return result

    def _just_listed(self, family: str, name: str) -> dict[str, Any] | None:
        """The revision as read when ``versions`` listed it ACTIVE moments ago (a readiness
        check lists a family, then checks each revision before the live one), so checking
        it costs no call; None when it was not, or not recently, or when this preflight is
        not the readiness check's (a rollback reads the status afresh)."""
        if not checked_ahead():
            return None
        with self._lock:
            when, arns = self._listed.get(family, (0.0, {}))
            arn = arns.get(name)
            definition = self._definitions.get(arn) if arn else None
        if definition is None or time.monotonic() - when > LISTING_FRESH:
            return None
        return {**definition, "status": "ACTIVE"}

    def _task_definition(self, arn: str) -> dict[str, Any]:
        """A registered revision, read once: its containers, images and time never change
        (only its status does, and ``versions`` lists ACTIVE revisions afresh each time)."""
        with self._lock:
            kept = self._definitions.get(arn)
        if kept is None:
            kept = self._ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]
            with self._lock:
                self._definitions[arn] = kept
        return kept

    def _family_of(self, target: str) -> str:
        if target not in self._family:
            self.observe([target])
        family = self._family.get(target) or self.targets[target].family
        if not family:
            raise ObserveFailed(f"cannot tell the task-definition family of {target}")
        return family


@dataclass(frozen=True)
class Rollout:
    """Where a service's deployments stand, read from one ``describe_services`` answer."""

    status: str  # one line for progress: "COMPLETED, running 2/2"
    rolling: bool
    failed: str | None = None  # the primary deployment FAILED: AWS's reason
    rolled_back: int | None = None  # a revision ECS itself rolled back (circuit breaker)
    rolled_back_reason: str = ""


def _controller(service: dict[str, Any]) -> str:
    """``ECS`` (rolling), ``CODE_DEPLOY`` (blue/green) or ``EXTERNAL``."""
    return str((service.get("deploymentController") or {}).get("type") or "ECS")


def _rollout(service: dict[str, Any]) -> Rollout:
    """The service's rollout, including a deployment ECS rolled back by itself.

    With the deployment circuit breaker's rollback on, a failed deployment keeps
    ``rolloutState: FAILED`` while a new PRIMARY deployment takes the service back to the
    last completed revision (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/deployment-circuit-breaker.html).
    """
    deployments = service.get("deployments", [])
    primary = next((d for d in deployments if d.get("status") == "PRIMARY"), None)
    undone = next(
        (d for d in deployments if d is not primary and d.get("rolloutState") == "FAILED"), None
    )
    rolled_back = family_revision(undone["taskDefinition"])[1] if undone else None
    why = (undone or {}).get("rolloutStateReason") or "rolled back by ECS"
    running, desired = service.get("runningCount", 0), service.get("desiredCount", 0)
    if primary is None:
        status = f"no primary deployment, running {running}/{desired}"
        return Rollout(status, True, None, rolled_back, why)
    state = primary.get("rolloutState")
    running = primary.get("runningCount", running)
    desired = primary.get("desiredCount", desired)
    status = f"{state or 'rolling'}, running {running}/{desired}"
    if state == "FAILED":
        reason = primary.get("rolloutStateReason") or "rollout FAILED"
        return Rollout(status, False, reason, rolled_back, why)
    if state is not None:
        rolling = state != "COMPLETED" or running != desired
    else:
        rolling = len(deployments) > 1 or running != desired
    return Rollout(status, rolling, None, rolled_back, why)


def _unobserved(name: str, error: str) -> Observed:
    return Observed(target=name, kind=Kind.ECS, live=None, error=error)
