"""ECS services (ROLLBACK.md 4.2): the live version is the service's task-definition revision.

Observation batches ``describe_services`` 10 services a call (the AWS limit) per
cluster. The service's own ``taskDefinition`` is what counts: moto stores the
literal ``family:rev`` there and keeps the old ARN on the deployment, AWS stores an
ARN; both are normalised to family and revision. A service with a deployment going on
(or gone wrong) is also read from ECS's deployment API (``ecs_deployments``), whose
answer decides where the rollout stands (``ecs_rollout``).

AWS's own rollback comes first: a pin that goes back to the source revision of a
deployment still in flight (for blue/green, linear and canary: before ``CLEAN_UP``) is
applied with ``StopServiceDeployment(stopType=ROLLBACK)``, since the source's tasks (or
blue) still run; anything else with ``UpdateService``
(https://docs.aws.amazon.com/AmazonECS/latest/developerguide/stop-service-deployment.html).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from functools import partial
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from daemon.adapters.aws import error_code, error_message
from daemon.core.model import Action, Kind, Observed, Pin, Resolved, VersionInfo
from daemon.drivers import codedeploy, ecr_images
from daemon.drivers.base import (
    NOTHING_STARTED,
    AwsDriver,
    Client,
    Progress,
    Started,
    Waiting,
    checked_ahead,
    fan_out,
)
from daemon.drivers.ecs_deployments import DeploymentHistory
from daemon.drivers.ecs_revisions import Revisions, family_revision
from daemon.drivers.ecs_rollout import Rollout
from daemon.drivers.ecs_rollouts import ROLLING_BACK, Rollouts
from daemon.errors import ObserveFailed
from daemon.spec import EcsTarget

BATCH = 10


class EcsDriver(AwsDriver[EcsTarget]):
    kind = Kind.ECS
    _ecs = Client("ecs")
    _ecr = Client("ecr")

    def reset_caches(self) -> None:
        if not hasattr(self, "history"):  # resolved service revisions never change
            self.history = DeploymentHistory(lambda: self.clients.client("ecs", attempts=1))
        self.rollouts = Rollouts(self.targets, self.history, lambda: self._ecs, self._service)
        self._family: dict[str, str] = {}
        self.revisions = Revisions(lambda: self._ecs)

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
        state = (
            self.rollouts.of(name, service) if controller == "ECS" else Rollout(controller, False)
        )
        detail = {"family": family, "rollout": state.status, "controller": controller}
        primary = next(
            (d for d in service.get("deployments") or [] if d.get("status") == "PRIMARY"), None
        )
        if primary is not None and primary.get("id"):
            detail["primary"] = str(primary["id"])  # which deployment the service is on
        if state.failed:
            detail["failed"] = state.failed
        if state.rolled_back is not None and state.rolled_back != revision:
            detail["rolledBack"] = str(state.rolled_back)
            detail["rolledBackReason"] = state.rolled_back_reason
        if state.current is not None and state.current.stage:
            detail["stage"] = state.current.stage
        in_progress, moving = (state.status if state.rolling else None), None
        if controller == "CODE_DEPLOY" and spec.code_deploy is not None:
            client = self.clients.client("codedeploy")
            in_progress, moving = codedeploy.observe_active(client, spec.code_deploy, revision)
        return Observed(
            target=name,
            kind=Kind.ECS,
            live=str(revision),
            rank=float(revision),
            in_progress=in_progress,
            detail=detail,
            partial=moving,
        )

    def preflight(self, target: str, pin: Pin, observed: Observed) -> Resolved:
        assert pin.version is not None
        revision = int(pin.version)
        family = self._family.get(target) or self.targets[target].family or target
        name = f"{family}:{revision}"
        if observed.live == pin.version:
            failed = observed.detail.get("failed")
            if failed:  # a failed rollout is not in sync, and retrying it repeats it
                why = f"the ECS deployment of {name} failed: {failed}; held: pin another revision"
                return Resolved(target, pin.version, float(revision), refused=why, held=True)
            return Resolved(target, pin.version, rank=float(revision))
        refused = _controller_refusal(
            self.targets[target], observed.detail.get("controller", "ECS")
        )
        if refused is not None:
            return Resolved(target, pin.version, float(revision), refused=refused)
        undone = self._undone_by_ecs(target, revision, observed)
        if undone is not None:
            why = f"ECS rolled {name} back by itself ({undone}); held: pin another revision"
            return Resolved(target, pin.version, float(revision), refused=why, held=True)
        try:
            found = self.revisions.current(family, name)
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
        notes = []
        for container in found.get("containerDefinitions", []):
            image = container.get("image", "")
            verdict = ecr_images.check(self._ecr, image, self.clients.region)
            if verdict.refused is not None:
                refused = f"task definition {name} runs {image}, but {verdict.refused}"
                return Resolved(target, pin.version, float(revision), refused=refused)
            if verdict.note is not None:
                notes.append(verdict.note)
        return Resolved(target, pin.version, rank=float(revision), notes=tuple(notes))

    def _undone_by_ecs(self, target: str, revision: int, observed: Observed) -> str | None:
        """ECS's reason when it rolled ``revision`` back or failed it by itself: from
        ``DescribeServices`` while it lists the failed deployment, then from the deployments
        API, so a restarted controller does not deploy it again. Not asked by the readiness
        check (each of its preflights would cost a read)."""
        if observed.detail.get("rolledBack") == str(revision):
            return observed.detail.get("rolledBackReason", "")
        if checked_ahead() or observed.detail.get("controller", "ECS") != "ECS":
            return None
        spec = self.targets[target]
        deployment = observed.detail.get("primary", "")
        return self.history.undone(spec.cluster, spec.service, revision, deployment)

    def apply(self, target: str, action: Action, progress: Progress) -> Started:
        spec = self.targets[target]
        name = f"{self._family_of(target)}:{action.to_version}"
        if spec.code_deploy is not None:
            service = self._describe(spec.cluster, [spec.service]).get(spec.service)
            if service is not None and _controller(service) == "CODE_DEPLOY":
                arn = self.revisions.current(self._family_of(target), name)["taskDefinitionArn"]
                client = self.clients.client("codedeploy")
                return codedeploy.deploy(client, target, spec, service, arn, name, progress)
        stopped = self.rollouts.roll_back_in_flight(target, int(action.to_version), progress)
        if stopped is not None:
            return {ROLLING_BACK: stopped}
        progress(target, f"update_service {spec.cluster}/{spec.service} -> {name}")
        self._ecs.update_service(
            cluster=spec.cluster, service=spec.service, taskDefinition=name, forceNewDeployment=True
        )
        return NOTHING_STARTED

    def wait(self, target: str, action: Action, waiting: Waiting) -> None:
        want = int(action.to_version)
        if codedeploy.STARTED in waiting.started:
            live = partial(self._revision_now, target)
            codedeploy.wait(self.clients.client("codedeploy"), target, waiting, live)
            return
        self.rollouts.wait(target, want, waiting, early=waiting.gated)

    def settle(self, target: str, action: Action, waiting: Waiting) -> None:
        """After the health gates passed during a deployment's bake time: wait for the rest
        of it (``CLEAN_UP``), so success is recorded once ECS says ``SUCCESSFUL``. A
        CodeDeploy wait already saw its deployment end."""
        if _controller(self._service(target) or {}) == "ECS":
            self.rollouts.wait(target, int(action.to_version), waiting, early=False)

    def _service(self, target: str) -> dict[str, Any] | None:
        spec = self.targets[target]
        return self._describe(spec.cluster, [spec.service]).get(spec.service)

    def _revision_now(self, target: str) -> int:
        return family_revision((self._service(target) or {}).get("taskDefinition", ":0"))[1]

    def verify(self, target: str, action: Action) -> Observed:
        return self.observe([target])[target]

    def versions(self, target: str, limit: int, seen: Observed | None = None) -> list[VersionInfo]:
        """ACTIVE revisions, newest first; ``seen``: the target as just observed."""
        arns = self.revisions.active(self._family_of(target))
        live = (seen or self.observe([target])[target]).live
        result = []
        for arn in arns[:limit]:
            detail = self.revisions.read(arn)
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

    def _family_of(self, target: str) -> str:
        if target not in self._family:
            self.observe([target])
        family = self._family.get(target) or self.targets[target].family
        if not family:
            raise ObserveFailed(f"cannot tell the task-definition family of {target}")
        return family


def _controller_refusal(spec: EcsTarget, controller: str) -> str | None:
    """Why a service's deployment controller stops pinback from deploying it, or None."""
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


def _controller(service: dict[str, Any]) -> str:
    """``ECS`` (rolling), ``CODE_DEPLOY`` (blue/green) or ``EXTERNAL``."""
    return str((service.get("deploymentController") or {}).get("type") or "ECS")


def _unobserved(name: str, error: str) -> Observed:
    return Observed(target=name, kind=Kind.ECS, live=None, error=error)
