"""Blue/green (CODE_DEPLOY) services against CodeDeploy as it runs
(``tests.stands.realistic.codedeploy``): Ready waiting for a manual reroute, the original
task set's termination wait, one active deployment per group, a stop with rollback, and
the group's lifecycle hooks kept in the AppSpec."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from daemon.core.model import Outcome
from daemon.devtools import sandbox
from tests.integration.test_bluegreen import CODEDEPLOY, TARGET, blue_green_service
from tests.stands.realistic.codedeploy import CodeDeployWorld, Timing
from tests.stands.service import Aws, Recorder, Service, config_copy
from tests.stands.waiting import eventually

GROUP = {"applicationName": "leh-bg", "deploymentGroupName": "leh-bg-group"}
TD = "arn:aws:ecs:ap-northeast-2:123456789012:task-definition/leh-backend:{}"


def codedeploy(aws: Aws, **options: object) -> CodeDeployWorld:
    blue_green_service(aws)
    world = aws.proxy.add_world(CodeDeployWorld())
    assert isinstance(world, CodeDeployWorld)
    world.animate("leh-bg", "leh-bg-group", "leh-cluster", "leh-bg", "leh-backend:4", **options)  # type: ignore[arg-type]
    return world


def engine_for(service: Service, tmp_path: Path, revision: int, timeout: str = "1m"):  # type: ignore[no-untyped-def]
    target = TARGET.replace("timeout: 1m", f"timeout: {timeout}") + CODEDEPLOY
    return service.engine(config_copy(tmp_path, append=target), bg={"revision": revision})


def someone_deploys(aws: Aws, revision: int, hooks: list[dict[str, str]] | None = None) -> str:
    """A deployment CI (or a person) started, through the same CodeDeploy."""
    content: dict[str, object] = {
        "version": 0.0,
        "Resources": [
            {
                "TargetService": {
                    "Type": "AWS::ECS::Service",
                    "Properties": {
                        "TaskDefinition": TD.format(revision),
                        "LoadBalancerInfo": {"ContainerName": "api", "ContainerPort": 8080},
                    },
                }
            }
        ],
    }
    if hooks:
        content["Hooks"] = hooks
    answer = sandbox.client(aws.endpoint, "codedeploy").create_deployment(
        **GROUP,
        revision={
            "revisionType": "AppSpecContent",
            "appSpecContent": {"content": json.dumps(content)},
        },
    )
    return str(answer["deploymentId"])


def live(aws: Aws) -> str:
    ecs = sandbox.client(aws.endpoint, "ecs")
    return str(
        ecs.describe_services(cluster="leh-cluster", services=["leh-bg"])["services"][0][
            "taskDefinition"
        ]
    )


def test_ready_is_shown_and_waited_on_past_the_timeout(
    service: Service, aws: Aws, tmp_path: Path
) -> None:
    """The group reroutes traffic by hand: the deployment waits in Ready for
    ContinueDeployment. pinback says so and keeps waiting (CodeDeploy's own wait time ends
    it), past the target's 1 s timeout, then finishes once traffic is rerouted."""
    world = codedeploy(aws, manual=True, timing=Timing(install=0.2))
    engine, desired = engine_for(service, tmp_path, 3, timeout="1s")
    progress = Recorder()

    def a_person_reroutes() -> None:
        eventually(lambda: any("Ready" in m for m in progress.of("bg")), timeout=15, what="Ready")
        eventually(lambda: world.created, timeout=5, what="the deployment")
        ident = world.groups["leh-bg-group"].deployments[-1].ident
        eventually(lambda: len(progress.of("bg")) > 3, timeout=15, what="more waiting")
        sandbox.client(aws.endpoint, "codedeploy").continue_deployment(deploymentId=ident)

    person = threading.Thread(target=a_person_reroutes)
    person.start()
    (result,) = engine.apply(engine.snapshot(desired).plan, progress)
    person.join()
    assert result.outcome is Outcome.APPLIED, result.error
    assert any("waiting for traffic to be rerouted" in m for m in progress.of("bg"))


def test_the_termination_wait_does_not_hold_the_rollback_up(
    service: Service, aws: Aws, tmp_path: Path
) -> None:
    """Once traffic is rerouted the original task set is kept for an hour; the rollback has
    taken then and is done, not waited on for the hour (timeout 5 s here)."""
    codedeploy(aws, timing=Timing(install=0.3, termination=3600))
    engine, desired = engine_for(service, tmp_path, 3, timeout="5s")
    (result,) = engine.apply(engine.snapshot(desired).plan)
    assert result.outcome is Outcome.APPLIED and result.live_after == "3", result.error


