"""Rollback readiness (DESIGN section 11): `pinback versions` checks every version older than
the live one as a rollback to it would be checked now, so what a lifecycle rule deleted or
a destructive migration blocks is found before the incident that needs it."""

from __future__ import annotations

import json
import time

from daemon.adapters.audit import trail_for
from daemon.controller.readiness import ready_steps
from daemon.devtools import sandbox
from daemon.spec import load_config
from tests.stands.service import COMMITS, REVISIONS, TAGS, Aws, Service, pinback
from tests.stands.waiting import eventually


def versions(target: str) -> dict[str, dict[str, object]]:
    done = pinback("versions", target, "-o", "json")
    assert done.returncode == 0, done.stderr
    return {str(v["version"]): v for v in json.loads(done.stdout)["versions"]}


def test_a_revision_whose_image_a_lifecycle_rule_deleted_is_not_ready(
    service: Service, aws: Aws
) -> None:
    """An ECR lifecycle policy expired v2.1.0, which revision 2 runs: revision 2 is listed as
    not ready, naming the image; 3 and 1 are ready; the live 4 is not checked."""
    ecr = aws.client("ecr")
    ecr.batch_delete_image(repositoryName="leh-backend", imageIds=[{"imageTag": "v2.1.0"}])  # type: ignore[attr-defined]
    found = versions("backend")
    assert "ready" not in found["4"] and found["4"]["live"] is True
    assert (found["3"]["ready"], found["1"]["ready"]) == (True, True)
    assert found["2"]["ready"] is False
    assert "leh-backend:v2.1.0" in str(found["2"]["why"])
    text = pinback("versions", "backend").stdout
    line = next(row for row in text.splitlines() if row.strip().startswith("2 "))
    assert "NOT READY: " in line and "v2.1.0" in line
    assert aws.proxy.mutating_since(0) == []  # checking changed nothing


def test_a_destructive_downgrade_is_not_ready_and_says_what_it_drops(service: Service) -> None:
    """Going back past the migration that created analysis_jobs drops that table: those
    revisions say so (a rollback to them needs allowDestructive); the one before is ready."""
    found = versions("database")
    newest, previous, destructive = REVISIONS[-1], REVISIONS[-2], REVISIONS[-3]
    assert found[newest]["live"] is True and "ready" not in found[newest]
    assert found[previous]["ready"] is True and found[previous]["why"] is None
    assert found[destructive]["ready"] is False
    why = str(found[destructive]["why"])
    assert why.startswith("destructive (") and "drops table analysis_jobs" in why


def test_a_build_whose_artifacts_were_deleted_stays_listed_as_not_ready(
    service: Service, aws: Aws
) -> None:
    """An S3 lifecycle rule deleted the artifacts of the build deployed before the live one:
    it is still listed (the deploy history of index.html remembers it), not ready, and says
    why; the build before it is ready."""
    s3 = aws.client("s3")
    previous, before = COMMITS[-2], COMMITS[-3]
    listed = s3.list_objects_v2(Bucket="leh-frontend-artifacts", Prefix=f"builds/{previous}/")  # type: ignore[attr-defined]
    for item in listed["Contents"]:
        s3.delete_object(Bucket="leh-frontend-artifacts", Key=item["Key"])  # type: ignore[attr-defined]
    found = versions("frontend")
    assert found[COMMITS[-1]]["live"] is True
    assert found[previous]["ready"] is False and found[before]["ready"] is True
    assert str(found[previous]["why"]).startswith(f"no build artifacts for commit {previous}")
    assert list(found)[:2] == [COMMITS[-1], previous]  # newest deploy first


