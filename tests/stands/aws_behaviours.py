"""What AWS does that moto does not model, played through the fault proxy.

Each function arms proxy rules that rewrite moto's answers the way AWS answers in that
situation, and names the AWS documentation page it follows. The product code under test
sees real HTTP answers, parsed by botocore, exactly as it would from AWS.
"""

from __future__ import annotations

from daemon.devtools import sandbox
from tests.stands.fault_proxy import FaultProxy

CIRCUIT_BREAKER_REASON = "ECS deployment circuit breaker: tasks failed to start."


def task_definition_arn(family: str, revision: int) -> str:
    return f"arn:aws:ecs:{sandbox.REGION}:123456789012:task-definition/{family}:{revision}"


def circuit_breaker_rollback(
    proxy: FaultProxy, family: str, failed: int, back_to: int, after: str = "UpdateService"
) -> None:
    """From the next ``UpdateService`` on, every ``DescribeServices`` shows what ECS shows once
    the deployment circuit breaker has rolled a failed deployment back: the service on the
    previous revision under a new PRIMARY deployment, and the failed deployment with
    ``rolloutState: FAILED`` and its ``rolloutStateReason``.

    https://docs.aws.amazon.com/AmazonECS/latest/developerguide/deployment-circuit-breaker.html
    """
    proxy.add(
        "DescribeServices",
        "rewrite",
        count=-1,
        after=after,
        set={
            "services.*.taskDefinition": task_definition_arn(family, back_to),
            "services.*.deployments": [
                {
                    "id": "ecs-svc/rollback",
                    "status": "PRIMARY",
                    "taskDefinition": task_definition_arn(family, back_to),
                    "rolloutState": "COMPLETED",
                    "rolloutStateReason": "ECS deployment ecs-svc/rollback completed.",
                    "desiredCount": 2,
                    "runningCount": 2,
                },
                {
                    "id": "ecs-svc/failed",
                    "status": "ACTIVE",
                    "taskDefinition": task_definition_arn(family, failed),
                    "rolloutState": "FAILED",
                    "rolloutStateReason": CIRCUIT_BREAKER_REASON,
                    "desiredCount": 0,
                    "runningCount": 0,
                    "failedTasks": 2,
                },
            ],
        },
    )


def blue_green_rejects_update_service(proxy: FaultProxy) -> None:
    """ECS refuses ``UpdateService`` with a task definition on a ``CODE_DEPLOY`` service
    (moto accepts it): https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_UpdateService.html
    ("If the service uses the CodeDeploy deployment controller, only ... can be updated")."""
    proxy.add(
        "UpdateService",
        "answer",
        count=-1,
        error="InvalidParameterException",
        message="Unable to update task definition on services with a CODE_DEPLOY deployment controller. Use AWS CodeDeploy to trigger a new deployment.",
    )


LOAD_BALANCER = {
    "targetGroupArn": "arn:aws:elasticloadbalancing:ap-northeast-2:123456789012:targetgroup/blue/1",
    "containerName": "api",
    "containerPort": 8080,
}


def blue_green_deployment(
    proxy: FaultProxy, family: str, to: int, ends: str = "Succeeded", message: str = ""
) -> None:
    """What a blue/green service shows that moto does not: its load balancer on every
    ``DescribeServices``, a CodeDeploy deployment that goes ``InProgress`` twice and then
    ``ends`` (moto leaves it ``Created``), and, once the deployment was created, the service on
    the new task definition (CodeDeploy's green task set made primary).

    https://docs.aws.amazon.com/codedeploy/latest/APIReference/API_DeploymentInfo.html
    """
    proxy.add(
        "DescribeServices",
        "rewrite",
        count=-1,
        after="CreateDeployment",
        set={
            "services.*.loadBalancers": [LOAD_BALANCER],
            **(
                {"services.*.taskDefinition": task_definition_arn(family, to)}
                if ends == "Succeeded"
                else {}
            ),
        },
    )
    proxy.add(
        "DescribeServices", "rewrite", count=-1, set={"services.*.loadBalancers": [LOAD_BALANCER]}
    )
    proxy.add("GetDeployment", "rewrite", count=2, set={"deploymentInfo.status": "InProgress"})
    proxy.add(
        "GetDeployment",
        "rewrite",
        count=-1,
        set={
            "deploymentInfo.status": ends,
            "deploymentInfo.errorInformation": {"message": message},
        },
    )