def test_going_back_while_a_deployment_is_active_stops_it_with_its_rollback(
    service: Service, aws: Aws, tmp_path: Path
) -> None:
    """CI started a deployment to 3 (before its reroute); the pin says 4, where it came
    from: pinback stops it with StopDeployment(autoRollbackEnabled=true), creates nothing,
    and the service stays on 4."""
    world = codedeploy(aws, timing=Timing(install=30.0))
    someone_deploys(aws, 3)
    engine, desired = engine_for(service, tmp_path, 4)
    plan = engine.snapshot(desired).plan
    (action,) = plan.actions
    assert any("moving the service to revision 3" in n for n in action.notes), action.notes
    (result,) = engine.apply(plan)
    assert result.outcome is Outcome.APPLIED and result.live_after == "4", result.error
    assert [s.get("autoRollbackEnabled") for s in world.stops] == [True]
    assert len(world.created) == 1 and world.refused == 0


def test_going_back_in_the_termination_wait_stops_it_with_its_rollback(
    service: Service, aws: Aws, tmp_path: Path
) -> None:
    """Traffic was rerouted to 3; the original task set (4) still runs: pinning 4 stops the
    deployment with its rollback, which sends traffic back to 4."""
    world = codedeploy(aws, timing=Timing(install=0.2, termination=3600))
    someone_deploys(aws, 3)
    eventually(lambda: live(aws).endswith(":3"), timeout=10, what="the reroute")
    engine, desired = engine_for(service, tmp_path, 4)
    (result,) = engine.apply(engine.snapshot(desired).plan)
    assert result.outcome is Outcome.APPLIED and result.live_after == "4", result.error
    assert [s.get("autoRollbackEnabled") for s in world.stops] == [True]
    assert world.refused == 0


def test_a_pin_to_a_third_revision_waits_for_the_active_deployment(
    service: Service, aws: Aws, tmp_path: Path
) -> None:
    """A deployment to 3 is active; the pin says 2: pinback does not send a CreateDeployment
    that CodeDeploy refuses (DeploymentLimitExceededException) but says it waits."""
    world = codedeploy(aws, timing=Timing(install=30.0))
    someone_deploys(aws, 3)
    engine, desired = engine_for(service, tmp_path, 2)
    (result,) = engine.apply(engine.snapshot(desired).plan)
    assert result.outcome is Outcome.FAILED and not result.held
    assert result.error is not None and "waits for it to end" in result.error
    assert world.refused == 0 and len(world.created) == 1


def test_the_appspec_keeps_the_groups_lifecycle_hooks(
    service: Service, aws: Aws, tmp_path: Path
) -> None:
    """The group's last deployment ran with BeforeAllowTraffic and AfterAllowTraffic hooks:
    pinback's rollback keeps them, with the pinned task definition."""
    world = codedeploy(aws, timing=Timing(install=0.1, termination=0.1))
    hooks = [{"BeforeAllowTraffic": "leh-smoke-test"}, {"AfterAllowTraffic": "leh-notify"}]
    someone_deploys(aws, 4, hooks)
    group = world.groups["leh-bg-group"]
    eventually(
        lambda: (world._serving(group), group.deployments[-1].status == "Succeeded")[1],
        timeout=10,
        what="the first deployment to succeed",
    )
    engine, desired = engine_for(service, tmp_path, 3)
    (result,) = engine.apply(engine.snapshot(desired).plan)
    assert result.outcome is Outcome.APPLIED, result.error
    sent = json.loads(world.created[-1]["revision"]["appSpecContent"]["content"])
    assert sent["Hooks"] == hooks
    assert sent["Resources"][0]["TargetService"]["Properties"]["TaskDefinition"].endswith(":3")


def test_a_third_revision_ends_a_termination_wait_instead_of_waiting_it_out(
    service: Service, aws: Aws, tmp_path: Path
) -> None:
    """Traffic went to 3 and the original task set is kept for an hour; the pin says 2: the
    termination wait is ended (ContinueDeployment TERMINATION_WAIT) and 2 is deployed on the
    next try, rather than waiting an hour behind it."""
    world = codedeploy(aws, timing=Timing(install=0.2, termination=3600))
    someone_deploys(aws, 3)
    eventually(lambda: live(aws).endswith(":3"), timeout=10, what="the reroute")
    engine, desired = engine_for(service, tmp_path, 2, timeout="5s")
    (first,) = engine.apply(engine.snapshot(desired).plan)
    assert first.outcome is Outcome.FAILED and "ended the termination wait" in (first.error or "")
    assert len(world.ended_waits) == 1
    (second,) = engine.apply(engine.snapshot(desired).plan)
    assert second.outcome is Outcome.APPLIED and second.live_after == "2", second.error
    assert world.refused == 0
