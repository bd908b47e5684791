"""Blue/green ECS services: a rollback is a CodeDeploy deployment, not ``UpdateService``.

An ECS service whose ``deploymentController`` is ``CODE_DEPLOY`` rejects
``UpdateService`` with a new task definition (``InvalidParameterException``); its
deployments are CodeDeploy's, with task sets instead of a PRIMARY deployment
(https://docs.aws.amazon.com/AmazonECS/latest/developerguide/deployment-type-bluegreen.html).
The ECS driver calls these; the I/O of CodeDeploy stays here.

CodeDeploy as it behaves (DESIGN section 13):

- **One deployment at a time per group.** With one still active, a second
  ``CreateDeployment`` fails (``DeploymentLimitExceededException``), so pinback looks first:
  an active deployment to the pinned revision is waited on; one whose original is the
  pinned revision (the pin goes back to where it came from) is stopped with
  ``StopDeployment(autoRollbackEnabled=true)``, which sends traffic back to the original
  task set (https://docs.aws.amazon.com/codedeploy/latest/APIReference/API_StopDeployment.html);
  a pin to a third revision waits for the active one to end.
- **``Ready``** (a group that reroutes traffic by hand) is shown as waiting for
  ``ContinueDeployment``, and waited on while CodeDeploy's own wait time runs (it stops the
  deployment at its end), never timed out by pinback.
- **The termination wait**: once traffic is rerouted the deployment stays ``InProgress``
  while the original task set is kept (``instanceTerminationWaitTimeStarted``); the change
  has taken then, so the wait ends there (``Succeeded`` comes hours later).
- **The AppSpec keeps the group's hooks**: a new deployment reuses the ``Hooks`` and target
  properties of the group's last successful deployment, with the pinned task definition.
  ``GetDeployment`` never returns an AppSpec's content (botocore's model: "always null");
  it is read with ``GetApplicationRevision`` by its ``sha256``. ``ListDeployments`` names no
  order, so the newest is found by ``createTime``.
- **A termination wait a new pin would sit behind** is ended
  (``ContinueDeployment(deploymentWaitType=TERMINATION_WAIT)``) rather than waited out.

A deployment that CodeDeploy fails or stops by itself is held: retrying the same pin would
only repeat it.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from typing import Any

from daemon.drivers.base import Progress, Started, Waiting, wait_until
from daemon.errors import ApplyFailed, Held, Refused
from daemon.spec import CodeDeploySettings, EcsTarget

STARTED = "codeDeployment"  # what wait watches (Started)
BACK_TO = "codeDeployBackTo"  # set when pinback stopped the deployment to go back (Started)
DONE = "Succeeded"
GIVEN_UP = ("Failed", "Stopped")
ACTIVE = ["Created", "Queued", "InProgress", "Ready", "Baking"]
READY_GRACE = 60.0  # seconds a Ready deployment keeps the wait's deadline ahead


def revision_of(task_definition: str) -> int:
    return int(task_definition.rsplit(":", 1)[1])


def appspec(
    task_definition_arn: str, container: str, port: int, last: dict[str, Any] | None = None
) -> str:
    """The AppSpec of an ECS deployment to ``task_definition_arn``: the group's last
    successful one's (hooks, network, platform) with the task definition replaced, else a
    minimal one
    (https://docs.aws.amazon.com/codedeploy/latest/userguide/reference-appspec-file-structure-resources.html)."""
    if last is not None:
        try:
            properties = last["Resources"][0]["TargetService"]["Properties"]
        except (KeyError, IndexError, TypeError):
            last = None
        else:
            properties["TaskDefinition"] = task_definition_arn
            return json.dumps(last)
    return json.dumps(
        {
            "version": 0.0,
            "Resources": [
                {
                    "TargetService": {
                        "Type": "AWS::ECS::Service",
                        "Properties": {
                            "TaskDefinition": task_definition_arn,
                            "LoadBalancerInfo": {"ContainerName": container, "ContainerPort": port},
                        },
                    }
                }
            ],
        }
    )


def deploy(
    codedeploy: Any,
    target: str,
    spec: EcsTarget,
    service: dict[str, Any],
    task_definition_arn: str,
    name: str,
    progress: Progress,
) -> Started:
    """Roll ``spec``'s service to ``task_definition_arn`` (``name``) through CodeDeploy."""
    settings = spec.code_deploy
    assert settings is not None
    where = f"{settings.application}/{settings.deployment_group}"
    want = revision_of(task_definition_arn)
    active = _active(codedeploy, settings)
    if active is not None:
        ident, info = active
        going_to = _target_of(codedeploy, settings, info)
        if going_to == want:
            progress(target, f"CodeDeploy deployment {ident} of {where} already goes to {name}")
            return {STARTED: ident}
        if going_to is not None and want in _task_sets(service, going_to):
            progress(target, f"StopDeployment {ident} of {where} with its rollback: back to {name}")
            codedeploy.stop_deployment(deploymentId=ident, autoRollbackEnabled=True)
            return {STARTED: ident, BACK_TO: str(want)}
        if info.get("instanceTerminationWaitTimeStarted"):
            progress(target, f"ending the termination wait of CodeDeploy deployment {ident}")
            codedeploy.continue_deployment(
                deploymentId=ident, deploymentWaitType="TERMINATION_WAIT"
            )
            raise ApplyFailed(
                f"ended the termination wait of CodeDeploy deployment {ident} of {where} so "
                f"the pin to {name} can deploy; it follows at the next try"
            )
        raise ApplyFailed(
            f"CodeDeploy deployment {ident} of {where} (to revision {going_to}) is still "
            f"{info.get('status')}; the pin to {name} waits for it to end"
        )
    progress(target, f"CodeDeploy deployment of {where} -> {name}")
    description = f"pinback: {spec.service} -> {name}"
    return {STARTED: start(codedeploy, settings, service, task_definition_arn, description)}


def observe_active(
    codedeploy: Any, settings: CodeDeploySettings, live: int
) -> tuple[str | None, str | None]:
    """(in progress, moving elsewhere) for a service whose group has a deployment running:
    its status line, and, when it goes to another revision than the live one, that in words
    (the live revision is then not what the service is becoming)."""
    active = _active(codedeploy, settings)
    if active is None:
        return None, None
    ident, info = active
    if info.get("instanceTerminationWaitTimeStarted"):
        return None, None  # traffic rerouted: the change has taken
    going_to = _target_of(codedeploy, settings, info)
    status = info.get("status")
    line = f"CodeDeploy {ident} {status}"
    if going_to is not None and going_to != live:
        return (
            line,
            f"CodeDeploy deployment {ident} ({status}) is moving the service to revision {going_to}",
        )
    return line, None


def wait(codedeploy: Any, target: str, waiting: Waiting, live: Callable[[], int]) -> None:
    """Until the deployment ``deploy`` started (or stopped to go back) has done its part;
    ``Held`` once CodeDeploy gave it up by itself. ``live()``: the service's revision now."""
    deployment = waiting.started[STARTED]
    back_to = waiting.started.get(BACK_TO)
    deadline = [waiting.deadline]

    def check() -> tuple[bool, str]:
        info = codedeploy.get_deployment(deploymentId=deployment)["deploymentInfo"]
        status = str(info.get("status", "Created"))
        if back_to is not None:  # pinback stopped it to go back
            done = status in GIVEN_UP and str(live()) == back_to
            return done, f"CodeDeploy {deployment} {status}, rolling back to revision {back_to}"
        if status == "Ready":  # CodeDeploy's own wait time ends it, not ours
            deadline[0] = max(deadline[0], time.monotonic() + READY_GRACE)
        return state_of(deployment, info)

    wait_until(check, target, "CodeDeploy deployment", waiting, deadline=lambda: deadline[0])


def state_of(deployment: str, info: dict[str, Any]) -> tuple[bool, str]:
    """(done, status line) of a deployment pinback made; ``Held`` once given up."""
    status = str(info.get("status", "Created"))
    if status in GIVEN_UP:
        why = (info.get("errorInformation") or {}).get("message") or "no reason given"
        raise Held(f"CodeDeploy deployment {deployment} {status.lower()}: {why}")
    if status == "Ready":
        return False, (
            f"CodeDeploy {deployment} Ready: green is up, waiting for traffic to be rerouted "
            "(ContinueDeployment), or for the group's wait time to end"
        )
    if status == "InProgress" and info.get("instanceTerminationWaitTimeStarted"):
        return True, (
            f"CodeDeploy {deployment}: traffic rerouted; the original task set is kept for "
            "the termination wait"
        )
    return status == DONE, f"CodeDeploy {deployment} {status}"


def start(
    codedeploy: Any,
    settings: CodeDeploySettings,
    service: dict[str, Any],
    task_definition_arn: str,
    description: str,
) -> str:
    """Create the deployment; returns its id. The container and port come from the config,
    else from the service's load balancer (a blue/green service always has one)."""
    balancers = service.get("loadBalancers") or [{}]
    container = settings.container_name or balancers[0].get("containerName")
    port = settings.container_port or balancers[0].get("containerPort")
    if not container or not port:
        raise Refused(
            f"ECS service {service.get('serviceName')} has no load balancer to name the "
            "container and port: set codeDeploy.containerName and containerPort"
        )
    last = _last_appspec(codedeploy, settings)
    content = appspec(task_definition_arn, container, int(port), last)
    answer = codedeploy.create_deployment(
        applicationName=settings.application,
        deploymentGroupName=settings.deployment_group,
        description=description,
        revision={"revisionType": "AppSpecContent", "appSpecContent": {"content": content}},
    )
    return str(answer["deploymentId"])


def _active(codedeploy: Any, settings: CodeDeploySettings) -> tuple[str, dict[str, Any]] | None:
    """The group's deployment still running, with its description, or None."""
    found = codedeploy.list_deployments(
        applicationName=settings.application,
        deploymentGroupName=settings.deployment_group,
        includeOnlyStatuses=ACTIVE,
    ).get("deployments", [])
    if not found:
        return None
    ident = str(found[0])
    return ident, codedeploy.get_deployment(deploymentId=ident)["deploymentInfo"]


def _last_appspec(codedeploy: Any, settings: CodeDeploySettings) -> dict[str, Any] | None:
    """The AppSpec of the group's newest successful deployment (of the last 90 days), when
    it was given as content; ListDeployments promises no order, so by ``createTime``."""
    ids: list[str] = []
    since = dt.datetime.now(dt.UTC) - dt.timedelta(days=90)
    for page in codedeploy.get_paginator("list_deployments").paginate(
        applicationName=settings.application,
        deploymentGroupName=settings.deployment_group,
        includeOnlyStatuses=["Succeeded"],
        createTimeRange={"start": since},
    ):
        ids.extend(page.get("deployments", []))
    infos: list[dict[str, Any]] = []
    for start in range(0, len(ids), 25):  # BatchGetDeployments takes 25
        answer = codedeploy.batch_get_deployments(deploymentIds=ids[start : start + 25])
        infos.extend(answer.get("deploymentsInfo", []))
    if not infos:
        return None
    newest = max(infos, key=lambda i: _timestamp(i.get("createTime")))
    return _content(codedeploy, settings, newest)


def _timestamp(value: Any) -> float:
    if isinstance(value, dt.datetime):
        return value.timestamp()
    return float(value or 0)


def _content(
    codedeploy: Any, settings: CodeDeploySettings, info: dict[str, Any]
) -> dict[str, Any] | None:
    """A deployment's AppSpec as a document: ``GetDeployment`` gives only its ``sha256``,
    ``GetApplicationRevision`` the content. None for an S3 or YAML AppSpec."""
    revision = info.get("revision") or {}
    kind = "appSpecContent" if "appSpecContent" in revision else "string"
    given = revision.get(kind) or {}
    text = given.get("content")
    if not text and given.get("sha256"):
        found = codedeploy.get_application_revision(
            applicationName=settings.application,
            revision={
                "revisionType": "AppSpecContent" if kind == "appSpecContent" else "String",
                kind: {"sha256": given["sha256"]},
            },
        )
        text = ((found.get("revision") or {}).get(kind) or {}).get("content")
    if not text:
        return None
    try:
        parsed = json.loads(text)
    except ValueError:  # a YAML AppSpec is not rewritten: the minimal one is used
        return None
    return parsed if isinstance(parsed, dict) else None


def _target_of(codedeploy: Any, settings: CodeDeploySettings, info: dict[str, Any]) -> int | None:
    """The task-definition revision a deployment goes to, from its AppSpec."""
    content = _content(codedeploy, settings, info) or {}
    try:
        arn = content["Resources"][0]["TargetService"]["Properties"]["TaskDefinition"]
    except (KeyError, IndexError, TypeError):
        return None
    return revision_of(str(arn)) if arn else None


def _task_sets(service: dict[str, Any], going_to: int | None) -> set[int]:
    """The revisions the service still runs besides the one being deployed: where a stop
    with rollback goes back to."""
    runs = {
        revision_of(s["taskDefinition"])
        for s in service.get("taskSets") or []
        if s.get("taskDefinition")
    }
    runs.add(revision_of(service["taskDefinition"]))
    if going_to is not None:
        runs.discard(going_to)
    return runs
