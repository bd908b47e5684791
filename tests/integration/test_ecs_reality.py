"""The ECS driver against ECS as it behaves in time (``tests.stands.realistic.ecs``): rollouts
that take seconds, the service deployments API, ECS's own rollback, blue/green bake time, a
paused lifecycle hook, the circuit breaker, and scale events."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from daemon.core.model import Outcome
from daemon.devtools import sandbox
from daemon.engine.engine import Engine
from tests.stands.realistic.ecs import CIRCUIT_BREAKER_REASON, EcsWorld, Pause, Timing
from tests.stands.service import Aws, Recorder, Service, config_copy, health_alarm
from tests.stands.waiting import eventually

CLUSTER, SERVICE = "leh-cluster", "leh-backend"


def world(aws: Aws, **options: object) -> EcsWorld:
    """ECS in time for the seeded backend (on revision 4)."""
    ecs = aws.proxy.add_world(EcsWorld())
    assert isinstance(ecs, EcsWorld)
    ecs.animate(CLUSTER, SERVICE, 4, **options)  # type: ignore[arg-type]
    return ecs


def deploy_elsewhere(aws: Aws, revision: int) -> None:
    """A deployment someone else started (CI, the console), through the same ECS."""
    sandbox.client(aws.endpoint, "ecs").update_service(
        cluster=CLUSTER, service=SERVICE, taskDefinition=f"{SERVICE}:{revision}"
    )


def listed_deployments(aws: Aws) -> list[dict[str, object]]:
    """The deployments DescribeServices lists for the backend now."""
    ecs = sandbox.client(aws.endpoint, "ecs")
    answer = ecs.describe_services(cluster=CLUSTER, services=[SERVICE])
    return list(answer["services"][0]["deployments"])


def stage_reached(ecs: EcsWorld, stage: str) -> bool:
    return ecs.deployments(CLUSTER, SERVICE)[-1].stage == stage


def test_going_back_to_an_in_flight_deployments_source_is_ecs_own_rollback(
    service: Service, aws: Aws
) -> None:
    """Revision 3 is rolling out over 4 (someone deployed it) when the pin says 4: pinback stops the
    deployment with ``StopServiceDeployment(stopType=ROLLBACK)`` (4's tasks still run) and
    waits for ``ROLLBACK_SUCCESSFUL``; no new deployment is started
    (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/stop-service-deployment.html)."""
    ecs = world(aws, timing=Timing(start=3.0, drain=1.0))
    deploy_elsewhere(aws, 3)
    engine, desired = service.engine(backend=4)
    (action,) = engine.snapshot(desired).plan.actions
    assert (action.from_version, action.to_version) == ("3", "4")
    before = aws.proxy.seen("UpdateService")
    progress = Recorder()
    started = time.monotonic()
    (result,) = engine.apply(engine.snapshot(desired).plan, progress)
    took = time.monotonic() - started
    assert result.outcome is Outcome.APPLIED and result.live_after == "4", result.error
    assert aws.proxy.seen("StopServiceDeployment") == 1
    assert aws.proxy.seen("UpdateService") == before
    assert ecs.deployments(CLUSTER, SERVICE)[-1].status == "ROLLBACK_SUCCESSFUL"
    assert any("ROLLBACK_SUCCESSFUL" in line for line in progress.of("backend"))
    assert took < 3.0 + 1.0  # a new deployment would start 4's tasks again, then drain 3's


def test_a_blue_green_rollback_in_bake_time_is_a_traffic_flip(service: Service, aws: Aws) -> None:
    """On ECS's native blue/green strategy, a rollback while the deployment bakes shifts
    traffic back to blue, which still runs: seconds, not a new deployment
    (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/blue-green-deployment-how-it-works.html)."""
    timing = Timing(start=0.5, drain=1.0, shift=0.3, minute=20.0)
    ecs = world(aws, strategy="BLUE_GREEN", bake_minutes=1, timing=timing)
    deploy_elsewhere(aws, 3)
    eventually(lambda: stage_reached(ecs, "BAKE_TIME"), timeout=10, what="BAKE_TIME")
    engine, desired = service.engine(backend=4)
    started = time.monotonic()
    (result,) = engine.apply(engine.snapshot(desired).plan)
    took = time.monotonic() - started
    assert result.outcome is Outcome.APPLIED and result.live_after == "4", result.error
    assert aws.proxy.seen("StopServiceDeployment") == 1
    assert took < 3.0, took


def test_a_bake_time_longer_than_the_timeout_is_waited_through(
    service: Service, aws: Aws, tmp_path: Path
) -> None:
    """A blue/green deployment bakes for ``bakeTimeInMinutes``; pinback's wait lasts at
    least that plus the target's timeout (2 s here, shorter than the bake), and says which
    lifecycle stage it is in."""
    timing = Timing(start=0.3, drain=0.3, shift=0.2, minute=3.0)
    world(aws, strategy="BLUE_GREEN", bake_minutes=1, timing=timing)
    config = config_copy(tmp_path, {"timeout: 15m": "timeout: 2s"})
    engine, desired = service.engine(config, backend=3)
    progress = Recorder()
    (result,) = engine.apply(engine.snapshot(desired).plan, progress)
    assert result.outcome is Outcome.APPLIED and result.live_after == "3", result.error
    lines = progress.of("backend")
    assert any("BAKE_TIME" in line for line in lines), lines
    assert any("SUCCESSFUL" in line for line in lines), lines


def test_a_paused_lifecycle_hook_is_shown_and_waited_on(
    service: Service, aws: Aws, tmp_path: Path
) -> None:
    """A ``PAUSE`` hook holds the deployment until someone calls
    ``ContinueServiceDeployment``: the wait says so, with the hook's timeout, and goes past
    the target's own timeout while the hook has time left
    (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_ContinueServiceDeployment.html)."""
    timing = Timing(start=0.3, drain=0.3, shift=0.2, minute=1.0)
    ecs = world(aws, strategy="BLUE_GREEN", timing=timing, pauses=[Pause("POST_SCALE_UP", 30)])
    config = config_copy(tmp_path, {"timeout: 15m": "timeout: 1s"})
    engine, desired = service.engine(config, backend=3)
    progress = Recorder()

    def a_person_continues() -> None:
        eventually(
            lambda: any("ContinueServiceDeployment" in m for m in progress.of("backend")),
            timeout=10,
            what="the hook shown",
        )
        time.sleep(1.5)  # past the target's timeout: the hook's own timeout is what counts
        deployment = ecs.deployments(CLUSTER, SERVICE)[-1]
        assert deployment.hook is not None
        sandbox.client(aws.endpoint, "ecs").continue_service_deployment(
            serviceDeploymentArn=deployment.arn, hookId=deployment.hook["hookId"], action="CONTINUE"
        )

    person = threading.Thread(target=a_person_continues)
    person.start()
    (result,) = engine.apply(engine.snapshot(desired).plan, progress)
    person.join()
    assert result.outcome is Outcome.APPLIED, result.error
    shown = next(m for m in progress.of("backend") if "ContinueServiceDeployment" in m)
    assert "POST_SCALE_UP" in shown and "then ROLLBACK" in shown


def test_a_scale_event_is_not_a_rollout(service: Service, aws: Aws) -> None:
    """Autoscaling took the service from 2 to 4 tasks and 2 still start: the deployment is
    COMPLETED, so the target is in sync, with nothing to wait on, gate or revert."""
    ecs = world(aws)
    ecs.scale(CLUSTER, SERVICE, running=2, desired=4)
    engine, desired = service.engine(backend=4)
    plan = engine.snapshot(desired).plan
    assert plan.actions == () and plan.in_sync == ("backend",)


def test_a_failed_rollout_stays_failed(service: Service, aws: Aws) -> None:
    """The circuit breaker (without rollback) fails revision 3's deployment: the apply is
    held with ECS's reason, and the next pass does not call the target in sync, although
    the service is on 3: it is held, with drift, until the pin changes."""
    world(aws, bad=[3], circuit_breaker=(True, False), timing=Timing(fail=0.5))
    engine, desired = service.engine(backend=3)
    (result,) = engine.apply(engine.snapshot(desired).plan)
    assert result.outcome is Outcome.FAILED and result.held
    assert result.error == f"ECS deployment failed: {CIRCUIT_BREAKER_REASON}"
    plan = engine.snapshot(desired).plan
    assert plan.in_sync == ()
    (action,) = plan.actions
    assert action.held and action.blocked is not None and CIRCUIT_BREAKER_REASON in action.blocked
    assert not action.wait_only


def test_a_revision_ecs_rolled_back_stays_held_after_a_restart(service: Service, aws: Aws) -> None:
    """The circuit breaker rolled revision 3 back, and ECS no longer lists the failed
    deployment in DescribeServices: a controller started afresh finds the rollback in the
    deployments API and does not deploy 3 again."""
    ecs = world(aws, bad=[3], circuit_breaker=(True, True), timing=Timing(fail=0.3, forget=0.5))
    engine, desired = service.engine(backend=3)
    (result,) = engine.apply(engine.snapshot(desired).plan)
    assert result.outcome is Outcome.FAILED and result.held, result.error
    eventually(
        lambda: ecs.deployments(CLUSTER, SERVICE)[-1].status == "ROLLBACK_SUCCESSFUL",
        timeout=10,
        what="the rollback",
    )
    eventually(
        lambda: len(listed_deployments(aws)) == 1, timeout=10, what="ECS to forget the failure"
    )
    updates = aws.proxy.seen("UpdateService")
    restarted = Engine(engine.config)
    (action,) = restarted.snapshot(desired).plan.actions
    assert action.held and action.blocked is not None
    assert "ECS rolled leh-backend:3 back by itself" in action.blocked
    assert CIRCUIT_BREAKER_REASON in action.blocked
    (again,) = restarted.apply(restarted.snapshot(desired).plan)
    assert again.outcome is Outcome.BLOCKED
    assert aws.proxy.seen("UpdateService") == updates


def test_a_gate_that_fails_while_blue_green_bakes_reverts_by_ecs_rollback(
    service: Service, aws: Aws, tmp_path: Path
) -> None:
    """The rollback to 3 is judged while ECS still bakes it (blue, revision 4, still up): its
    alarm fires, and the revert to 4 (whose checks passed just before the change) is ECS's
    own rollback, a traffic flip, not a new deployment."""
    health_alarm(aws)
    timing = Timing(start=0.3, drain=0.3, shift=0.3, minute=30.0)
    ecs = world(aws, strategy="BLUE_GREEN", bake_minutes=1, timing=timing)
    config = config_copy(
        tmp_path,
        {
            "    timeout: 15m\n": "    timeout: 15m\n    health: {cloudwatchAlarms: [leh-backend-5xx], "
            "bakeTime: 20s, onFailure: revert}\n"
        },
    )
    engine, desired = service.engine(config, backend=3)
    plan = engine.snapshot(desired).plan

    def the_alarm_fires_in_the_bake() -> None:
        eventually(lambda: stage_reached(ecs, "BAKE_TIME"), timeout=20, what="BAKE_TIME")
        aws.client("cloudwatch").set_alarm_state(  # type: ignore[attr-defined]
            AlarmName="leh-backend-5xx", StateValue="ALARM", StateReason="5xx"
        )

    alarm = threading.Thread(target=the_alarm_fires_in_the_bake)
    alarm.start()
    started = time.monotonic()
    (result,) = engine.apply(plan)
    took = time.monotonic() - started
    alarm.join()
    assert result.detail.get("reverted") == "yes" and result.live_after == "4", result.error
    assert aws.proxy.seen("UpdateService") == 1  # the rollback to 3 only
    assert aws.proxy.seen("StopServiceDeployment") == 1
    assert ecs.deployments(CLUSTER, SERVICE)[-1].status == "ROLLBACK_SUCCESSFUL"
    assert took < 20, took  # not the 30 s bake, nor a new deployment after it
