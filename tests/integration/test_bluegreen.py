"""Blue/green (CODE_DEPLOY) and EXTERNAL ECS services: rolled back through CodeDeploy, or
blocked with a sentence; never an UpdateService that AWS rejects, never a wait for a
rolling deployment that does not come."""

from __future__ import annotations

import json
from pathlib import Path

from daemon.core.model import Outcome
from daemon.engine.engine import Engine
from daemon.spec import DesiredState
from tests.stands.aws_behaviours import blue_green_deployment, blue_green_rejects_update_service
from tests.stands.service import Aws, Recorder, Service, config_copy

TARGET = """  bg:
    kind: ecs
    cluster: leh-cluster
    service: leh-bg
    timeout: 1m
"""
CODEDEPLOY = "    codeDeploy: {application: leh-bg, deploymentGroup: leh-bg-group}\n"


def blue_green_service(aws: Aws, controller: str = "CODE_DEPLOY") -> None:
    """A second service on the backend's task definitions, deployed by ``controller``, with a
    CodeDeploy application and deployment group for it."""
    aws.client("ecs").create_service(  # type: ignore[attr-defined]
        cluster="leh-cluster",
        serviceName="leh-bg",
        taskDefinition="leh-backend:4",
        desiredCount=2,
        deploymentController={"type": controller},
    )
    codedeploy = aws.client("codedeploy")
    codedeploy.create_application(applicationName="leh-bg", computePlatform="ECS")  # type: ignore[attr-defined]
    codedeploy.create_deployment_group(  # type: ignore[attr-defined]
        applicationName="leh-bg",
        deploymentGroupName="leh-bg-group",
        serviceRoleArn="arn:aws:iam::123456789012:role/codedeploy",
        ecsServices=[{"serviceName": "leh-bg", "clusterName": "leh-cluster"}],
        deploymentStyle={
            "deploymentType": "BLUE_GREEN",
            "deploymentOption": "WITH_TRAFFIC_CONTROL",
        },
    )


def bg_engine(
    service: Service, tmp_path: Path, revision: int, extra: str = ""
) -> tuple[Engine, DesiredState]:
    return service.engine(config_copy(tmp_path, append=TARGET + extra), bg={"revision": revision})


def test_a_blue_green_service_without_codedeploy_config_is_blocked(
    service: Service, aws: Aws, tmp_path: Path
) -> None:
    """Without ``codeDeploy:`` the pin is blocked at preflight with what to set; no
    UpdateService is sent for AWS to reject."""
    blue_green_service(aws)
    blue_green_rejects_update_service(aws.proxy)
    engine, desired = bg_engine(service, tmp_path, 3)
    plan = engine.snapshot(desired).plan
    (action,) = plan.actions
    assert action.blocked is not None
    assert "blue/green (CODE_DEPLOY)" in action.blocked and "codeDeploy:" in action.blocked
    (result,) = engine.apply(plan)
    assert result.outcome is Outcome.BLOCKED
    assert aws.proxy.seen("UpdateService") == 0


def test_an_external_service_is_blocked(service: Service, aws: Aws, tmp_path: Path) -> None:
    blue_green_service(aws, "EXTERNAL")
    engine, desired = bg_engine(service, tmp_path, 3, CODEDEPLOY)
    (action,) = engine.snapshot(desired).plan.actions
    assert action.blocked is not None and "EXTERNAL deployment controller" in action.blocked


def test_a_blue_green_service_at_its_pin_is_in_sync(
    service: Service, aws: Aws, tmp_path: Path
) -> None:
    """No PRIMARY deployment on a CODE_DEPLOY service is not a rollout to wait for."""
    blue_green_service(aws)
    engine, desired = bg_engine(service, tmp_path, 4)
    plan = engine.snapshot(desired).plan
    assert plan.actions == () and "bg" in plan.in_sync


def test_a_rollback_goes_through_codedeploy(service: Service, aws: Aws, tmp_path: Path) -> None:
    """One CodeDeploy deployment whose AppSpec names revision 3, waited on to Succeeded; the
    container and port come from the service's load balancer."""
    blue_green_service(aws)
    blue_green_rejects_update_service(aws.proxy)
    engine, desired = bg_engine(service, tmp_path, 3, CODEDEPLOY)
    plan = engine.snapshot(desired).plan
    blue_green_deployment(aws.proxy, "leh-backend", to=3)
    progress = Recorder()
    (result,) = engine.apply(plan, progress)
    assert result.outcome is Outcome.APPLIED and result.live_after == "3", result.error
    assert aws.proxy.seen("CreateDeployment") == 1 and aws.proxy.seen("UpdateService") == 0
    codedeploy = aws.client("codedeploy")
    (deployment,) = codedeploy.list_deployments()["deployments"]  # type: ignore[attr-defined]
    info = codedeploy.get_deployment(deploymentId=deployment)["deploymentInfo"]  # type: ignore[attr-defined]
    spec = json.loads(info["revision"]["appSpecContent"]["content"])
    properties = spec["Resources"][0]["TargetService"]["Properties"]
    assert properties["TaskDefinition"].endswith("task-definition/leh-backend:3")
    assert properties["LoadBalancerInfo"] == {"ContainerName": "api", "ContainerPort": 8080}
    lines = progress.of("bg")
    assert any("InProgress" in line for line in lines) and any(
        "Succeeded" in line for line in lines
    )


def test_a_failed_codedeploy_deployment_is_held(service: Service, aws: Aws, tmp_path: Path) -> None:
    """CodeDeploy failed the deployment (and rolled back): held with its reason."""
    blue_green_service(aws)
    engine, desired = bg_engine(service, tmp_path, 3, CODEDEPLOY)
    plan = engine.snapshot(desired).plan
    why = "The deployment failed because the AfterAllowTestTraffic hook failed."
    blue_green_deployment(aws.proxy, "leh-backend", to=3, ends="Failed", message=why)
    (result,) = engine.apply(plan)
    assert result.outcome is Outcome.FAILED and result.held
    assert result.error is not None and result.error.endswith(f"failed: {why}")
