"""The ECS driver against moto server, through the fault proxy."""

from __future__ import annotations

from pathlib import Path

from daemon.core.model import Outcome
from daemon.engine.engine import Engine
from daemon.spec import load_config
from tests.stands.aws_behaviours import CIRCUIT_BREAKER_REASON, circuit_breaker_rollback
from tests.stands.service import (
    REVISIONS,
    Aws,
    Recorder,
    Service,
    config_copy,
)


def test_rollback_updates_the_service_and_waits_for_the_rollout(service: Service, aws: Aws) -> None:
    """Pinning revision 3 moves the service there with a forced new deployment, then verifies."""
    engine, desired = service.engine(backend=3)
    snapshot = engine.snapshot(desired)
    (action,) = snapshot.plan.actions
    assert (action.from_version, action.to_version, action.direction.value) == ("4", "3", "back")
    progress = Recorder()
    (result,) = engine.apply(snapshot.plan, progress)
    assert result.outcome is Outcome.APPLIED and result.live_after == "3"
    live = aws.client("ecs").describe_services(cluster="leh-cluster", services=["leh-backend"])  # type: ignore[attr-defined]
    assert live["services"][0]["taskDefinition"].endswith("leh-backend:3")
    assert aws.proxy.seen("UpdateService") == 1
    assert any("COMPLETED" in line for line in progress.of("backend"))


def test_missing_revision_is_refused_before_any_change(service: Service, aws: Aws) -> None:
    """A revision that was never registered is blocked with a sentence naming it; nothing changes."""
    engine, desired = service.engine(backend=9)
    (action,) = engine.snapshot(desired).plan.actions
    assert action.blocked == "task definition leh-backend:9 does not exist"
    (result,) = engine.apply(engine.snapshot(desired).plan)
    assert result.outcome is Outcome.BLOCKED
    assert aws.proxy.seen("UpdateService") == 0


def test_deregistered_revision_is_refused(service: Service, aws: Aws) -> None:
    """AWS will not deploy an INACTIVE revision, so preflight refuses it first."""
    aws.client("ecs").deregister_task_definition(taskDefinition="leh-backend:2")  # type: ignore[attr-defined]
    engine, desired = service.engine(backend=2)
    (action,) = engine.snapshot(desired).plan.actions
    assert action.blocked is not None and "INACTIVE" in action.blocked


def test_failed_deployment_is_a_failure_with_the_reason(service: Service, aws: Aws) -> None:
    """A rollout AWS marks FAILED fails the target with rolloutStateReason."""
    engine, desired = service.engine(backend=3)
    plan = engine.snapshot(desired).plan
    aws.proxy.add(
        "DescribeServices",
        "rewrite",
        count=-1,
        set={
            "services.*.deployments.*.rolloutState": "FAILED",
            "services.*.deployments.*.rolloutStateReason": "ECS deployment circuit breaker: tasks failed to start.",
        },
    )
    (result,) = engine.apply(plan)
    assert result.outcome is Outcome.FAILED
    assert (
        result.error
        == "ECS deployment failed: ECS deployment circuit breaker: tasks failed to start."
    )


def test_rollout_in_progress_is_waited_on_with_progress(service: Service, aws: Aws) -> None:
    """The wait reports IN_PROGRESS, keeps polling, and succeeds once the rollout completes."""
    engine, desired = service.engine(backend=3)
    plan = engine.snapshot(desired).plan
    aws.proxy.add(
        "DescribeServices",
        "rewrite",
        count=3,
        set={"services.*.deployments.*.rolloutState": "IN_PROGRESS"},
    )
    progress = Recorder()
    (result,) = engine.apply(plan, progress)
    assert result.outcome is Outcome.APPLIED
    lines = progress.of("backend")
    first_wait = next(i for i, line in enumerate(lines) if "IN_PROGRESS" in line)
    assert any("COMPLETED" in line for line in lines[first_wait:])


def test_rollout_that_never_finishes_times_out(service: Service, aws: Aws, tmp_path: Path) -> None:
    """The wait gives up at the target's timeout and says what it last saw."""
    config = config_copy(tmp_path, {"timeout: 15m": "timeout: 1s"})
    engine, desired = service.engine(config, backend=3)
    plan = engine.snapshot(desired).plan
    aws.proxy.add(
        "DescribeServices",
        "rewrite",
        count=-1,
        set={"services.*.deployments.*.rolloutState": "IN_PROGRESS"},
    )
    (result,) = engine.apply(plan)
    assert result.outcome is Outcome.FAILED
    assert (
        result.error is not None
        and "did not finish in time" in result.error
        and "IN_PROGRESS" in result.error
    )


