"""Rollbacks to images in ECR as it is shared and kept: a registry pinback may not describe
(a warning, not a block) and the archive storage class (not pullable: blocked, naming the
call that restores it)."""

from __future__ import annotations

from daemon.core.model import Outcome
from tests.stands.realistic.ecr import EcrWorld
from tests.stands.service import Aws, Service


def ecr(aws: Aws) -> EcrWorld:
    world = aws.proxy.add_world(EcrWorld())
    assert isinstance(world, EcrWorld)
    return world


def test_an_ecs_revision_whose_images_may_not_be_described_is_a_warning(
    service: Service, aws: Aws
) -> None:
    """The backend's images live in a registry whose policy grants pulls only: the check of
    revision 3's image is refused (AccessDeniedException). The rollback is not blocked; the
    plan says the image was not verified, and the rollback is applied."""
    aws.proxy.add(
        "DescribeImages",
        "answer",
        count=-1,
        error="AccessDeniedException",
        message="User is not authorized to perform: ecr:DescribeImages",
    )
    engine, desired = service.engine(backend=3)
    (action,) = engine.snapshot(desired).plan.actions
    assert action.blocked is None
    assert any("could not be checked in ECR" in note for note in action.notes), action.notes
    (result,) = engine.apply(engine.snapshot(desired).plan)
    assert result.outcome is Outcome.APPLIED and result.live_after == "3", result.error


def test_an_ecs_revision_whose_image_is_archived_is_blocked(service: Service, aws: Aws) -> None:
    """Revision 3 runs leh-backend:v2.1.1, moved to ECR's archive: the pin is blocked naming
    UpdateImageStorageClass, not 'deleted by a lifecycle policy'."""
    ecr(aws).archive("leh-backend", "v2.1.1")
    engine, desired = service.engine(backend=3)
    (action,) = engine.snapshot(desired).plan.actions
    assert action.blocked is not None
    assert "archived in ECR (imageStatus ARCHIVED)" in action.blocked
    assert "UpdateImageStorageClass" in action.blocked
    assert aws.proxy.seen("UpdateService") == 0


def test_a_lambda_tag_whose_image_is_archived_is_blocked(service: Service, aws: Aws) -> None:
    ecr(aws).archive("leh-ai-worker", "v1.8.0")
    engine, desired = service.engine(ai_worker="v1.8.0")
    (action,) = engine.snapshot(desired).plan.actions
    assert action.blocked is not None
    assert action.blocked.startswith("tag v1.8.0 is archived in ECR (imageStatus ARCHIVED)")


def test_an_archived_version_is_not_ready(service: Service, aws: Aws) -> None:
    """The readiness check (pinback versions) says an archived step back cannot be taken."""
    ecr(aws).archive("leh-backend", "v2.1.1")
    engine, _ = service.engine(backend=4)
    listed = {v.version: v for v in engine.versions("backend", 10, checked=2)}
    assert listed["3"].ready is False and "ARCHIVED" in (listed["3"].why or "")
