"""Rollback readiness (DESIGN section 11): `pinback versions` checks every version older than
the live one as a rollback to it would be checked now, so what a lifecycle rule deleted or
a destructive migration blocks is found before the incident that needs it."""

from __future__ import annotations

import json

from tests.stands.service import COMMITS, REVISIONS, TAGS, Aws, Service, pinback


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