def test_observe_batches_ten_services_a_call(aws: Aws, tmp_path: Path) -> None:
    """25 services in one cluster are read with 3 describe_services calls (AWS allows 10 a call)."""
    ecs = aws.client("ecs")
    ecs.create_cluster(clusterName="fleet")  # type: ignore[attr-defined]
    ecs.register_task_definition(
        family="svc", containerDefinitions=[{"name": "a", "image": "a", "memory": 64}]
    )  # type: ignore[attr-defined]
    targets = ""
    for index in range(25):
        ecs.create_service(
            cluster="fleet", serviceName=f"svc-{index}", taskDefinition="svc:1", desiredCount=1
        )  # type: ignore[attr-defined]
        targets += f"  svc-{index}: {{kind: ecs, cluster: fleet, service: svc-{index}}}\n"
    path = tmp_path / "fleet.yaml"
    path.write_text(
        f"apiVersion: pinback/v1\nkind: Config\naws: {{region: ap-northeast-2}}\ntargets:\n{targets}"
    )
    engine = Engine(load_config(path))
    aws.proxy.clear()
    observed = engine.observe(list(engine.config.model.targets))
    assert {o.live for o in observed.values()} == {"1"}
    assert aws.proxy.seen("DescribeServices") == 3


def test_missing_service_is_reported_not_crashed(service: Service, aws: Aws) -> None:
    """A service that does not exist is an observation error for that target alone."""
    aws.client("ecs").delete_service(cluster="leh-cluster", service="leh-backend", force=True)  # type: ignore[attr-defined]
    engine, desired = service.engine(backend=3, ai_worker="v1.8.2")
    plan = engine.snapshot(desired).plan
    assert "not found" in plan.unobserved["backend"]
    assert [a.target for a in plan.actions] == ["ai-worker"]


def test_an_unreadable_service_during_apply_closes_the_record(
    service: Service, aws: Aws, tmp_path: Path
) -> None:
    """ECS answering 500 to DescribeServices while the driver looks up the family (ObserveFailed
    from the apply path) fails the target, and the ``apply_started`` record gets its outcome."""
    from daemon.adapters.audit import AuditLog

    engine, desired = service.engine(backend=3)
    (action,) = engine.snapshot(desired).plan.actions
    audit = AuditLog(f"sqlite:///{tmp_path / 'trail.db'}")
    fresh = Engine(engine.config, audit=audit)  # a driver that has not seen the service yet
    aws.proxy.add("DescribeServices", "error500", count=-1)
    result = fresh.apply_one(action)
    assert result.outcome is Outcome.FAILED
    assert "task-definition family" in (result.error or "")
    assert audit.open_starts() == {}
    assert sorted(r.event for r in audit.query(limit=10)) == ["apply_failed", "apply_started"]
    assert aws.proxy.seen("UpdateService") == 0


def test_a_deployment_ecs_rolls_back_itself_is_held_not_fought(service: Service, aws: Aws) -> None:
    """The deployment circuit breaker undoes the move to revision 3 (the service is back on 4,
    the failed deployment FAILED with AWS's reason): held with that reason, not a failure to
    retry; the plan then refuses the same pin while ECS shows the rollback.

    https://docs.aws.amazon.com/AmazonECS/latest/developerguide/deployment-circuit-breaker.html
    """
    engine, desired = service.engine(backend=3)
    plan = engine.snapshot(desired).plan
    circuit_breaker_rollback(aws.proxy, "leh-backend", failed=3, back_to=4)
    (result,) = engine.apply(plan)
    assert result.outcome is Outcome.FAILED and result.held
    assert result.error == (
        "ECS rolled the deployment of revision 3 back to revision 4 by itself: "
        + CIRCUIT_BREAKER_REASON
    )
    (again,) = engine.snapshot(desired).plan.actions
    assert again.blocked is not None and "ECS rolled leh-backend:3 back by itself" in again.blocked
    assert aws.proxy.seen("UpdateService") == 1


def test_a_revision_whose_image_ecr_deleted_is_refused(service: Service, aws: Aws) -> None:
    """An ECR lifecycle policy deleted the image revision 3 runs: the pin is blocked at
    preflight naming the image, instead of failing mid-incident with
    CannotPullContainerError (https://docs.aws.amazon.com/AmazonECR/latest/userguide/LifecyclePolicies.html;
    ``BatchDeleteImage`` removes it in moto as a lifecycle policy does)."""
    aws.client("ecr").batch_delete_image(  # type: ignore[attr-defined]
        repositoryName="leh-backend", imageIds=[{"imageTag": "v2.1.1"}]
    )
    engine, desired = service.engine(backend=3)
    (action,) = engine.snapshot(desired).plan.actions
    assert action.blocked is not None
    assert "leh-backend:v2.1.1" in action.blocked and "no longer in ECR" in action.blocked
    engine, desired = service.engine(backend=2)  # its image is still there
    (action,) = engine.snapshot(desired).plan.actions
    assert action.blocked is None


def test_a_database_downgrade_waits_on_a_failed_service_rollback_and_is_blocked(
    service: Service, aws: Aws
) -> None:
    """On the way back the services go first and the database last; when ECS refuses the
    backend's rollback, the schema is not downgraded under code that still needs it."""
    engine, desired = service.engine(backend=3, database=REVISIONS[-2])
    plan = engine.snapshot(desired).plan
    assert [a.target for a in plan.actions] == ["backend", "database"]
    aws.proxy.add(
        "UpdateService",
        "answer",
        count=-1,
        error="AccessDeniedException",
        message="User is not authorized to perform: ecs:UpdateService",
    )
    backend, database = engine.apply(plan)
    assert backend.outcome is Outcome.FAILED
    assert database.outcome is Outcome.BLOCKED
    assert database.error == "waits on backend, which did not apply"
    assert database.live_after == REVISIONS[-1]