def test_a_plan_after_a_readiness_check_reads_the_revision_again(
    service: Service, aws: Aws
) -> None:
    """The readiness check trusts its own listing of ACTIVE revisions for a few seconds while
    it checks them; a real rollback's preflight must not: revision 3, deregistered just
    after a check found it ready, is refused by the next plan, not applied."""
    engine, desired = service.engine(
        frontend=COMMITS[-1][:7], backend=3, ai_worker=TAGS[-1], database=REVISIONS[-1]
    )
    (checked,) = engine.readiness(["backend"], 3).values()
    assert not isinstance(checked, Exception)
    assert {v.version: v.ready for v in checked}["3"] is True
    aws.client("ecs").deregister_task_definition(taskDefinition="leh-backend:3")  # type: ignore[attr-defined]
    (action,) = engine.snapshot(desired).plan.actions
    assert action.target == "backend" and action.blocked is not None
    assert "deregistered" in action.blocked


def applied(service: Service, **versions: object) -> None:
    done = pinback("apply", "--yes", "--state", str(service.pins(**versions)))
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_deregistered_revision_that_ran_before_is_the_step_back_and_not_ready(
    service: Service, aws: Aws
) -> None:
    """Revision 3 ran before the live 4 (the audit trail says so); someone deregistered it.
    ECS lists only ACTIVE revisions, so without the trail 3 would vanish and 2 pass for the
    step back: 3 is listed, not ready, saying why, and `rollback --steps 1` refuses to pin
    it rather than write a pin the controller would only block."""
    applied(service, backend=3)
    applied(service, backend=4)
    aws.client("ecs").deregister_task_definition(taskDefinition="leh-backend:3")  # type: ignore[attr-defined]
    found = versions("backend")
    assert list(found)[:3] == ["4", "3", "2"]
    assert found["3"]["ready"] is False and "deregistered" in str(found["3"]["why"])
    assert found["2"]["ready"] is True
    pins = service.pins(backend=4)
    before = pins.read_text()
    refused = pinback("rollback", "backend", "--steps", "1", "--state", str(pins))
    assert refused.returncode != 0
    assert "backend 3 cannot be deployed" in refused.stderr and "--steps" in refused.stderr
    assert pins.read_text() == before
    done = pinback("rollback", "backend", "--steps", "2", "--state", str(pins))
    assert done.returncode == 0, done.stderr
    assert "revision: 2" in pins.read_text()


def test_an_expired_tag_of_the_previous_release_is_the_step_back_and_not_ready(
    service: Service, aws: Aws
) -> None:
    """v1.9.0 ran, then the newly pushed v2.0.0 was released; an ECR lifecycle rule expired
    v1.9.0's tag. ECR lists only the tags that exist, so without the trail the step back
    would be v1.8.2, skipping the release v2.0.0 replaced: v1.9.0 is listed between them,
    not ready, and the readiness check counts zero steps."""
    # ECR keeps push times to the second: each step below is in a second of its own, as
    # releases are, so the order of pushes and releases is what the test says it is.
    past_the_second(time.time())  # after the seed's pushes
    applied(service, ai_worker=TAGS[-2])  # the trail sees v1.9.0 live (and back to it)
    applied(service, ai_worker=TAGS[-1])
    past_the_second(time.time())
    aws.client("ecr").put_image(  # type: ignore[attr-defined]
        repositoryName="leh-ai-worker",
        imageManifest=sandbox.image_manifest("leh-ai-worker:v2.0.0"),
        imageTag="v2.0.0",
    )
    applied(service, ai_worker="v2.0.0")
    aws.client("ecr").batch_delete_image(  # type: ignore[attr-defined]
        repositoryName="leh-ai-worker", imageIds=[{"imageTag": TAGS[-1]}]
    )
    found = versions("ai-worker")
    assert list(found)[:3] == ["v2.0.0", TAGS[-1], TAGS[-2]]
    assert found[TAGS[-1]]["ready"] is False and found[TAGS[-2]]["ready"] is True
    assert TAGS[-1] in str(found[TAGS[-1]]["why"])
    engine, _ = service.engine(audit=trail_for(load_config(service.config)), ai_worker="v2.0.0")
    (older,) = engine.readiness(["ai-worker"], 3).values()
    assert not isinstance(older, Exception)
    assert ready_steps(older)[0] == 0


def past_the_second(moment: float) -> None:
    """Wait until the clock has left ``moment``'s second."""
    eventually(lambda: int(time.time()) > int(moment), timeout=5, what="the next second")
