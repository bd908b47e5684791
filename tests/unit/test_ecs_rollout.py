"""Where an ECS rollout stands, from ECS's answers as plain values (daemon.drivers.ecs_rollout)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from daemon.drivers.ecs_rollout import Deployment, deployment, rollout

TD = "arn:aws:ecs:ap-northeast-2:123456789012:task-definition/web:{}"


def ecs_deployment(
    status: str, revision: int, state: str, running: int, desired: int = 2
) -> dict[str, Any]:
    return {
        "status": status,
        "taskDefinition": TD.format(revision),
        "rolloutState": state,
        "runningCount": running,
        "desiredCount": desired,
    }


def service(*deployments: dict[str, Any]) -> dict[str, Any]:
    return {"taskDefinition": TD.format(4), "deployments": list(deployments)}


@pytest.mark.parametrize(
    ("deployments", "rolling", "failed"),
    [
        # steady
        ([ecs_deployment("PRIMARY", 4, "COMPLETED", 2)], False, None),
        # a scale event: complete, counts moving
        ([ecs_deployment("PRIMARY", 4, "COMPLETED", 2, desired=4)], False, None),
        # a rollout: the new tasks start beside the old
        (
            [
                ecs_deployment("PRIMARY", 4, "IN_PROGRESS", 1),
                ecs_deployment("ACTIVE", 3, "COMPLETED", 2),
            ],
            True,
            None,
        ),
        # complete, but the old deployment's tasks still drain
        (
            [
                ecs_deployment("PRIMARY", 4, "COMPLETED", 2),
                ecs_deployment("ACTIVE", 3, "COMPLETED", 1),
            ],
            True,
            None,
        ),
        # failed without a rollback: not rolling, failed
        ([ecs_deployment("PRIMARY", 4, "FAILED", 0)], False, "rollout FAILED"),
    ],
)
def test_rollout_from_describe_services(
    deployments: list[dict[str, Any]], rolling: bool, failed: str | None
) -> None:
    state = rollout(service(*deployments))
    assert (state.rolling, state.failed) == (rolling, failed)


def test_a_deployment_ecs_rolled_back_names_the_revision() -> None:
    """The circuit breaker's rollback: the failed deployment is listed beside the new primary."""
    failed = ecs_deployment("ACTIVE", 5, "FAILED", 0)
    failed["rolloutStateReason"] = "tasks failed to start"
    state = rollout(service(ecs_deployment("PRIMARY", 4, "COMPLETED", 2), failed))
    assert (state.rolling, state.rolled_back, state.rolled_back_reason) == (
        False,
        5,
        "tasks failed to start",
    )


def api(status: str, **extra: Any) -> Deployment:
    document = {
        "serviceDeploymentArn": "arn:d",
        "status": status,
        "createdAt": dt.datetime(2026, 12, 2, tzinfo=dt.UTC),
        "targetServiceRevision": {"arn": "rev/5"},
        "sourceServiceRevisions": [{"arn": "rev/4"}],
        **extra,
    }
    return deployment(document, {"rev/5": 5, "rev/4": 4})


@pytest.mark.parametrize(
    ("found", "can_roll_back"),
    [
        (api("IN_PROGRESS"), True),
        (api("PENDING"), True),
        (api("SUCCESSFUL"), False),
        (api("ROLLBACK_IN_PROGRESS"), False),
        (
            api(
                "IN_PROGRESS",
                deploymentConfiguration={"strategy": "BLUE_GREEN"},
                lifecycleStage="BAKE_TIME",
            ),
            True,
        ),
        (
            api(
                "IN_PROGRESS",
                deploymentConfiguration={"strategy": "CANARY"},
                lifecycleStage="CLEAN_UP",
            ),
            False,
        ),
        (
            api(
                "IN_PROGRESS",
                deploymentConfiguration={"strategy": "ROLLING"},
                lifecycleStage="CLEAN_UP",
            ),
            True,
        ),
    ],
)
def test_which_deployments_ecs_can_roll_back(found: Deployment, can_roll_back: bool) -> None:
    """In flight, and for blue/green, linear and canary still before CLEAN_UP (blue up)."""
    assert found.can_roll_back is can_roll_back
    assert (found.target, found.sources) == (5, (4,))


def test_a_rollback_is_ecs_own_verdict_only_when_a_monitor_triggered_it() -> None:
    """A rollback pinback or a person asked for says nothing against the revision."""
    by_breaker = api(
        "ROLLBACK_SUCCESSFUL",
        rollback={"reason": "circuit breaker"},
        deploymentCircuitBreaker={"status": "TRIGGERED"},
    )
    by_alarm = api("ROLLBACK_IN_PROGRESS", alarms={"status": "TRIGGERED"}, statusReason="alarm")
    asked = api("ROLLBACK_SUCCESSFUL", rollback={"reason": "StopServiceDeployment"})
    assert by_breaker.rolled_back_by_ecs == "circuit breaker"
    assert by_alarm.rolled_back_by_ecs == "alarm"
    assert asked.rolled_back_by_ecs is None


def test_a_failure_without_rollback_stays_failed() -> None:
    stopped = api(
        "STOPPED", statusReason="tasks failed", deploymentCircuitBreaker={"status": "TRIGGERED"}
    )
    superseded = api("STOPPED", statusReason="superseded")
    assert stopped.failed == "tasks failed" and superseded.failed is None
    state = rollout(service(ecs_deployment("PRIMARY", 5, "IN_PROGRESS", 0)), stopped)
    assert (state.rolling, state.failed) == (False, "tasks failed")


def test_the_deployments_own_time_and_a_paused_hook() -> None:
    """Bake and step times lengthen a wait; a PAUSE hook is named with what comes next."""
    expires = dt.datetime(2026, 12, 2, 12, 30, tzinfo=dt.UTC)
    paused = api(
        "IN_PROGRESS",
        lifecycleStage="POST_SCALE_UP",
        deploymentConfiguration={
            "strategy": "LINEAR",
            "bakeTimeInMinutes": 10,
            "linearConfiguration": {"stepPercent": 25.0, "stepBakeTimeInMinutes": 2},
        },
        lifecycleHookDetails=[
            {
                "hookId": "h1",
                "targetType": "PAUSE",
                "status": "AWAITING_ACTION",
                "expiresAt": expires,
                "timeoutAction": "ROLLBACK",
            }
        ],
    )
    assert paused.own_time == 60 * (10 + 4 * 2)
    assert paused.line() == (
        "IN_PROGRESS, POST_SCALE_UP, waiting for ContinueServiceDeployment "
        "(hook h1 until 12:30:00Z, then ROLLBACK)"
    )


def test_a_hook_that_failed_into_a_rollback_is_ecs_own_verdict() -> None:
    """A lifecycle hook that failed or timed out (its default action: ROLLBACK) undoes the
    revision as surely as the circuit breaker: the revision is not deployed again."""
    timed_out = api(
        "ROLLBACK_SUCCESSFUL",
        rollback={"reason": "Lifecycle hook timed out"},
        lifecycleHookDetails=[{"hookId": "h", "targetType": "PAUSE", "status": "TIMED_OUT"}],
    )
    assert timed_out.rolled_back_by_ecs == "Lifecycle hook timed out"
