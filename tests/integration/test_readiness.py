"""Rollback readiness (DESIGN section 11): `pinback versions` checks every version older than
the live one as a rollback to it would be checked now, so what a lifecycle rule deleted or
a destructive migration blocks is found before the incident that needs it."""

from __future__ import annotations

import json

from tests.stands.service import REVISIONS, Aws, Service, pinback


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
