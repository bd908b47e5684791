"""Blue/green ECS services: a rollback is a CodeDeploy deployment, not ``UpdateService``.

An ECS service whose ``deploymentController`` is ``CODE_DEPLOY`` rejects
``UpdateService`` with a new task definition (``InvalidParameterException``); its
deployments are CodeDeploy's, with task sets instead of a PRIMARY deployment
(https://docs.aws.amazon.com/AmazonECS/latest/developerguide/deployment-type-bluegreen.html).
pinback creates a deployment of the configured application and group whose AppSpec names
the pinned task definition, and waits on it like a rolling deployment. A deployment that
CodeDeploy fails or stops (its own rollback, a failed hook, a person pressing Stop) is
held: retrying the same pin would only repeat it. The ECS driver calls these; the I/O of
CodeDeploy stays here.
"""

from __future__ import annotations

import json
from typing import Any

from daemon.drivers.base import Progress, Started, Waiting, wait_until
from daemon.errors import Held, Refused
from daemon.spec import CodeDeploySettings, EcsTarget

STARTED = "codeDeployment"  # what wait watches (Started)
DONE = "Succeeded"
GIVEN_UP = ("Failed", "Stopped")


def appspec(task_definition_arn: str, container: str, port: int) -> str:
    """The AppSpec of an ECS deployment to ``task_definition_arn``
    (https://docs.aws.amazon.com/codedeploy/latest/userguide/reference-appspec-file-structure-resources.html)."""
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
    progress(target, f"CodeDeploy deployment of {where} -> {name}")
    description = f"pinback: {spec.service} -> {name}"
    deployment = start(codedeploy, settings, service, task_definition_arn, description)
    return {STARTED: deployment}


def wait(codedeploy: Any, target: str, waiting: Waiting) -> None:
    """Until the deployment ``deploy`` started has succeeded (``Held`` once given up)."""
    deployment = waiting.started[STARTED]
    wait_until(lambda: state(codedeploy, deployment), target, "CodeDeploy deployment", waiting)


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
    answer = codedeploy.create_deployment(
        applicationName=settings.application,
        deploymentGroupName=settings.deployment_group,
        description=description,
        revision={
            "revisionType": "AppSpecContent",
            "appSpecContent": {"content": appspec(task_definition_arn, container, int(port))},
        },
    )
    return str(answer["deploymentId"])


def state(codedeploy: Any, deployment: str) -> tuple[bool, str]:
    """(done, status line) of the deployment; ``Held`` once CodeDeploy gave it up."""
    info = codedeploy.get_deployment(deploymentId=deployment)["deploymentInfo"]
    status = str(info.get("status", "Created"))
    if status in GIVEN_UP:
        why = (info.get("errorInformation") or {}).get("message") or "no reason given"
        raise Held(f"CodeDeploy deployment {deployment} {status.lower()}: {why}")
    return status == DONE, f"CodeDeploy {deployment} {status}"
