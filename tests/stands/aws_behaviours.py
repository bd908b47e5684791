"""What AWS does that moto does not model, played through the fault proxy.

Each function arms proxy rules that rewrite moto's answers the way AWS answers in that
situation, and names the AWS documentation page it follows. The product code under test
sees real HTTP answers, parsed by botocore, exactly as it would from AWS.
"""

from __future__ import annotations

from daemon import sandbox
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
